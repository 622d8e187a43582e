{%- set interval_label = '95%' if var('interval_z') == 1.959963984540054
    else 'z = ' ~ var('interval_z') -%}
{%- set reallocations = leakproof_reallocations() -%}
-- One row per use case that declares spend x dimension it reallocates across (the marketing
-- document's channel, platform and tool): the budget recommendation derived from the data - move
-- the declared reallocation_share of the worst cell's spend to the best cell (both among cells
-- that meet the minimum sample) - with the expected change in positives (conversions) and its
-- interval, whether the rate gap is significant, and plainly that the estimate is correlational.
-- No row when fewer than two cells qualify.
--
-- Expected change: each dollar moved buys rows at the best cell's average spend that convert at
-- its rate, and loses the worst cell's positives per dollar:
--     change = shifted_spend * (positives_best / spend_best - positives_worst / spend_worst).
-- Interval: Newcombe's hybrid score (MOVER) method - the two Wilson intervals of the rates,
-- scaled by rows per dollar, combined in quadrature; spend is taken as fixed.
with

performance as (

    select * from {{ ref('fct_dimension_performance') }}

),

reallocated as (
    {%- for reallocation in reallocations %}
    select
        '{{ reallocation.use_case }}' as use_case,
        '{{ reallocation.dimension }}' as dimension,
        cast({{ reallocation.share }} as double) as reallocation_share
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
    {%- if not reallocations %}
    select
        cast(null as {{ leakproof_varchar() }}) as use_case,
        cast(null as {{ leakproof_varchar() }}) as dimension,
        cast(null as double) as reallocation_share
    where false
    {%- endif %}
),

cells as (

    select
        performance.use_case,
        performance.dimension,
        performance.dimension_value as category_value,
        performance.labelled_rows,
        performance.positives,
        performance.positive_rate,
        performance.positive_rate_ci_lower,
        performance.positive_rate_ci_upper,
        performance.total_spend,
        performance.is_below_min_sample,
        performance.is_best,
        performance.gap_to_best_p_value,
        performance.gap_to_best_p_value_adjusted,
        performance.is_gap_to_best_significant,
        performance.pairwise_comparisons,
        reallocated.reallocation_share,
        sum(performance.positives) over (
            partition by performance.use_case, performance.dimension
        ) as dimension_positives
    from performance
    inner join reallocated
        on
            performance.use_case = reallocated.use_case
            and performance.dimension = reallocated.dimension

),

