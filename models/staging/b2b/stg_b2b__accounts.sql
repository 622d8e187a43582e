with

validated as (

    select * from {{ ref('base_b2b__accounts_validated') }}

),

final as (

    select
        account_id,
        campaign_wave,
        wave_date,
        industry,
        region,
        company_size,
        annual_revenue,
        website_visits_30d,
        contract_remaining_months,
        response_flag,
        response_flag is not null as is_labelled,
        is_unknown_industry,
        is_unknown_region,
        duplicate_count,
        source_row_number
    from validated
    where quarantine_reasons is null

)

select * from final
