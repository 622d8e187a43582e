{#- A deterministic 64-bit hash of an expression and a salt, for seeded, reproducible row ordering
    (splits, folds). DuckDB's hash() is stable for a given DuckDB version. -#}
{% macro leakproof_stable_hash(expression, salt) -%}
    {{ return(adapter.dispatch('stable_hash', 'leakproof')(expression, salt)) }}
{%- endmacro %}

{% macro default__stable_hash(expression, salt) -%}
    md5(cast({{ expression }} as {{ leakproof_varchar() }}) || '|' || '{{ salt }}')
{%- endmacro %}

{% macro duckdb__stable_hash(expression, salt) -%}
    hash({{ expression }}, '{{ salt }}')
{%- endmacro %}

{#- Spark: xxhash64, deterministic across Spark versions and machines. Its order differs from
    DuckDB's hash(), so the split (and everything read from it) differs between the two engines;
    tests/python/test_spark.py compares the split-independent marts. -#}
{% macro spark__stable_hash(expression, salt) -%}
    xxhash64({{ expression }}, '{{ salt }}')
{%- endmacro %}
