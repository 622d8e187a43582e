-- One row per labelled customer: ml_customer_features plus the leaky features the marketing
-- document first built - ConversionRate, CPA_Proxy, ROI_Proxy and a naive channel target
-- encoding over all labelled rows. Deliberately leaky: ONLY the leakage audit reads it (it is not
-- a feature table, and no model trains on it).
with

features as (

    select * from {{ ref('ml_customer_features') }}

),

customers as (

    select * from {{ ref('int_customers_segmented') }}

),

final as (

    select
        features.*,
        customers.conversion_rate,
        features.ad_spend_capped / (features.conversion + 1) as cpa_proxy,
        customers.conversion_rate * features.income / nullif(features.ad_spend_capped, 0)
            as roi_proxy,
        avg(features.conversion) over (partition by features.campaign_channel)
            as channel_conversion_rate_naive
    from features
    inner join customers
        on
            features.customer_id = customers.customer_id
            and features.split = customers.split
    where features.conversion is not null

)
-- (final is the feature table's columns plus four leaks, by construction)

select * from final  -- noqa: AM04
