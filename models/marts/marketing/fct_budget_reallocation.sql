{%- set dimensions = [
    {'name': 'campaign_channel', 'model': 'fct_channel_performance', 'noun': 'channel'},
    {'name': 'advertising_platform', 'model': 'fct_platform_performance', 'noun': 'platform'},
    {'name': 'advertising_tool', 'model': 'fct_tool_performance', 'noun': 'tool'},
] -%}
{%- set interval_label = '95%' if var('interval_z') == 1.959963984540054
    else 'z = ' ~ var('interval_z') -%}
-- One row per dimension (campaign channel, advertising platform, advertising tool): the marketing
-- document's budget recommendation derived from the data - move var reallocation_share of the
-- worst cell's spend to the best cell (both among cells that meet the minimum sample) - with the
-- expected change in conversions and its interval, whether the rate gap is significant, and
-- plainly that the estimate is correlational. No row when fewer than two cells qualify.
--
-- Expected change: each dollar moved buys customers at the best cell's average spend who
-- convert at its rate, and loses the worst cell's conversions per dollar:
--     change = shifted_spend * (conversions_best / spend_best - conversions_worst / spend_worst).
-- Interval: Newcombe's hybrid score (MOVER) method - the two Wilson intervals of the conversion
-- rates, scaled by customers per dollar, combined in quadrature; spend is taken as fixed.
with

{% for dimension in dimensions -%}
{{ dimension.noun }}_performance as (

    select * from {{ ref(dimension.model) }}

),