worst_ranked as (

    select
        *,
        row_number() over (
            partition by use_case, dimension
            order by positive_rate asc, labelled_rows desc, category_value asc
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
        worst_cells.use_case,
        worst_cells.dimension,
        worst_cells.category_value as from_value,
        best_cells.category_value as to_value,
        worst_cells.labelled_rows as from_labelled_rows,
        worst_cells.positives as from_positives,
        worst_cells.positive_rate as from_positive_rate,
        worst_cells.positive_rate_ci_lower as from_rate_ci_lower,
        worst_cells.positive_rate_ci_upper as from_rate_ci_upper,
        worst_cells.total_spend as from_total_spend,
        best_cells.labelled_rows as to_labelled_rows,
        best_cells.positives as to_positives,
        best_cells.positive_rate as to_positive_rate,
        best_cells.positive_rate_ci_lower as to_rate_ci_lower,
        best_cells.positive_rate_ci_upper as to_rate_ci_upper,
        best_cells.total_spend as to_total_spend,
        worst_cells.dimension_positives,
        worst_cells.gap_to_best_p_value as rate_gap_p_value,
        worst_cells.gap_to_best_p_value_adjusted as rate_gap_p_value_adjusted,
        worst_cells.is_gap_to_best_significant as is_gap_significant,
        worst_cells.pairwise_comparisons,
        worst_cells.reallocation_share,
        worst_cells.reallocation_share * worst_cells.total_spend as shifted_spend,
        -- rows per dollar: converts a rate (and its interval) into positives per dollar
        worst_cells.labelled_rows / worst_cells.total_spend as from_labelled_rows_per_dollar,
        best_cells.labelled_rows / best_cells.total_spend as to_labelled_rows_per_dollar
    from worst_cells
    inner join best_cells
        on
            worst_cells.use_case = best_cells.use_case
            and worst_cells.dimension = best_cells.dimension

),

estimated as (

    select
        *,
        from_positives / from_total_spend as from_positives_per_dollar,
        to_positives / to_total_spend as to_positives_per_dollar,
        shifted_spend * from_positives / from_total_spend as expected_positives_forgone,
        shifted_spend * to_positives / to_total_spend as expected_positives_gained,
        shifted_spend
        * (to_positives / to_total_spend - from_positives / from_total_spend)
            as expected_positive_change,
        shifted_spend * sqrt(
            power(to_labelled_rows_per_dollar * (to_positive_rate - to_rate_ci_lower), 2)
            + power(from_labelled_rows_per_dollar * (from_rate_ci_upper - from_positive_rate), 2)
        ) as change_margin_below,
        shifted_spend * sqrt(
            power(to_labelled_rows_per_dollar * (to_rate_ci_upper - to_positive_rate), 2)
            + power(from_labelled_rows_per_dollar * (from_positive_rate - from_rate_ci_lower), 2)
        ) as change_margin_above,
        case
            when from_positive_rate > 0 then to_positive_rate / from_positive_rate - 1.0
        end as relative_rate_gap
    from paired

),

bounded as (

    select
        *,
        expected_positive_change - change_margin_below as expected_positive_change_ci_lower,
        expected_positive_change + change_margin_above as expected_positive_change_ci_upper,
        case
            when dimension_positives > 0
                then expected_positive_change / dimension_positives
        end as expected_change_share_of_positives
    from estimated

),

prioritised as (

    select
        *,
        case
            when is_gap_significant and expected_positive_change_ci_lower > 0 then 'high'
            when expected_positive_change > 0 then 'medium'
            else 'low'
        end as priority
    from bounded

),

final as (

    select
        use_case,
        dimension,
        from_value,
        to_value,
        priority,
        'Shift ' || {{ leakproof_format_number('reallocation_share * 100', 0) }} || '% of '
        || from_value || ' spend ($' || {{ leakproof_format_number('shifted_spend', 0) }}
        || ') to ' || to_value || ': expected '
        || case when expected_positive_change >= 0 then '+' else '' end
        || {{ leakproof_format_number('expected_positive_change', 1) }}
        || ' positives ({{ interval_label }} interval '
        || {{ leakproof_format_number('expected_positive_change_ci_lower', 1) }} || ' to '
        || {{ leakproof_format_number('expected_positive_change_ci_upper', 1) }} || '). '
        || to_value || ' converts at '
        || {{ leakproof_format_number('to_positive_rate * 100', 2) }} || '% vs '
        || {{ leakproof_format_number('from_positive_rate * 100', 2) }} || '% for '
        || from_value || ' ('
        || case when relative_rate_gap >= 0 then '+' else '' end
        || {{ leakproof_format_number('relative_rate_gap * 100', 0) }} || '% relative); the gap '
        || case when is_gap_significant then 'is' else 'is not' end
        || ' significant after correcting for '
        || cast(pairwise_comparisons as {{ leakproof_varchar() }})
        || ' pairwise comparisons between '
        || dimension || ' values (adjusted p = '
        || {{ leakproof_format_number('rate_gap_p_value_adjusted', 3) }} || ').'
            as recommendation,
        from_labelled_rows,
        from_positives,
        from_positive_rate,
        from_total_spend,
        from_positives_per_dollar,
        to_labelled_rows,
        to_positives,
        to_positive_rate,
        to_total_spend,
        to_positives_per_dollar,
        relative_rate_gap,
        rate_gap_p_value,
        rate_gap_p_value_adjusted,
        is_gap_significant,
        reallocation_share,
        shifted_spend,
        expected_positives_forgone,
        expected_positives_gained,
        expected_positive_change,
        expected_positive_change_ci_lower,
        expected_positive_change_ci_upper,
        expected_change_share_of_positives,
        'correlational' as evidence,
        'Historical ' || dimension || ' assignment was not random: rows were targeted, so the '
        || 'gap may reflect who each ' || dimension || ' value reaches rather than what it does. '
        || 'This is an observed association, not a causal effect or a forecast; test it (e.g. a '
        || 'randomised budget split) before moving real money.'
            as caveat
    from prioritised

)

select * from final
