{#-
    Exact types for raw text (staging): a value is its contract type exactly or NULL (and then
    quarantined as unparseable), never coerced. An integer is an optional sign and digits ("0.6"
    and "34.7" are not integers, "1,000" and "0x1F" are not numbers); a double is a decimal or
    scientific number that is finite ("NaN", "inf" and "1e400" are not); a declared decimal comma
    is read as the decimal point. Booleans: true / false / t / f / yes / no / 1 / 0; dates ISO
    (YYYY-MM-DD).
-#}
{% macro leakproof_exact_value(raw, data_type, decimal='.') -%}
    {{ return(adapter.dispatch('exact_value', 'leakproof')(raw, data_type, decimal)) }}
{%- endmacro %}

{% macro default__exact_value(raw, data_type, decimal='.') -%}
    {%- set text = "replace(" ~ raw ~ ", ',', '.')" if decimal == ',' else raw -%}
    {%- if data_type in ['integer', 'bigint'] -%}
        case when regexp_full_match({{ raw }}, '[+-]?[0-9]+') then try_cast({{ raw }} as {{ data_type }}) end
    {%- elif data_type == 'double' -%}
        case
            when regexp_full_match({{ text }}, '[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]+)?')
                and isfinite(try_cast({{ text }} as double))
                then try_cast({{ text }} as double)
        end
    {%- elif data_type == 'boolean' -%}
        case
            when lower({{ raw }}) in ('true', 't', 'yes', 'y', '1') then true
            when lower({{ raw }}) in ('false', 'f', 'no', 'n', '0') then false
        end
    {%- elif data_type == 'date' -%}
        case
            when regexp_full_match({{ raw }}, '[0-9]{4}-[0-9]{2}-[0-9]{2}') then try_cast({{ raw }} as date)
        end
    {%- elif data_type == 'timestamp' -%}
        try_cast({{ raw }} as timestamp)
    {%- else -%}
        {{ raw }}
    {%- endif -%}
{%- endmacro %}


{#- A JSON object text of `keys` (literal names) -> `expressions` (text values, NULL kept). -#}
{% macro leakproof_json_object(keys, expressions) -%}
    {{ return(adapter.dispatch('json_object', 'leakproof')(keys, expressions)) }}
{%- endmacro %}

{% macro default__json_object(keys, expressions) -%}
    cast(json_object(
        {%- for key in keys %}
        '{{ key | replace("'", "''") }}', {{ expressions[loop.index0] }}{{ "," if not loop.last }}
        {%- endfor %}
    ) as {{ leakproof_varchar() }})
{%- endmacro %}

{#- Spark: `rlike` anchored instead of regexp_full_match (values are trimmed first); a finite
    double is one within the double range (Spark casts "1e400" to Infinity). -#}
{% macro spark__exact_value(raw, data_type, decimal='.') -%}
    {%- set text = "replace(" ~ raw ~ ", ',', '.')" if decimal == ',' else raw -%}
    {%- if data_type in ['integer', 'bigint'] -%}
        case when {{ raw }} rlike '^[+-]?[0-9]+$' then try_cast({{ raw }} as {{ data_type }}) end
    {%- elif data_type == 'double' -%}
        case
            when {{ text }} rlike '^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]+)?$'
                and abs(try_cast({{ text }} as double)) <= 1.7976931348623157e308
                then try_cast({{ text }} as double)
        end
    {%- elif data_type == 'date' -%}
        case
            when {{ raw }} rlike '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' then try_cast({{ raw }} as date)
        end
    {%- else -%}
        {{ default__exact_value(raw, data_type, decimal) }}
    {%- endif -%}
{%- endmacro %}

{#- Spark: a struct as JSON, NULL values kept. -#}
{% macro spark__json_object(keys, expressions) -%}
    to_json(named_struct(
        {%- for key in keys %}
        '{{ key | replace("'", "''") }}', {{ expressions[loop.index0] }}{{ "," if not loop.last }}
        {%- endfor %}
    ), map('ignoreNullFields', 'false'))
{%- endmacro %}
