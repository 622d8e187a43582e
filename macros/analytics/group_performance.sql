{#-
    The one mechanism behind every rate table of the marts (channel, platform, tool, campaign type,
    channel x platform, segments, B2B response rates): CTEs ending in a CTE named `name`, one row
    per cell of a COMPLETE grid - every known value of every dimension crossed with every other
    (empty cells explicit, with units = 0), plus any unknown value actually observed.

    Arguments
      name          CTE prefix (and the last CTE's name).
      relation      a ref or CTE, one row per unit (customer / account-wave), already filtered to
                    labelled rows.
      dimensions    list of {name, columns, values}:
                      columns  the column(s) of the dimension (several columns = one value, e.g.
                               [segment_type, segment_value]);
                      values   a relation / CTE listing the known values (same column names);
                      absent   observed values only.
      event_column  the 0/1 outcome (conversion, response_flag).
      spend_column  optional spend per unit; adds total / average spend, cost per event, spend share.
      units_column  optional: `relation` is pre-aggregated, one row per group of units with their
                    count in this column (event_column and spend_column then hold the group's
                    sums); default one row per unit.
      grouping_sets optional list of lists of dimension names: one breakdown per list, the other
                    dimensions' columns set to '(all)'. Default: one breakdown by every dimension.
      partition_by  columns (of dimensions present in every breakdown) within which shares, the
                    overall rate, ranks and the best cell are computed; `breakdown` always is one.

    Columns of `name`: the dimension columns, breakdown, is_known_category, units, events,
    event_rate, event_rate_ci_lower / _upper (Wilson, var interval_z), [total_spend, avg_spend,
    cost_per_event, spend_share], unit_share, event_share, overall_event_rate,
    rate_relative_to_overall, event_rate_rank (1 = highest rate among non-empty cells),
    is_below_min_sample (fewer than var min_expected_events events expected at the overall rate:
    units * overall rate), is_best_cell (highest rate among the cells
    that meet the minimum sample; among all non-empty cells if none does), rate_gap_to_best,
    gap_to_best_z / _p_value (pooled two-proportion z-test against the best cell, two-sided),
    pairwise_comparisons (k(k-1)/2 over the k adequately sampled cells),
    gap_to_best_p_value_adjusted (Bonferroni over those comparisons, because the best - and any
    worst compared with it - is picked after looking at the data) and
    is_gap_to_best_significant (adjusted p < var significance_level).
-#}
{% macro group_performance(
    name,
    relation,
    dimensions,
    event_column,
    spend_column=none,
    grouping_sets=none,
    partition_by=[],
    units_column=none
) -%}
    {%- set dimension_names = dimensions | map(attribute='name') | list -%}
    {%- set sets = grouping_sets if grouping_sets else [dimension_names] -%}
    {%- set columns = [] -%}
    {%- for dimension in dimensions %}{% do columns.extend(dimension.columns) %}{% endfor -%}
    {%- for set in sets %}{% for dimension_name in set if dimension_name not in dimension_names -%}
        {{ exceptions.raise_compiler_error("group_performance " ~ name ~ ": grouping set names unknown dimension " ~ dimension_name) }}
    {%- endfor %}{% endfor -%}
    {%- set partition = partition_by + ['breakdown'] -%}
    {%- set tiebreak = columns | join(', ') -%}
{%- for dimension in dimensions %}
{{ name }}_{{ dimension.name }}_candidates as (
    {% if dimension['values'] %}
    select
        {%- for column in dimension.columns %}
        {{ column }},
        {%- endfor %}
        1 as is_known
    from {{ dimension['values'] }}
    union all
    {%- endif %}
    select
        {%- for column in dimension.columns %}
        {{ column }},
        {%- endfor %}
        0 as is_known
    from {{ relation }}

),

{{ name }}_{{ dimension.name }}_values as (

    select
        {%- for column in dimension.columns %}
        {{ column }},
        {%- endfor %}
        max(is_known) = 1 as is_known_category
    from {{ name }}_{{ dimension.name }}_candidates
    group by {{ dimension.columns | join(', ') }}

),
{% endfor %}
{{ name }}_cells as (
    {% for set in sets %}
    {%- set in_set = dimensions | selectattr('name', 'in', set) | list %}
    select
        {%- for dimension in dimensions %}
        {%- for column in dimension.columns %}
        {%- if dimension.name in set %}
        {{ name }}_{{ dimension.name }}_values.{{ column }},
        {%- else %}
        '(all)' as {{ column }},
        {%- endif %}
        {%- endfor %}
        {%- endfor %}
        '{{ set | join("_") }}' as breakdown,
        {%- for dimension in in_set %}
        {{ name }}_{{ dimension.name }}_values.is_known_category{{ " and" if not loop.last else " as is_known_category" }}
        {%- endfor %}
    from {{ name }}_{{ in_set[0].name }}_values
    {%- for dimension in in_set[1:] %}
    cross join {{ name }}_{{ dimension.name }}_values
    {%- endfor %}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

{{ name }}_observed as (
    {% for set in sets %}
    {%- set grouped = [] %}
    select
        {%- for dimension in dimensions %}
        {%- for column in dimension.columns %}
        {%- if dimension.name in set %}{% do grouped.append(column) %}
        {{ column }},
        {%- else %}
        '(all)' as {{ column }},
        {%- endif %}
        {%- endfor %}
        {%- endfor %}
        '{{ set | join("_") }}' as breakdown,
        {{ 'cast(sum(' ~ units_column ~ ') as bigint)' if units_column else 'count(*)' }} as units,
        cast(sum({{ event_column }}) as bigint) as events
        {%- if spend_column %},
        sum(cast({{ spend_column }} as double)) as total_spend
        {%- endif %}
    from {{ relation }}
    group by {{ grouped | join(', ') }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

{{ name }}_measured as (

    select
        {%- for column in columns %}
        {{ name }}_cells.{{ column }},
        {%- endfor %}
        {{ name }}_cells.breakdown,
        {{ name }}_cells.is_known_category,
        coalesce({{ name }}_observed.units, 0) as units,
        coalesce({{ name }}_observed.events, 0) as events
        {%- if spend_column %},
        coalesce({{ name }}_observed.total_spend, 0.0) as total_spend
        {%- endif %}
    from {{ name }}_cells
    left join {{ name }}_observed
        on
            {{ name }}_cells.breakdown = {{ name }}_observed.breakdown
            {%- for column in columns %}
            and {{ name }}_cells.{{ column }} is not distinct from {{ name }}_observed.{{ column }}
            {%- endfor %}

),

{{ name }}_totalled as (

    select
        *,
        case when units > 0 then cast(events as double) / units end as event_rate,
        sum(units) over (partition by {{ partition | join(', ') }}) as partition_units,
        sum(events) over (partition by {{ partition | join(', ') }}) as partition_events
        {%- if spend_column %},
        sum(total_spend) over (partition by {{ partition | join(', ') }}) as partition_spend
        {%- endif %}
    from {{ name }}_measured

),

{{ name }}_rated as (

    select
        *,
        units > 0
        and units * cast(partition_events as double) / partition_units
        >= {{ var('min_expected_events') }} as is_adequate_sample
    from {{ name }}_totalled

),

{{ name }}_ranked as (

    select
        *,
        case
            when units > 0
                then rank() over (
                    partition by {{ partition | join(', ') }}, units > 0
                    order by event_rate desc
                )
        end as event_rate_rank,
        row_number() over (
            partition by {{ partition | join(', ') }}
            order by is_adequate_sample desc, event_rate desc nulls last, units desc, {{ tiebreak }}
        ) = 1 as is_best_cell,
        first_value(units) over (
            partition by {{ partition | join(', ') }}
            order by is_adequate_sample desc, event_rate desc nulls last, units desc, {{ tiebreak }}
        ) as best_units,
        first_value(events) over (
            partition by {{ partition | join(', ') }}
            order by is_adequate_sample desc, event_rate desc nulls last, units desc, {{ tiebreak }}
        ) as best_events,
        sum(case when is_adequate_sample then 1 else 0 end) over (
            partition by {{ partition | join(', ') }}
        ) as adequate_cells,
        sum(case when units > 0 then 1 else 0 end) over (
            partition by {{ partition | join(', ') }}
        ) as observed_cells
    from {{ name }}_rated

),

{{ name }}_compared as (

    select
        *,
        case
            when units > 0 and not is_best_cell
                then {{ two_proportion_z('best_events', 'best_units', 'events', 'units') }}
        end as gap_to_best_z,
        case when adequate_cells >= 2 then adequate_cells else observed_cells end
            as compared_cells
    from {{ name }}_ranked

),

{{ name }}_tested as (

    select
        *,
        2.0 * {{ normal_sf('abs(gap_to_best_z)') }} as gap_to_best_p_value,
        greatest(1, compared_cells * (compared_cells - 1) / 2) as pairwise_comparisons
    from {{ name }}_compared

),

{{ name }} as (

    select
        {%- for column in columns %}
        {{ column }},
        {%- endfor %}
        breakdown,
        is_known_category,
        units,
        events,
        event_rate,
        {{ wilson_interval('events', 'units', 'lower') }} as event_rate_ci_lower,
        {{ wilson_interval('events', 'units', 'upper') }} as event_rate_ci_upper,
        {%- if spend_column %}
        total_spend,
        case when units > 0 then total_spend / units end as avg_spend,
        case when events > 0 then total_spend / events end as cost_per_event,
        case when partition_spend > 0 then total_spend / partition_spend end as spend_share,
        {%- endif %}
        case when partition_units > 0 then cast(units as double) / partition_units end
            as unit_share,
        case when partition_events > 0 then cast(events as double) / partition_events end
            as event_share,
        case when partition_units > 0 then cast(partition_events as double) / partition_units end
            as overall_event_rate,
        case
            when partition_events > 0
                then event_rate / (cast(partition_events as double) / partition_units)
        end as rate_relative_to_overall,
        event_rate_rank,
        not is_adequate_sample as is_below_min_sample,
        is_best_cell,
        case when units > 0 then cast(best_events as double) / best_units - event_rate end
            as rate_gap_to_best,
        gap_to_best_z,
        gap_to_best_p_value,
        cast(pairwise_comparisons as bigint) as pairwise_comparisons,
        case
            when gap_to_best_p_value is not null
                then least(1.0, gap_to_best_p_value * pairwise_comparisons)
        end as gap_to_best_p_value_adjusted,
        case
            when gap_to_best_p_value is not null
                then
                    least(1.0, gap_to_best_p_value * pairwise_comparisons)
                    < {{ var('significance_level') }}
        end as is_gap_to_best_significant
    from {{ name }}_tested

)
{%- endmacro %}
