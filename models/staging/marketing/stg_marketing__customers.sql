with

validated as (

    select * from {{ ref('base_marketing__customers_validated') }}

),

final as (

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
        is_unknown_gender,
        is_unknown_campaign_channel,
        is_unknown_campaign_type,
        is_unknown_advertising_platform,
        is_unknown_advertising_tool,
        duplicate_count,
        source_row_number
    from validated
    where quarantine_reasons is null

)

select * from final
