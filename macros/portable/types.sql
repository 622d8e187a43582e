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
