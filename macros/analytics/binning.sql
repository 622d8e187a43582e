{#-
    EDA binning tables (the B2B document's eda_binning_tables) for any number of use cases: CTEs
    ending in a CTE named `name`, one row per use_case x feature x bin, from `value_counts` (one
    row per use_case x feature x value: feature_type, feature_value or feature_category,
    is_imputed, value_rows, positives - int_feature_values_counted); an imputed value counts as
    missing, so the bins show values as observed.
      numeric features: quantile bins from the data - edges at the 0, 1/B, ..., 1 quantiles
        (linear interpolation, B = var response_bins, located by the running count of rows below
        each distinct value, interpolated as numpy does), duplicate edges
        dropped so ties merge bins, bins right-closed (lower, upper] with the first one closed
        [min, upper] - exactly pandas.qcut(x, B, duplicates='drop'). An empty bin stays, with 0
        rows.
      categorical features: one bin per category, in alphabetical order.
      NULL values form their own bin (bin_index 0, 'missing').
    Per bin: rows, events, event rate with its Wilson interval, shares, and the weight of evidence
        WoE = ln( ((events + a) / (E + a K)) / ((non_events + a) / (N + a K)) )
    with E / N the feature's events / non-events, K its number of bins and a = var woe_smoothing
    (0.5, added to every bin, so an empty bin has a finite WoE), and the bin's information-value
    contribution (dist_events - dist_non_events) * WoE, where dist_* are the smoothed shares.
    WoE > 0: the bin responds above the feature's average.
-#}
{% macro response_rate_bins(name, value_counts) -%}
    {%- set bins = var('response_bins') | int -%}
    {%- set smoothing = var('woe_smoothing') -%}
{{ name }}_observed as (

    select
        use_case,
        feature,
        case when not is_imputed then feature_value end as feature_value,
        value_rows,
        positives
    from {{ value_counts }}
    where feature_type = 'numeric'

),

{{ name }}_numeric_values as (

    select
        use_case,
        feature,
        feature_value,
        sum(value_rows) as value_rows,
        sum(positives) as value_events
    from {{ name }}_observed
    group by use_case, feature, feature_value

),

{{ name }}_value_positions as (

    -- a value's rows hold the 0-based positions first_position .. first_position + value_rows - 1
    -- of the feature's sorted non-NULL values; next_value is the next larger value
    select
        use_case,
        feature,
        feature_value,
        value_rows,
        coalesce(sum(value_rows) over (
            partition by use_case, feature
            order by feature_value
            rows between unbounded preceding and 1 preceding
        ), 0) as first_position,
        lead(feature_value) over (partition by use_case, feature order by feature_value)
            as next_value
    from {{ name }}_numeric_values
    where feature_value is not null

),

{{ name }}_feature_sizes as (

    select
        use_case,
        feature,
        sum(value_rows) as feature_rows
    from {{ name }}_value_positions
    group by use_case, feature

),

{{ name }}_quantile_positions as (
    {%- for k in range(bins + 1) %}

    -- quantile k / B sits at position (n - 1) * k / B, between its floor and its ceiling
    select
        use_case,
        feature,
        cast(feature_rows - 1 as double) * cast({{ (k / bins) | string }} as double) as position
    from {{ name }}_feature_sizes
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

{{ name }}_quantile_neighbours as (

    -- the values at the floor and the ceiling of the position: the value whose rows hold the
    -- floor, and the same value or (when the floor is its last row) the next one
    select
        {{ name }}_quantile_positions.use_case,
        {{ name }}_quantile_positions.feature,
        {{ name }}_quantile_positions.position,
        floor({{ name }}_quantile_positions.position) as lower_position,
        ceil({{ name }}_quantile_positions.position) as upper_position,
        {{ name }}_value_positions.feature_value as lower_value,
        case
            when
                ceil({{ name }}_quantile_positions.position)
                < {{ name }}_value_positions.first_position + {{ name }}_value_positions.value_rows
                then {{ name }}_value_positions.feature_value
            else {{ name }}_value_positions.next_value
        end as upper_value
    from {{ name }}_quantile_positions
    inner join {{ name }}_value_positions
        on
            {{ name }}_quantile_positions.use_case = {{ name }}_value_positions.use_case
            and {{ name }}_quantile_positions.feature = {{ name }}_value_positions.feature
            and floor({{ name }}_quantile_positions.position)
            >= {{ name }}_value_positions.first_position
            and floor({{ name }}_quantile_positions.position)
            < {{ name }}_value_positions.first_position + {{ name }}_value_positions.value_rows

),

{{ name }}_edges as (

    select
        use_case,
        feature,
        -- numpy's linear interpolation (its _lerp): from the nearer neighbour, so an edge
        -- between two equal values is that value exactly
        case
            when position - lower_position >= 0.5
                then upper_value - (upper_value - lower_value) * (1.0 - (position - lower_position))
            else lower_value + (upper_value - lower_value) * (position - lower_position)
        end as edge_value
    from {{ name }}_quantile_neighbours

),

{{ name }}_unique_edges as (

    select distinct
        use_case,
        feature,
        edge_value
    from {{ name }}_edges

),

{{ name }}_numbered_edges as (

    select
        *,
        row_number() over (partition by use_case, feature order by edge_value) as edge_number,
        count(*) over (partition by use_case, feature) as edge_count
    from {{ name }}_unique_edges

),

{{ name }}_numeric_bins as (

    -- bin i spans edges i and i + 1; a constant feature (one edge) has one bin [x, x]
    select
        lower_edges.use_case,
        lower_edges.feature,
        lower_edges.edge_number as bin_index,
        lower_edges.edge_value as lower_edge,
        upper_edges.edge_value as upper_edge
    from {{ name }}_numbered_edges as lower_edges
    inner join {{ name }}_numbered_edges as upper_edges
        on
            lower_edges.use_case = upper_edges.use_case
            and lower_edges.feature = upper_edges.feature
            and lower_edges.edge_number + 1 = upper_edges.edge_number
    union all
    select
        use_case,
        feature,
        1 as bin_index,
        edge_value as lower_edge,
        edge_value as upper_edge
    from {{ name }}_numbered_edges
    where edge_count = 1

),

{{ name }}_numeric_binned as (

    select
        {{ name }}_numeric_values.use_case,
        {{ name }}_numeric_values.feature,
        {{ name }}_numeric_values.value_rows,
        {{ name }}_numeric_values.value_events,
        coalesce({{ name }}_numeric_bins.bin_index, 0) as bin_index
    from {{ name }}_numeric_values
    left join {{ name }}_numeric_bins
        on
            {{ name }}_numeric_values.use_case = {{ name }}_numeric_bins.use_case
            and {{ name }}_numeric_values.feature = {{ name }}_numeric_bins.feature
            and {{ name }}_numeric_values.feature_value <= {{ name }}_numeric_bins.upper_edge
            and (
                {{ name }}_numeric_values.feature_value > {{ name }}_numeric_bins.lower_edge
                or {{ name }}_numeric_bins.bin_index = 1
            )

),

{{ name }}_numeric_counts as (

    select
        use_case,
        feature,
        bin_index,
        sum(value_rows) as bin_rows,
        sum(value_events) as bin_events
    from {{ name }}_numeric_binned
    group by use_case, feature, bin_index

),

{{ name }}_numeric_cells as (

    -- every bin (empty ones too) plus the missing bin where there are NULLs
    select
        use_case,
        feature,
        bin_index,
        lower_edge,
        upper_edge
    from {{ name }}_numeric_bins
    union all
    select distinct
        use_case,
        feature,
        0 as bin_index,
        cast(null as double) as lower_edge,
        cast(null as double) as upper_edge
    from {{ name }}_numeric_counts
    where bin_index = 0

),

{{ name }}_numeric_summary as (

    select
        {{ name }}_numeric_cells.use_case,
        {{ name }}_numeric_cells.feature,
        'numeric' as feature_type,
        {{ name }}_numeric_cells.bin_index,
        case
            when {{ name }}_numeric_cells.bin_index = 0 then 'missing'
            else
                case when {{ name }}_numeric_cells.bin_index = 1 then '[' else '(' end
                || cast(round({{ name }}_numeric_cells.lower_edge, 4) as {{ leakproof_varchar() }}) || ', '
                || cast(round({{ name }}_numeric_cells.upper_edge, 4) as {{ leakproof_varchar() }}) || ']'
        end as bin_label,
        {{ name }}_numeric_cells.lower_edge,
        {{ name }}_numeric_cells.upper_edge,
        coalesce({{ name }}_numeric_counts.bin_rows, 0) as bin_rows,
        coalesce({{ name }}_numeric_counts.bin_events, 0) as bin_events
    from {{ name }}_numeric_cells
    left join {{ name }}_numeric_counts
        on
            {{ name }}_numeric_cells.use_case = {{ name }}_numeric_counts.use_case
            and {{ name }}_numeric_cells.feature = {{ name }}_numeric_counts.feature
            and {{ name }}_numeric_cells.bin_index = {{ name }}_numeric_counts.bin_index

),

{{ name }}_category_counts as (

    select
        use_case,
        feature,
        feature_category,
        sum(value_rows) as bin_rows,
        sum(positives) as bin_events
    from {{ value_counts }}
    where feature_type = 'categorical'
    group by use_case, feature, feature_category

),

{{ name }}_categorical_summary as (

    select
        use_case,
        feature,
        'categorical' as feature_type,
        case
            when feature_category is null then 0
            else row_number() over (
                partition by use_case, feature, feature_category is null
                order by feature_category
            )
        end as bin_index,
        coalesce(feature_category, 'missing') as bin_label,
        cast(null as double) as lower_edge,
        cast(null as double) as upper_edge,
        bin_rows,
        bin_events
    from {{ name }}_category_counts

),

{{ name }}_all_bins as (

    select * from {{ name }}_numeric_summary
    union all
    select * from {{ name }}_categorical_summary

),

{{ name }}_feature_totals as (

    select
        *,
        bin_rows - bin_events as bin_non_events,
        sum(bin_rows) over (partition by use_case, feature) as feature_rows,
        sum(bin_events) over (partition by use_case, feature) as feature_events,
        sum(bin_rows - bin_events) over (partition by use_case, feature) as feature_non_events,
        count(*) over (partition by use_case, feature) as feature_bins
    from {{ name }}_all_bins

),

{{ name }}_distributions as (

    select
        *,
        (bin_events + {{ smoothing }})
        / (feature_events + {{ smoothing }} * feature_bins) as smoothed_event_share,
        (bin_non_events + {{ smoothing }})
        / (feature_non_events + {{ smoothing }} * feature_bins) as smoothed_non_event_share
    from {{ name }}_feature_totals

),

{{ name }} as (

    select
        use_case,
        feature,
        feature_type,
        cast(bin_index as integer) as bin_index,
        bin_label,
        bin_index = 0 as is_missing_bin,
        lower_edge,
        upper_edge,
        cast(bin_rows as bigint) as bin_rows,
        cast(bin_events as bigint) as bin_events,
        cast(bin_non_events as bigint) as bin_non_events,
        case when bin_rows > 0 then cast(bin_events as double) / bin_rows end as event_rate,
        {{ wilson_interval('bin_events', 'bin_rows', 'lower') }} as event_rate_ci_lower,
        {{ wilson_interval('bin_events', 'bin_rows', 'upper') }} as event_rate_ci_upper,
        cast(bin_rows as double) / feature_rows as row_share,
        case when feature_events > 0 then cast(bin_events as double) / feature_events end
            as event_share,
        case
            when feature_non_events > 0 then cast(bin_non_events as double) / feature_non_events
        end as non_event_share,
        ln(smoothed_event_share / smoothed_non_event_share) as woe,
        (smoothed_event_share - smoothed_non_event_share)
        * ln(smoothed_event_share / smoothed_non_event_share) as iv_contribution,
        cast(feature_bins as integer) as feature_bins
    from {{ name }}_distributions

)
{%- endmacro %}
