{#-
    stg_<use case>__rows: one row per usable raw row (validation passed) of the use case, typed and
    snake_case, with its unknown-category flags, where it came from (source_file,
    source_row_number, duplicate_count), its entity_key (the grain as text: the id columns joined
    by '/', or the file and row number when no grain is declared) and whether it is labelled (a
    target value in the labelled file; the rest are scored).
-#}
{% macro staged_rows(use_case_name) -%}
    {{- leakproof_use_case_model(use_case_name, 'view') }}
    {%- set use_case = leakproof_use_case(use_case_name) if execute else none -%}
    {%- set columns = use_case.columns if execute else [] %}
with

validated as (

    select * from {{ ref('base_' ~ use_case_name ~ '__validated') }}

),

final as (

    select
        {{ leakproof_entity_key(use_case) }} as entity_key,
        {%- for column in columns %}
        {{ column.column }},
        {%- endfor %}
        {%- for column in columns if column.accepted_values and column.role != 'target' %}
        is_unknown_{{ column.column }},
        {%- endfor %}
        not is_scoring and {{ use_case.target if execute else 'null' }} is not null as is_labelled,
        source_file,
        source_row_number,
        duplicate_count
    from validated
    where quarantine_reasons is null

)

select * from final
{%- endmacro %}


{#- The entity key of a row as text: the grain's columns joined by '/', or, with no declared
    grain, the row number in its file (prefixed 'scoring:' for the scoring batch). -#}
{% macro leakproof_entity_key(use_case) -%}
    {%- if not execute -%}
        cast(null as {{ leakproof_varchar() }})
    {%- elif use_case.grain -%}
        {%- set parts = [] -%}
        {%- for column in use_case.grain %}{% do parts.append('cast(' ~ column ~ ' as ' ~ leakproof_varchar() ~ ')') %}{% endfor -%}
        {{ parts | join(" || '/' || ") }}
    {%- else -%}
        case when source_file = 'scoring' then 'scoring:' else '' end
        || cast(source_row_number as {{ leakproof_varchar() }})
    {%- endif -%}
{%- endmacro %}
