{#- A deterministic 64-bit hash of an expression and a salt, for seeded, reproducible row ordering
    (splits, folds). DuckDB's hash() is stable for a given DuckDB version. -#}
{% macro leakproof_stable_hash(expression, salt) -%}
    {{ return(adapter.dispatch('stable_hash', 'leakproof')(expression, salt)) }}
{%- endmacro %}

{% macro default__stable_hash(expression, salt) -%}
    md5(cast({{ expression }} as varchar) || '|' || '{{ salt }}')
{%- endmacro %}

{% macro duckdb__stable_hash(expression, salt) -%}
    hash({{ expression }}, '{{ salt }}')
{%- endmacro %}
