-- One row per account and campaign wave: the B2B document's features (business-rule flags, revenue
-- per employee, EDA-informed bins), the target and the time-based split. Formulas in
-- _features__models.yml; bands and thresholds are vars.
with

accounts as (

    select * from {{ ref('int_accounts_split') }}

),

final as (

    select
        -- identity, wave, split and target (not features)
        account_id,
        campaign_wave,
        split,
        response_flag,

        -- raw features
        industry,
        region,
        company_size,
        annual_revenue,
        website_visits_30d,
        contract_remaining_months,

        -- the B2B document's engineered features
        {{ is_renewal_window('contract_remaining_months') }} as renewal_window_flag,
        website_visits_30d >= {{ var('high_engagement_visits') }} as high_engagement_flag,
        company_size >= {{ var('large_account_employees') }} as large_account_flag,
        annual_revenue / company_size as revenue_per_employee,
        {{ company_size_band('company_size') }} as company_size_band,
        {{ band('website_visits_30d', var('website_visits_bands')) }} as website_visits_band,
        {{ band('contract_remaining_months', var('contract_months_bands')) }}
            as contract_months_band
    from accounts

)

select * from final