{% endfor -%}
cells as (
    {%- for dimension in dimensions %}

    select
        '{{ dimension.name }}' as dimension,
        '{{ dimension.noun }}' as dimension_noun,
        {{ dimension.name }} as category_value,
        customers,
        conversions,
        conversion_rate,
        conversion_rate_ci_lower,
        conversion_rate_ci_upper,
        total_spend,
        is_below_min_sample,
        is_best,
        gap_to_best_p_value,
        gap_to_best_p_value_adjusted,
        is_gap_to_best_significant,
        pairwise_comparisons,
        sum(conversions) over () as dimension_conversions
    from {{ dimension.noun }}_performance
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

worst_ranked as (

    select
        *,
        row_number() over (
            partition by dimension
            order by conversion_rate asc, customers desc, category_value asc
        ) as worst_rank
    from cells
    where not is_below_min_sample and total_spend > 0

),

worst_cells as (

    select * from worst_ranked
    where worst_rank = 1 and not is_best

),

best_cells as (

    select * from cells
    where is_best and not is_below_min_sample and total_spend > 0

),

paired as (

    select
        worst_cells.dimension,
        worst_cells.dimension_noun,
        worst_cells.category_value as from_value,
        best_cells.category_value as to_value,
        worst_cells.customers as from_customers,
        worst_cells.conversions as from_conversions,
        worst_cells.conversion_rate as from_conversion_rate,
        worst_cells.conversion_rate_ci_lower as from_rate_ci_lower,
        worst_cells.conversion_rate_ci_upper as from_rate_ci_upper,
        worst_cells.total_spend as from_total_spend,
        best_cells.customers as to_customers,
        best_cells.conversions as to_conversions,
        best_cells.conversion_rate as to_conversion_rate,
        best_cells.conversion_rate_ci_lower as to_rate_ci_lower,
        best_cells.conversion_rate_ci_upper as to_rate_ci_upper,
        best_cells.total_spend as to_total_spend,
        worst_cells.dimension_conversions,
        worst_cells.gap_to_best_p_value as rate_gap_p_value,
        worst_cells.gap_to_best_p_value_adjusted as rate_gap_p_value_adjusted,
        worst_cells.is_gap_to_best_significant as is_gap_significant,
        worst_cells.pairwise_comparisons,
        cast({{ var('reallocation_share') }} as double) as reallocation_share,
        {{ var('reallocation_share') }} * worst_cells.total_spend as shifted_spend,
        -- customers per dollar: converts a rate (and its interval) into conversions per dollar
        worst_cells.customers / worst_cells.total_spend as from_customers_per_dollar,
        best_cells.customers / best_cells.total_spend as to_customers_per_dollar
    from worst_cells
    inner join best_cells
        on worst_cells.dimension = best_cells.dimension

),

estimated as (

    select
        *,
        from_conversions / from_total_spend as from_conversions_per_dollar,
        to_conversions / to_total_spend as to_conversions_per_dollar,
        shifted_spend * from_conversions / from_total_spend as expected_conversions_forgone,
        shifted_spend * to_conversions / to_total_spend as expected_conversions_gained,
        shifted_spend
        * (to_conversions / to_total_spend - from_conversions / from_total_spend)
            as expected_conversion_change,
        shifted_spend * sqrt(
            power(to_customers_per_dollar * (to_conversion_rate - to_rate_ci_lower), 2)
            + power(from_customers_per_dollar * (from_rate_ci_upper - from_conversion_rate), 2)
        ) as change_margin_below,
        shifted_spend * sqrt(
            power(to_customers_per_dollar * (to_rate_ci_upper - to_conversion_rate), 2)
            + power(from_customers_per_dollar * (from_conversion_rate - from_rate_ci_lower), 2)
        ) as change_margin_above,
        case
            when from_conversion_rate > 0 then to_conversion_rate / from_conversion_rate - 1.0
        end as relative_rate_gap
    from paired

),

bounded as (

    select
        *,
        expected_conversion_change - change_margin_below as expected_conversion_change_ci_lower,
        expected_conversion_change + change_margin_above as expected_conversion_change_ci_upper,
        case
            when dimension_conversions > 0
                then expected_conversion_change / dimension_conversions
        end as expected_change_share_of_conversions
    from estimated

),

prioritised as (

    select
        *,
        case
            when is_gap_significant and expected_conversion_change_ci_lower > 0 then 'high'
            when expected_conversion_change > 0 then 'medium'
            else 'low'
        end as priority
    from bounded

),

final as (

    select
        dimension,
        from_value,
        to_value,
        priority,
        'Shift ' || {{ leakproof_format_number('reallocation_share * 100', 0) }} || '% of '
        || from_value || ' spend ($' || {{ leakproof_format_number('shifted_spend', 0) }}
        || ') to ' || to_value || ': expected '
        || case when expected_conversion_change >= 0 then '+' else '' end
        || {{ leakproof_format_number('expected_conversion_change', 1) }}
        || ' conversions ({{ interval_label }} interval '
        || {{ leakproof_format_number('expected_conversion_change_ci_lower', 1) }} || ' to '
        || {{ leakproof_format_number('expected_conversion_change_ci_upper', 1) }} || '). '
        || to_value || ' converts at '
        || {{ leakproof_format_number('to_conversion_rate * 100', 2) }} || '% vs '
        || {{ leakproof_format_number('from_conversion_rate * 100', 2) }} || '% for '
        || from_value || ' ('
        || case when relative_rate_gap >= 0 then '+' else '' end
        || {{ leakproof_format_number('relative_rate_gap * 100', 0) }} || '% relative); the gap '
        || case when is_gap_significant then 'is' else 'is not' end
        || ' significant after correcting for '
        || cast(pairwise_comparisons as varchar) || ' pairwise comparisons between '
        || dimension_noun || 's (adjusted p = '
        || {{ leakproof_format_number('rate_gap_p_value_adjusted', 3) }} || ').'
            as recommendation,
        from_customers,
        from_conversions,
        from_conversion_rate,
        from_total_spend,
        from_conversions_per_dollar,
        to_customers,
        to_conversions,
        to_conversion_rate,
        to_total_spend,
        to_conversions_per_dollar,
        relative_rate_gap,
        rate_gap_p_value,
        rate_gap_p_value_adjusted,
        is_gap_significant,
        reallocation_share,
        shifted_spend,
        expected_conversions_forgone,
        expected_conversions_gained,
        expected_conversion_change,
        expected_conversion_change_ci_lower,
        expected_conversion_change_ci_upper,
        expected_change_share_of_conversions,
        'correlational' as evidence,
        'Historical channel, platform and tool assignment was not random: customers were '
        || 'targeted, so the gap may reflect who each ' || dimension_noun || ' reaches rather '
        || 'than what it does. This is an observed association, not a causal effect or a '
        || 'forecast; test it (e.g. a randomised budget split) before moving real money.'
            as caveat
    from prioritised

)

select * from final
