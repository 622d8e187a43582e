{#- Dialect-specific functions the analytics marts need, behind adapter.dispatch (house style), so
    the SQL layer can move to another engine by adding a <adapter>__ implementation. -#}

{#- Continuous (linearly interpolated) quantile of `expression` at fraction `fraction`, as an
    aggregate; the same definition as numpy's / pandas' default quantile. -#}
{% macro leakproof_quantile_cont(expression, fraction) -%}
    {{ return(adapter.dispatch('quantile_cont', 'leakproof')(expression, fraction)) }}
{%- endmacro %}

{% macro default__quantile_cont(expression, fraction) -%}
    percentile_cont({{ fraction }}) within group (order by {{ expression }})
{%- endmacro %}

{% macro duckdb__quantile_cont(expression, fraction) -%}
    quantile_cont({{ expression }}, {{ fraction }})
{%- endmacro %}


{#- A select-list expression that expands each row into `count` rows numbered 0 .. count - 1
    (a set-returning function); a NULL or non-positive count yields no rows. -#}
{% macro leakproof_integer_series(count) -%}
    {{ return(adapter.dispatch('integer_series', 'leakproof')(count)) }}
{%- endmacro %}

{% macro default__integer_series(count) -%}
    generate_series(0, cast({{ count }} as bigint) - 1)
{%- endmacro %}

{% macro duckdb__integer_series(count) -%}
    unnest(range(cast(coalesce({{ count }}, 0) as bigint)))
{%- endmacro %}


{#- Natural log of the gamma function. -#}
{% macro leakproof_log_gamma(expression) -%}
    {{ return(adapter.dispatch('log_gamma', 'leakproof')(expression)) }}
{%- endmacro %}

{% macro default__log_gamma(expression) -%}
    lgamma({{ expression }})
{%- endmacro %}


{#- A number as text with thousands separators and `decimals` decimals (for generated sentences). -#}
{% macro leakproof_format_number(expression, decimals=0) -%}
    {{ return(adapter.dispatch('format_number', 'leakproof')(expression, decimals)) }}
{%- endmacro %}

{% macro default__format_number(expression, decimals=0) -%}
    cast(round(cast({{ expression }} as numeric), {{ decimals }}) as varchar)
{%- endmacro %}

{% macro duckdb__format_number(expression, decimals=0) -%}
    format('{:,.{{ decimals }}f}', cast({{ expression }} as double))
{%- endmacro %}
