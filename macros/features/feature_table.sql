{#-
    ml_<use case>_features: one row per prepared row (labelled: train / test; new: score) - the
    model-ready, leak-free features of a use case, and nothing else the model may read:
      - entity_key, the grain's id columns, split, cv_fold and the target (not features);
      - the declared feature columns as prepared (capped columns under <column>_capped), with
        the imputation and outlier flags;
      - the declared segments (bands), derived features (SQL over the prepared columns),
        aggregates (statistics of a group over TRAINING rows: mean of a column, or the group's
        share of training rows) and out-of-fold target encodings (a training row sees only the
        other folds' training rows, test and score rows see every training row; smoothed towards
        the training rate with `smoothing` pseudo-rows) - the one declared use of the target.
    The leakage guard traces every column of this table (config meta leakage_guard: features).
-#}
{% macro feature_table(use_case_name) -%}
    {{- config(
        enabled=use_case_name in leakproof_use_cases(),
        materialized='table',
        meta={'leakage_guard': 'features', 'use_case': use_case_name},
    ) }}
    {%- set use_case = leakproof_use_case(use_case_name) if execute else none -%}
    {%- if execute -%}
        {%- set target = use_case.target -%}
        {%- set aggregates = use_case.aggregates -%}
        {%- set encodings = use_case.target_encodings -%}
        {%- set groups = (aggregates.values() | map(attribute='by') | list)
            + (encodings.values() | map(attribute='by') | list) -%}
    {%- else -%}
        {%- set target, aggregates, encodings, groups = 'null', {}, {}, [] -%}
    {%- endif %}
with

prepared as (

    select * from {{ ref('int_' ~ use_case_name ~ '__prepared') }}

),

training_rows as (

    select * from prepared
    where split = 'train'

),

training_overall as (

    select
        count(*) as training_rows,
        avg({{ target }}) as training_rate
    from training_rows

),
{%- for group in groups | unique %}

training_by_{{ group }} as (

    select
        {{ group }},
        count(*) as group_rows,
        sum({{ target }}) as group_positives
        {%- for name, rule in aggregates.items() if rule.by == group and rule.statistic == 'mean' %},
        -- summed with fsum (compensated) and rounded: a plain avg of doubles depends on the
        -- order the threads add them, and a 1e-12 wobble can move a tree split
        round({{ leakproof_exact_sum(rule.of) }} / count({{ rule.of }}), 6) as {{ name }}
        {%- endfor %}
    from training_rows
    group by {{ group }}

),

training_by_{{ group }}_and_fold as (

    select
        {{ group }},
        cv_fold,
        count(*) as fold_rows,
        sum({{ target }}) as fold_positives
    from training_rows
    group by {{ group }}, cv_fold

),
{%- endfor %}

joined as (

    select
        prepared.*
        {%- for group in groups | unique %},
        training_by_{{ group }}.group_rows as {{ group }}__group_rows,
        coalesce(training_by_{{ group }}.group_positives, 0) as {{ group }}__group_positives,
        coalesce(training_by_{{ group }}_and_fold.fold_rows, 0) as {{ group }}__fold_rows,
        coalesce(training_by_{{ group }}_and_fold.fold_positives, 0) as {{ group }}__fold_positives
        {%- for name, rule in aggregates.items() if rule.by == group and rule.statistic == 'mean' %},
        training_by_{{ group }}.{{ name }}
        {%- endfor %}
        {%- endfor %},
        training_overall.training_rows,
        training_overall.training_rate
    from prepared
    cross join training_overall
    {%- for group in groups | unique %}
    left join training_by_{{ group }}
        on prepared.{{ group }} = training_by_{{ group }}.{{ group }}
    left join training_by_{{ group }}_and_fold
        on
            prepared.{{ group }} = training_by_{{ group }}_and_fold.{{ group }}
            and prepared.cv_fold = training_by_{{ group }}_and_fold.cv_fold
    {%- endfor %}

),

final as (

    select
        {%- for item in leakproof_feature_select(use_case) %}
        {{ item }}{{ "," if not loop.last }}
        {%- endfor %}
    from joined

)

select * from final
{%- endmacro %}



{#- The select list of a feature table, in order: identity, split and target (not features), the
    declared feature columns as prepared with their flags, segments, derived features, aggregates,
    out-of-fold target encodings. -#}
{% macro leakproof_feature_select(use_case) -%}
    {%- if not execute -%}{{ return(['entity_key']) }}{%- endif -%}
    {%- set items = ['entity_key'] -%}
    {%- for column in use_case.id_columns %}{% do items.append(column) %}{% endfor -%}
    {%- do items.extend(['split', 'cv_fold', use_case.target]) -%}
    {%- for column in use_case.columns if column.role in ['feature', 'treatment', 'segment', 'spend'] -%}
        {%- set outlier = use_case.outliers.get(column.column) -%}
        {%- if outlier is not none -%}
            {%- do items.append(column.column ~ '_capped') -%}
            {%- if outlier.get('iqr_multiplier') is not none %}{% do items.append('is_' ~ column.column ~ '_iqr_outlier') %}{% endif -%}
            {%- if outlier.get('cap') is not none %}{% do items.append('is_' ~ column.column ~ '_above_domain_cap') %}{% endif -%}
        {%- else -%}
            {%- do items.append(column.column) -%}
        {%- endif -%}
        {%- if column.column in use_case.impute %}{% do items.append('is_' ~ column.column ~ '_imputed') %}{% endif -%}
    {%- endfor -%}
    {%- for segment in use_case.segments %}{% do items.append(segment) %}{% endfor -%}
    {%- for name, sql in use_case.derived.items() %}{% do items.append(sql ~ ' as ' ~ name) %}{% endfor -%}
    {%- for name, rule in use_case.aggregates.items() -%}
        {%- if rule.statistic == 'share' -%}
            {%- do items.append(rule.by ~ '__group_rows * 1.0 / training_rows as ' ~ name) -%}
        {%- else -%}
            {%- do items.append(name) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for name, rule in use_case.target_encodings.items() -%}
        {%- do items.append(
            '(' ~ rule.by ~ '__group_positives - ' ~ rule.by ~ '__fold_positives + '
            ~ rule.smoothing ~ ' * training_rate) / (coalesce(' ~ rule.by ~ '__group_rows, 0) - '
            ~ rule.by ~ '__fold_rows + ' ~ rule.smoothing ~ ') as ' ~ name) -%}
    {%- endfor -%}
    {{ return(items) }}
{%- endmacro %}
