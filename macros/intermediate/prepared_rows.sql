{#-
    int_<use case>__prepared: one row per staged row with its split and CV fold
    (int_<use case>__split), and the declaration's training-fitted cleaning (every statistic from
    TRAINING rows only, so test and scoring rows never inform their own preparation):
      - impute: a missing value filled with the training median of its group, falling back
        through the declared groups to every training row (is_<column>_imputed);
      - outliers: is_<column>_iqr_outlier (training Tukey fences) and, with a cap,
        is_<column>_above_domain_cap and <column>_capped (never dropped);
      - segments: the declared bands of a numeric column.
-#}
{% macro prepared_rows(use_case_name) -%}
    {{- leakproof_use_case_model(use_case_name, 'table') }}
    {%- set use_case = leakproof_use_case(use_case_name) if execute else none -%}
    {%- if execute -%}
        {%- set columns = use_case.columns | map(attribute='column') | list -%}
    {%- else -%}
        {%- set columns = [] -%}
    {%- endif %}
with

staged as (

    select * from {{ ref('stg_' ~ use_case_name ~ '__rows') }}

),

splits as (

    select * from {{ ref('int_' ~ use_case_name ~ '__split') }}

),

folded as (

    select
        staged.*,
        splits.split,
        splits.cv_fold
    from staged
    inner join splits
        on
            staged.source_file = splits.source_file
            and staged.entity_key = splits.entity_key

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
