-- One row per customer (labelled and scoring): every column of int_customers_imputed plus the
-- segment bands age_group, income_tier and loyalty_tier (band vars, macros/analytics/segments.sql).
-- A table, not a view: a dozen marts, feature tables and tests read it, and as a view each would
-- re-run the imputation chain.
{{ config(materialized='table') }}

with

customers as (

    select * from {{ ref('int_customers_imputed') }}

),

final as (

    select
        customer_id,
        split,
        age,
        gender,
        income,
        campaign_channel,
        campaign_type,
        advertising_platform,
        advertising_tool,
        ad_spend,
        ad_spend_capped,
        is_ad_spend_iqr_outlier,
        is_ad_spend_above_domain_cap,
        click_through_rate,
        is_click_through_rate_imputed,
        website_visits,
        pages_per_visit,
        is_pages_per_visit_imputed,
        time_on_site,
        social_shares,
        email_opens,
        email_clicks,
        previous_purchases,
        loyalty_points,
        conversion_rate,
        conversion,
        {{ age_group('age') }} as age_group,
        {{ income_tier('income') }} as income_tier,
        {{ loyalty_tier('loyalty_points') }} as loyalty_tier
    from customers

)

select * from final
