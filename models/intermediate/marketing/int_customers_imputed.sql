-- One row per customer (labelled and scoring): missing click-through rate and pages per visit
-- filled with the training median of the customer's channel x platform group (falling back to
-- the channel, then overall median), each with an is_imputed flag; AdSpend outliers flagged
-- (IQR fences and the domain cap) and capped in ad_spend_capped. No row is dropped.
with

customers as (

    select * from {{ ref('int_customers_split') }}

),

medians as (

    select * from {{ ref('int_customer_imputation_medians') }}

),

bounds as (

    select * from {{ ref('int_ad_spend_outlier_bounds') }}

),

group_medians as (

    select * from medians
    where group_level = 'channel_platform'

),

channel_medians as (

    select * from medians
    where group_level = 'channel'

),

overall_medians as (

    select * from medians
    where group_level = 'overall'

),

customers_joined_to_medians as (

    select
        customers.*,
        coalesce(
            group_medians.median_click_through_rate,
            channel_medians.median_click_through_rate,
            overall_medians.median_click_through_rate
        ) as fill_click_through_rate,
        coalesce(
            group_medians.median_pages_per_visit,
            channel_medians.median_pages_per_visit,
            overall_medians.median_pages_per_visit
        ) as fill_pages_per_visit,
        bounds.lower_fence as ad_spend_lower_fence,
        bounds.upper_fence as ad_spend_upper_fence,
        bounds.domain_cap as ad_spend_domain_cap
    from customers
    left join group_medians
        on
            customers.campaign_channel = group_medians.campaign_channel
            and customers.advertising_platform = group_medians.advertising_platform
    left join channel_medians
        on customers.campaign_channel = channel_medians.campaign_channel
    cross join overall_medians
    cross join bounds

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
        least(ad_spend, ad_spend_domain_cap) as ad_spend_capped,
        ad_spend > ad_spend_upper_fence or ad_spend < ad_spend_lower_fence
            as is_ad_spend_iqr_outlier,
        ad_spend > ad_spend_domain_cap as is_ad_spend_above_domain_cap,
        coalesce(click_through_rate, fill_click_through_rate) as click_through_rate,
        click_through_rate is null as is_click_through_rate_imputed,
        website_visits,
        coalesce(pages_per_visit, fill_pages_per_visit) as pages_per_visit,
        pages_per_visit is null as is_pages_per_visit_imputed,
        time_on_site,
        social_shares,
        email_opens,
        email_clicks,
        previous_purchases,
        loyalty_points,
        conversion_rate,
        conversion
    from customers_joined_to_medians

)

select * from final
