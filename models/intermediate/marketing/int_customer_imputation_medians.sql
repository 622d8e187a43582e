-- One row per imputation group: the median click-through rate and pages per visit of TRAINING
-- customers, at three levels - channel x platform, channel alone, and overall (the fallbacks
-- when a group has no observed value). Test and scoring rows never inform their own imputation.
with

customers as (

    select * from {{ ref('int_customers_split') }}

),

training_customers as (

    select * from customers
    where split = 'train'

),

by_channel_and_platform as (

    select
        'channel_platform' as group_level,
        campaign_channel,
        advertising_platform,
        median(click_through_rate) as median_click_through_rate,
        median(pages_per_visit) as median_pages_per_visit,
        count(*) as training_customers
    from training_customers
    group by campaign_channel, advertising_platform

),

by_channel as (

    select
        'channel' as group_level,
        campaign_channel,
        cast(null as varchar) as advertising_platform,
        median(click_through_rate) as median_click_through_rate,
        median(pages_per_visit) as median_pages_per_visit,
        count(*) as training_customers
    from training_customers
    group by campaign_channel

),

overall as (

    select
        'overall' as group_level,
        cast(null as varchar) as campaign_channel,
        cast(null as varchar) as advertising_platform,
        median(click_through_rate) as median_click_through_rate,
        median(pages_per_visit) as median_pages_per_visit,
        count(*) as training_customers
    from training_customers

),

final as (

    select * from by_channel_and_platform
    union all
    select * from by_channel
    union all
    select * from overall

)

select * from final
