-- One row per customer: labelled customers split train/test (stratified by conversion, seeded by
-- var split_seed, test share var test_fraction); the new customers of the scoring batch as 'score'.
-- A table, not a view: the seeded stratified split is a sort of every customer, and three
-- models and their tests read it.
{{ config(materialized='table') }}

with

customers as (

    select * from {{ ref('stg_marketing__customers') }}

),

scoring_customers as (

    select * from {{ ref('stg_marketing__customers_scoring') }}

),

ranked_within_outcome as (

    select
        *,
        row_number() over (
            partition by conversion
            order by {{ leakproof_stable_hash('customer_id', var('split_seed')) }}, customer_id
        ) as rank_within_outcome,
        count(*) over (partition by conversion) as customers_with_outcome
    from customers

),

labelled_split as (

    select
        customer_id,
        age,
        gender,
        income,
        campaign_channel,
        campaign_type,
        ad_spend,
        click_through_rate,
        conversion_rate,
        website_visits,
        pages_per_visit,
        time_on_site,
        social_shares,
        email_opens,
        email_clicks,
        previous_purchases,
        loyalty_points,
        advertising_platform,
        advertising_tool,
        conversion,
        case
            when rank_within_outcome <= round(customers_with_outcome * {{ var('test_fraction') }})
                then 'test'
            else 'train'
        end as split
    from ranked_within_outcome

),

scoring_split as (

    select
        customer_id,
        age,
        gender,
        income,
        campaign_channel,
        campaign_type,
        ad_spend,
        click_through_rate,
        cast(null as double) as conversion_rate,
        website_visits,
        pages_per_visit,
        time_on_site,
        social_shares,
        email_opens,
        email_clicks,
        previous_purchases,
        loyalty_points,
        advertising_platform,
        advertising_tool,
        cast(null as integer) as conversion,  -- noqa: RF04
        'score' as split
    from scoring_customers

),

final as (

    select * from labelled_split
    union all
    select * from scoring_split

)

select * from final
