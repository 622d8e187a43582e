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


{#- A select-list expression that expands each row into `count` rows numbered 0 .. count - 1,
    plus `offset` when given (a set-returning function, which Spark cannot nest in an
    expression); a NULL or non-positive count yields no rows. -#}
{% macro leakproof_integer_series(count, offset=none) -%}
    {{ return(adapter.dispatch('integer_series', 'leakproof')(count, offset)) }}
{%- endmacro %}

{% macro default__integer_series(count, offset=none) -%}
    generate_series(0, cast({{ count }} as bigint) - 1)
    {%- if offset %}
        + {{ offset }}
    {%- endif %}
{%- endmacro %}

{% macro duckdb__integer_series(count, offset=none) -%}
    unnest(range(cast(coalesce({{ count }}, 0) as bigint)))
    {%- if offset %}
        + {{ offset }}
    {%- endif %}
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
    cast(round(cast({{ expression }} as numeric), {{ decimals }}) as {{ leakproof_varchar() }})
{%- endmacro %}

{% macro duckdb__format_number(expression, decimals=0) -%}
    format('{:,.{{ decimals }}f}', cast({{ expression }} as double))
{%- endmacro %}


{#- Spark spellings of the functions above: percentile() is the exact, linearly interpolated
    quantile; sequence() + explode() the integer series (slice keeps a count <= 0 empty); Spark has
    no lgamma, so ln Gamma(x) for x > 0 is Stirling's series at x + 10 (terms to x^-11, error
    < 1e-14) less ln(x (x + 1) ... (x + 9)); format_number has the thousands separators. -#}
{% macro spark__quantile_cont(expression, fraction) -%}
    percentile({{ expression }}, {{ fraction }})
{%- endmacro %}

{% macro spark__integer_series(count, offset=none) -%}
    {%- set n = 'cast(coalesce(' ~ count ~ ', 0) as bigint)' -%}
    {%- set start = 'cast(' ~ (offset or 0) ~ ' as bigint)' -%}
    explode(slice(
        sequence({{ start }}, {{ start }} + greatest({{ n }}, 1) - 1), 1, cast(greatest({{ n }}, 0) as int)
    ))
{%- endmacro %}

{% macro spark__log_gamma(expression) -%}
    {%- set x = '(cast(' ~ expression ~ ' as double) + 10.0)' -%}
    (
        ({{ x }} - 0.5) * ln({{ x }}) - {{ x }} + 0.91893853320467274178
        + 1.0 / (12.0 * {{ x }}) - 1.0 / (360.0 * power({{ x }}, 3)) + 1.0 / (1260.0 * power({{ x }}, 5))
        - 1.0 / (1680.0 * power({{ x }}, 7)) + 1.0 / (1188.0 * power({{ x }}, 9))
        - 691.0 / (360360.0 * power({{ x }}, 11))
        {%- for k in range(10) %}
        - ln(cast({{ expression }} as double) + {{ k }}.0)
        {%- endfor %}
    )
{%- endmacro %}

{% macro spark__format_number(expression, decimals=0) -%}
    format_number(cast({{ expression }} as double), {{ decimals }})
{%- endmacro %}


{#- The integer part of a double (towards zero). -#}
{% macro leakproof_truncate(expression) -%}
    {{ return(adapter.dispatch('truncate', 'leakproof')(expression)) }}
{%- endmacro %}

{% macro default__truncate(expression) -%}
    trunc({{ expression }})
{%- endmacro %}

{% macro spark__truncate(expression) -%}
    cast(case when {{ expression }} < 0 then ceil({{ expression }}) else floor({{ expression }}) end as double)
{%- endmacro %}


{#- A select-list expression that expands each row into one row per `separator`-separated part of
    a text (a set-returning function). -#}
{% macro leakproof_split_to_rows(expression, separator) -%}
    {{ return(adapter.dispatch('split_to_rows', 'leakproof')(expression, separator)) }}
{%- endmacro %}

{% macro default__split_to_rows(expression, separator) -%}
    unnest(string_split({{ expression }}, '{{ separator }}'))
{%- endmacro %}

{#- Spark's split() takes a regular expression: the separator is quoted. -#}
{% macro spark__split_to_rows(expression, separator) -%}
    explode(split({{ expression }}, '{{ modules.re.escape(separator) | replace("\\", "\\\\") }}'))
{%- endmacro %}


{#- A sum of doubles that does not depend on the order rows are added in: DuckDB's fsum
    (compensated); on Spark an exact decimal sum (18 decimals). -#}
{% macro leakproof_exact_sum(expression) -%}
    {{ return(adapter.dispatch('exact_sum', 'leakproof')(expression)) }}
{%- endmacro %}

{% macro default__exact_sum(expression) -%}
    fsum({{ expression }})
{%- endmacro %}

{% macro spark__exact_sum(expression) -%}
    cast(sum(cast({{ expression }} as decimal(38, 18))) as double)
{%- endmacro %}


{#- A row number over a whole relation, in no particular order (a row key). Spark needs an
    ordered window: it numbers rows in the order they are read. -#}
{% macro leakproof_row_number() -%}
    {{ return(adapter.dispatch('row_number', 'leakproof')()) }}
{%- endmacro %}

{% macro default__row_number() -%}
    row_number() over ()
{%- endmacro %}

{% macro spark__row_number() -%}
    row_number() over (order by monotonically_increasing_id())
{%- endmacro %}
