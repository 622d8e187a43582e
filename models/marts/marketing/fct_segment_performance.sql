-- One row per segment (age group, income tier or loyalty tier) x breakdown cell: the segment
-- alone, crossed with each campaign channel, with each advertising platform, and with each
-- channel x platform combination - complete grids, '(all)' where a dimension is not broken down.
-- Shares, the overall rate and the rank are within segment_type and breakdown (every customer
-- counts once there); the *_within_segment columns compare a cell with its own segment.
with

customers as (

    select * from {{ ref('int_customers_segmented') }}

),

labelled_customers as (

    select * from customers
    where split in ('train', 'test')

),

known_segments as (
    {{ segment_values({
        'age_group': 'age_groups',
        'income_tier': 'income_tiers',
        'loyalty_tier': 'loyalty_tiers',
    }) }}
),

customers_by_segment as (

    select
        'age_group' as segment_type,
        age_group as segment_value,
        campaign_channel,
        advertising_platform,
        conversion,
        ad_spend_capped
    from labelled_customers
    union all
    select
        'income_tier' as segment_type,
        income_tier as segment_value,
        campaign_channel,
        advertising_platform,
        conversion,
        ad_spend_capped
    from labelled_customers
    union all
    select
        'loyalty_tier' as segment_type,
        loyalty_tier as segment_value,
        campaign_channel,
        advertising_platform,
        conversion,
        ad_spend_capped
    from labelled_customers

),

{{ group_performance(
    'segment_performance',
    'customers_by_segment',
    dimensions=[
        {'name': 'segment', 'columns': ['segment_type', 'segment_value'], 'values': 'known_segments'},
        {'name': 'channel', 'columns': ['campaign_channel'], 'domain': 'channel'},
        {'name': 'platform', 'columns': ['advertising_platform'], 'domain': 'platform'},
    ],
    event_column='conversion',
    spend_column='ad_spend_capped',
    grouping_sets=[
        ['segment'],
        ['segment', 'channel'],
        ['segment', 'platform'],
        ['segment', 'channel', 'platform'],
    ],
    partition_by=['segment_type']
) }},

segment_totals as (

    select
        segment_type,
        segment_value,
        event_rate as segment_conversion_rate
    from segment_performance
    where breakdown = 'segment'

),

segment_performance_ranked_within_segment as (

    select
        segment_performance.*,
        segment_totals.segment_conversion_rate,
        known_segments.segment_order,
        case
            when segment_performance.units > 0
                then rank() over (
                    partition by
                        segment_performance.segment_type,
                        segment_performance.segment_value,
                        segment_performance.breakdown,
                        segment_performance.units > 0
                    order by segment_performance.event_rate desc
                )
        end as rank_within_segment
    from segment_performance
    left join segment_totals
        on
            segment_performance.segment_type = segment_totals.segment_type
            and segment_performance.segment_value = segment_totals.segment_value
    left join known_segments
        on
            segment_performance.segment_type = known_segments.segment_type
            and segment_performance.segment_value = known_segments.segment_value

),

final as (

    select
        segment_type,
        segment_value,
        segment_order,
        campaign_channel,
        advertising_platform,
        breakdown,
        is_known_category,
        {{ marketing_rate_columns() }}
        segment_conversion_rate,
        case
            when segment_conversion_rate > 0 then event_rate / segment_conversion_rate
        end as rate_relative_to_segment,
        event_rate_rank as conversion_rate_rank,
        rank_within_segment,
        is_below_min_sample
    from segment_performance_ranked_within_segment

)

select * from final
