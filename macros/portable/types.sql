{#- The text type for casts: DuckDB's `varchar` (no length); Spark needs a length for varchar, so
    `string` there (dbt's own type_string() says `string` on Spark too). -#}
{% macro leakproof_varchar() -%}
    {{ return(adapter.dispatch('varchar', 'leakproof')()) }}
{%- endmacro %}

{% macro default__varchar() -%}
    {{ return('varchar') }}
{%- endmacro %}

{% macro spark__varchar() -%}
    {{ return('string') }}
{%- endmacro %}


{#- Model contracts on Spark: dbt checks a contract by casting NULL to each declared data_type;
    Spark has no `varchar` without a length, so a declared `varchar` is checked as `string` (what
    Spark reports for a text column). The yml keeps one spelling for both engines. Reached through
    the project's dispatch of the `dbt` namespace (dbt_project.yml). -#}
{% macro spark__get_empty_schema_sql(columns) -%}
    {%- set translated = {} -%}
    {%- for name in columns -%}
        {%- set column = columns[name] -%}
        {%- set data_type = column.get('data_type') -%}
        {%- if data_type is string and data_type.strip().lower() == 'varchar' -%}
            {%- set column = dict(column, data_type=leakproof_varchar()) -%}
        {%- endif -%}
        {%- do translated.update({name: column}) -%}
    {%- endfor -%}
    {{ dbt.default__get_empty_schema_sql(translated) }}
{%- endmacro %}
