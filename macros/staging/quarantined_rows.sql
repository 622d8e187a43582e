{#- The quarantine of a source: every distinct raw row that failed validation, with its reasons and
    all of its original values as text, straight from the validated base model. -#}
{% macro quarantined_rows(source_name, table_name) -%}
    {%- set node = leakproof_source_node(source_name, table_name) if execute else none -%}
    {%- set columns = node.columns.values() | list if execute else [] -%}
with

validated as (

    select * from {{ ref('base_' ~ source_name ~ '__' ~ table_name ~ '_validated') }}

),

final as (

    select
        source_row_number,
        duplicate_count,
        quarantine_reason_code,
        quarantine_column,
        {%- for column in columns %}
        raw_{{ leakproof_snake_case(column.name) }},
        {%- endfor %}
        quarantine_reasons
    from validated
    where quarantine_reasons is not null

)

select * from final
{%- endmacro %}
