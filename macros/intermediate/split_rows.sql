{#-
    int_<use case>__split: one row per staged row (source_file, entity_key) with its split and CV
    fold - the one place the target decides which rows are trained on, a declared mechanism of
    the leakage guard (proven by the test split_is_declared on every build; the permutation probe
    holds it fixed):
      - split: stratified (by the target, seeded by the grain's hash), by time (the newest
        `test_periods` labelled periods are test), or grouped (whole entities, seeded); rows
        without a label are 'score';
      - cv_fold: 0 .. folds-1 on training rows: stratified by the target, or whole `fold_group`
        entities; shared by the model's cross-validation and the out-of-fold encodings.
-#}
{% macro split_rows(use_case_name) -%}
    {{- leakproof_use_case_model(use_case_name, 'table', meta={'leakage_mechanisms': {
        'split': 'split assignment as declared (stratified by the target / by time / grouped): '
            ~ 'decides which rows are trained on, never a feature value; test split_is_declared',
        'cv_fold': 'CV fold assignment of training rows (stratified by the target or grouped): '
            ~ 'decides which rows an out-of-fold encoding reads; test split_is_declared',
    }}) }}
    {%- set use_case = leakproof_use_case(use_case_name) if execute else none -%}
    {%- if execute -%}
        {%- set split = use_case.split -%}
        {%- set target = use_case.target -%}
        {%- set order_key = use_case.grain if use_case.grain else ['source_row_number'] -%}
    {%- else -%}
        {%- set split, target, order_key = {'method': 'stratified'}, 'null', [] -%}
    {%- endif -%}
    {%- set keep = (['source_file', 'entity_key', 'is_labelled', target]
        + ([split.column] if split.column else []) + ([split.fold_group] if split.fold_group else []))
        | unique | list %}
with

staged as (

    select * from {{ ref('stg_' ~ use_case_name ~ '__rows') }}

),
{%- if split.method == 'time' %}

labelled_periods as (

    select
        {{ split.column }},
        dense_rank() over (order by {{ split.column }} desc) as recency_rank
    from staged
    where is_labelled
    group by {{ split.column }}

),

split_rows as (

    select
        staged.*,
        case
            when not staged.is_labelled then 'score'
            when labelled_periods.recency_rank <= {{ split.test_periods }} then 'test'
            else 'train'
        end as split
    from staged
    left join labelled_periods
        on staged.{{ split.column }} = labelled_periods.{{ split.column }}

),
{%- elif split.method == 'grouped' %}

groups_ranked as (

    select
        {{ split.column }},
        row_number() over (
            order by {{ leakproof_stable_hash(split.column, split.seed) }}, {{ split.column }}
        ) as group_rank,
        count(*) over () as labelled_groups
    from staged
    where is_labelled
    group by {{ split.column }}

),

split_rows as (

    select
        staged.*,
        case
            when not staged.is_labelled then 'score'
            when groups_ranked.group_rank
                <= round(groups_ranked.labelled_groups * {{ split.test_fraction }}) then 'test'
            else 'train'
        end as split
    from staged
    left join groups_ranked
        on staged.{{ split.column }} = groups_ranked.{{ split.column }}

),
{%- else %}

ranked_within_outcome as (

    select
        *,
        row_number() over (
            partition by is_labelled, {{ target }}
            order by {{ leakproof_stable_hash(order_key | join(', '), split.seed) }}, {{ order_key | join(', ') }}
        ) as rank_within_outcome,
        count(*) over (partition by is_labelled, {{ target }}) as rows_with_outcome
    from staged

),

split_rows as (

    select
        *,
        case
            when not is_labelled then 'score'
            when rank_within_outcome <= round(rows_with_outcome * {{ split.test_fraction }})
                then 'test'
            else 'train'
        end as split
    from ranked_within_outcome

),
{%- endif %}

folded as (

    -- CV folds of the training rows, seeded{{ ', whole ' ~ split.fold_group ~ ' entities' if split.fold_group else ', stratified by the target' }}
    select
        *,
        case
            when split = 'train'
                then (
                    {%- if split.fold_group %}
                    dense_rank() over (
                        partition by split
                        order by
                            {{ leakproof_stable_hash(split.fold_group, split.seed ~ 'f') }},
                            {{ split.fold_group }}
                    ) - 1
                    {%- else %}
                    row_number() over (
                        partition by split, {{ target }}
                        order by
                            {{ leakproof_stable_hash(order_key | join(', '), split.seed ~ 'f') }},
                            {{ order_key | join(', ') }}
                    ) - 1
                    {%- endif %}
                ) % {{ split.folds }}
        end as cv_fold
    from split_rows

),

final as (

    select
        {%- for column in keep %}
        {{ column }},
        {%- endfor %}
        split,
        cv_fold
    from folded

)

select * from final
{%- endmacro %}
