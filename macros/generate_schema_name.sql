{#- Layers get plain schema names (staging, intermediate, marts, ml) so analysts and BI tools see
    `marts.fct_channel_performance`, not `main_marts.fct_channel_performance`. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
