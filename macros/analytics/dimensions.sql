{#-
    The analytics dimensions of a use case, from its declaration: a list of {name, sql, values}
    where `sql` is the dimension's expression over int_<use case>__prepared (a column, a segment,
    a derived feature's SQL, or the SQL the declaration gives it) and `values` its known values in
    order (a column's accepted_values, a segment's band labels; empty = observed values only).
-#}
{% macro leakproof_dimensions(use_case, names=none) -%}
    {%- set dimensions = [] -%}
    {%- for dimension in use_case.dimensions if names is none or dimension.name in names -%}
        {%- do dimensions.append(leakproof_dimension(use_case, dimension.name, dimension.sql)) -%}
    {%- endfor -%}
    {{ return(dimensions) }}
{%- endmacro %}


{#- One dimension {name, sql, values} of a use case by name (optionally with its own SQL). -#}
{% macro leakproof_dimension(use_case, name, sql=none) -%}
    {%- set column = leakproof_declared_column(use_case, name) -%}
    {%- if sql -%}
        {{ return({'name': name, 'sql': sql, 'values': []}) }}
    {%- elif name in use_case.segments -%}
        {{ return({'name': name, 'sql': name, 'values': band_labels(use_case.segments[name].bands)}) }}
    {%- elif name in use_case.derived -%}
        {{ return({'name': name, 'sql': use_case.derived[name], 'values': []}) }}
    {%- elif column -%}
        {{ return({'name': name, 'sql': name, 'values': column.accepted_values}) }}
    {%- else -%}
        {{ exceptions.raise_compiler_error(
            "use_cases/" ~ use_case.name ~ ".yml: analytics dimension '" ~ name
            ~ "' is not a column, segment or derived feature of the use case") }}
    {%- endif -%}
{%- endmacro %}


{#- A select of the known values of dimensions: (dimension, dimension_value, value_order); an
    empty select when none has known values. -#}
{% macro leakproof_known_values(dimensions) -%}
    {%- set rows = [] -%}
    {%- for dimension in dimensions -%}
        {%- for value in dimension['values'] -%}
            {%- do rows.append("('" ~ dimension.name ~ "', '" ~ (value | string) | replace("'", "''") ~ "', " ~ loop.index ~ ")") -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- if rows -%}
    select * from (values {{ rows | join(', ') }}) as known (dimension, dimension_value, value_order)
    {%- else -%}
    select
        cast(null as {{ leakproof_varchar() }}) as dimension,
        cast(null as {{ leakproof_varchar() }}) as dimension_value,
        cast(null as integer) as value_order
    where false
    {%- endif -%}
{%- endmacro %}


{#- The shared rate-table columns of a group_performance CTE `performance` over (dimension,
    dimension_value) of one use case, in mart order: spend columns are NULL when the use case
    declares no spend. `known` lists the known values with their order. -#}
{% macro leakproof_rate_columns(use_case_name, performance, known, spend) -%}
    select
        '{{ use_case_name }}' as use_case,
        {{ performance }}.dimension,
        {{ performance }}.dimension_value,
        {{ known }}.value_order,
        {{ performance }}.is_known_category,
        cast({{ performance }}.units as bigint) as labelled_rows,
        cast({{ performance }}.events as bigint) as positives,
        {{ performance }}.event_rate as positive_rate,
        {{ performance }}.event_rate_ci_lower as positive_rate_ci_lower,
        {{ performance }}.event_rate_ci_upper as positive_rate_ci_upper,
        {%- if spend %}
        {{ performance }}.total_spend,
        {{ performance }}.avg_spend,
        {{ performance }}.cost_per_event as cost_per_positive,
        {{ performance }}.spend_share,
        {%- else %}
        cast(null as double) as total_spend,
        cast(null as double) as avg_spend,
        cast(null as double) as cost_per_positive,
        cast(null as double) as spend_share,
        {%- endif %}
        {{ performance }}.unit_share as row_share,
        {{ performance }}.event_share as positive_share,
        {{ performance }}.overall_event_rate as overall_positive_rate,
        {{ performance }}.rate_relative_to_overall,
        cast({{ performance }}.event_rate_rank as bigint) as positive_rate_rank,
        {{ performance }}.is_below_min_sample,
        {{ performance }}.is_best_cell as is_best,
        {{ performance }}.rate_gap_to_best,
        {{ performance }}.gap_to_best_z,
        {{ performance }}.gap_to_best_p_value,
        {{ performance }}.pairwise_comparisons,
        {{ performance }}.gap_to_best_p_value_adjusted,
        {{ performance }}.is_gap_to_best_significant
    from {{ performance }}
    left join {{ known }}
        on
            {{ performance }}.dimension = {{ known }}.dimension
            and {{ performance }}.dimension_value = {{ known }}.dimension_value
{%- endmacro %}


{#- The breakdowns of a use case's segment table: its analytics dimensions, plus the what-if arm
    (the treatments' values joined by ' + ', every combination known) when it varies two or
    more treatments. -#}
{% macro leakproof_segment_breakdowns(use_case) -%}
    {%- set breakdowns = leakproof_dimensions(use_case) -%}
    {%- if use_case.treatments | length > 1 -%}
        {%- set combined = namespace(arms=['']) -%}
        {%- set parts = [] -%}
        {%- for treatment in use_case.treatments -%}
            {%- set values = leakproof_declared_column(use_case, treatment).accepted_values -%}
            {%- set extended = [] -%}
            {%- for arm in combined.arms %}{% for value in values %}{% do extended.append(arm ~ (' + ' if arm else '') ~ value) %}{% endfor %}{% endfor -%}
            {%- set combined.arms = extended -%}
            {%- do parts.append("coalesce(cast(" ~ treatment ~ " as " ~ leakproof_varchar() ~ "), '(missing)')") -%}
        {%- endfor -%}
        {%- do breakdowns.append({'name': use_case.treatments | join(' + '), 'sql': parts | join(" || ' + ' || "), 'values': combined.arms}) -%}
    {%- endif -%}
    {{ return(breakdowns) }}
{%- endmacro %}


{#- A select of a use case's segment values: (segment_type, segment_value, segment_order). -#}
{% macro leakproof_segment_values(use_case) -%}
    {%- if not execute -%}
    select 'x' as segment_type, 'x' as segment_value, 1 as segment_order
    {%- else -%}
    {%- set rows = [] -%}
    {%- for segment, rule in use_case.segments.items() -%}
        {%- for label in band_labels(rule.bands) -%}
            {%- do rows.append("('" ~ segment ~ "', '" ~ label | replace("'", "''") ~ "', " ~ loop.index ~ ")") -%}
        {%- endfor -%}
    {%- endfor -%}
    select * from (values
        {{ rows | join(',\n        ') }}
    ) as known (segment_type, segment_value, segment_order)
    {%- endif -%}
{%- endmacro %}


{#- A select of `values` (text) as one column named `column`; empty (with the column) when there
    are none. -#}
{% macro leakproof_value_rows(column, values) -%}
    {%- if values -%}
    select * from (values
        {%- for value in values %}
        ('{{ value | replace("'", "''") }}'){{ "," if not loop.last }}
        {%- endfor %}
    ) as known ({{ column }})
    {%- else -%}
    select cast(null as {{ leakproof_varchar() }}) as {{ column }} where false
    {%- endif -%}
{%- endmacro %}
