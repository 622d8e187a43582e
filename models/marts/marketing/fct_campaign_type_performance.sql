-- One row per campaign type, i.e. objective (every known value, plus any unknown value
-- observed): labelled customers, conversions, conversion rate with its Wilson interval, spend,
-- shares, rank and the gap to the best campaign type. Built by the group_performance macro,
-- like every rate table.
with

customers as (

    select * from {{ ref('int_customers_segmented') }}

),

labelled_customers as (

    select * from customers
    where split in ('train', 'test')

),

{{ group_performance(
    'campaign_type_performance',
    'labelled_customers',
    dimensions=[{'name': 'campaign_type', 'columns': ['campaign_type'], 'domain': 'campaign_type'}],
    event_column='conversion',
    spend_column='ad_spend_capped'
) }},

final as (

    select
        campaign_type,
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
    from campaign_type_performance

)

select * from final
