{#- `value` as a SQL text literal (quotes doubled); a list is joined with `separator` first. -#}
{% macro leakproof_text(value, separator=', ') -%}
    {%- set text = value | join(separator) if value is iterable and value is not string else value -%}
    '{{ (text if text is not none else '') | string | replace("'", "''") }}'
{%- endmacro %}
