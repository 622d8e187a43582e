-- One row per campaign channel x advertising platform: the complete grid of every known channel
-- crossed with every known platform (7 x 7 = 49 on the standard categories, plus any unknown
-- value observed); empty combinations are explicit rows with 0 customers and NULL rates.
with

customers as (

    select * from {{ ref('int_customers_segmented') }}

),

labelled_customers as (

    select * from customers
    where split in ('train', 'test')

),

{{ group_performance(
    'channel_platform_performance',
    'labelled_customers',
    dimensions=[
        {'name': 'channel', 'columns': ['campaign_channel'], 'domain': 'channel'},
        {'name': 'platform', 'columns': ['advertising_platform'], 'domain': 'platform'},
    ],
    event_column='conversion',
    spend_column='ad_spend_capped'
) }},

final as (

    select
        campaign_channel,
        advertising_platform,
        is_known_category,
        units as customers,
        events as conversions,
        event_rate as conversion_rate,
        event_rate_ci_lower as conversion_rate_ci_lower,
        event_rate_ci_upper as conversion_rate_ci_upper,
        total_spend,
        avg_spend,
        cost_per_event as cost_per_conversion,
        spend_share,
        unit_share as customer_share,
        event_share as conversion_share,
        overall_event_rate as overall_conversion_rate,
        rate_relative_to_overall,
        event_rate_rank as conversion_rate_rank,
        is_below_min_sample,
        is_best_cell as is_best,
        rate_gap_to_best,
        gap_to_best_z,
        gap_to_best_p_value,
        pairwise_comparisons,
        gap_to_best_p_value_adjusted,
        is_gap_to_best_significant
    from channel_platform_performance

)

select * from final
