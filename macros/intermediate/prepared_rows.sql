{#-
    int_<use case>__prepared: one row per staged row with its split and CV fold, and the
    declaration's training-fitted cleaning (every statistic from TRAINING rows only, so test and
    scoring rows never inform their own preparation):
      - split: stratified (by the target, seeded by the grain's hash), by time (the newest
        `test_periods` labelled periods are test), or grouped (whole entities, seeded); rows
        without a label are 'score';
      - cv_fold: 0 .. folds-1 on training rows: stratified by the target, or whole `fold_group`
        entities; shared by the model's cross-validation and the out-of-fold encodings;
      - impute: a missing value filled with the training median of its group, falling back
        through the declared groups to every training row (is_<column>_imputed);
      - outliers: is_<column>_iqr_outlier (training Tukey fences) and, with a cap,
        is_<column>_above_domain_cap and <column>_capped (never dropped);
      - segments: the declared bands of a numeric column.
-#}
{% macro prepared_rows(use_case_name) -%}
    {#- the split and the folds are stratified by the target: a declared mechanism of the leakage
        guard, proven by the test split_is_declared on every build -#}
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
        {%- set columns = use_case.columns | map(attribute='column') | list -%}
    {%- else -%}
        {%- set split, target, order_key, columns = {'method': 'stratified'}, 'null', [], [] -%}
    {%- endif %}
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

training_rows as (

    select * from folded
    where split = 'train'

),
{%- for column, groups in (use_case.impute.items() if execute else []) %}
{%- for group in groups %}

{{ column }}_fill_{{ loop.index }} as (

    select
        {{ group | join(', ') }},
        median({{ column }}) as fill_value
    from training_rows
    group by {{ group | join(', ') }}

),
{%- endfor %}

{{ column }}_fill_all as (

    select median({{ column }}) as fill_value
    from training_rows

),
{%- endfor %}
{%- for column, rule in (use_case.outliers.items() if execute else []) %}

{{ column }}_quartiles as (

    select
        {{ leakproof_quantile_cont(column, 0.25) }} as q1,
        {{ leakproof_quantile_cont(column, 0.75) }} as q3
    from training_rows

),
{%- endfor %}

final as (

    select
        folded.entity_key,
        folded.split,
        folded.cv_fold,
        folded.is_labelled,
        {%- for column in columns %}
        {%- if column in use_case.impute %}
        coalesce(
            folded.{{ column }},
            {%- for group in use_case.impute[column] %}
            {{ column }}_fill_{{ loop.index }}.fill_value,
            {%- endfor %}
            {{ column }}_fill_all.fill_value
        ) as {{ column }},
        folded.{{ column }} is null as is_{{ column }}_imputed,
        {%- else %}
        folded.{{ column }},
        {%- endif %}
        {%- if column in use_case.outliers %}
        {%- set rule = use_case.outliers[column] %}
        {%- if rule.get('iqr_multiplier') is not none %}
        folded.{{ column }} < {{ column }}_quartiles.q1
        - {{ rule.iqr_multiplier }} * ({{ column }}_quartiles.q3 - {{ column }}_quartiles.q1)
        or folded.{{ column }} > {{ column }}_quartiles.q3
        + {{ rule.iqr_multiplier }} * ({{ column }}_quartiles.q3 - {{ column }}_quartiles.q1)
            as is_{{ column }}_iqr_outlier,
        {%- endif %}
        {%- if rule.get('cap') is not none %}
        least(folded.{{ column }}, {{ rule.cap }}) as {{ column }}_capped,
        folded.{{ column }} > {{ rule.cap }} as is_{{ column }}_above_domain_cap,
        {%- else %}
        folded.{{ column }} as {{ column }}_capped,
        {%- endif %}
        {%- endif %}
        {%- endfor %}
        {%- for segment, rule in (use_case.segments.items() if execute else []) %}
        {{ band('folded.' ~ rule.column, rule.bands) }} as {{ segment }},
        {%- endfor %}
        folded.source_file,
        folded.source_row_number
    from folded
    {%- for column, groups in (use_case.impute.items() if execute else []) %}
    {%- for group in groups %}
    {%- set fill = column ~ '_fill_' ~ loop.index %}
    left join {{ fill }}
        on
            {%- for member in group %}
            {{ 'and ' if not loop.first }}folded.{{ member }} = {{ fill }}.{{ member }}
            {%- endfor %}
    {%- endfor %}
    cross join {{ column }}_fill_all
    {%- endfor %}
    {%- for column in (use_case.outliers if execute else []) %}
    cross join {{ column }}_quartiles
    {%- endfor %}

)

select * from final
{%- endmacro %}
