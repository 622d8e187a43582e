-- One row per account and wave with its split, by time: labelled rows of the newest
-- var b2b_test_waves labelled waves are 'test', earlier labelled rows 'train', and unlabelled rows
-- (the newest, not yet answered wave) 'score'.
with

accounts as (

    select * from {{ ref('stg_b2b__accounts') }}

),

labelled_waves as (

    select
        campaign_wave,
        dense_rank() over (order by campaign_wave desc) as recency_rank
    from accounts
    where is_labelled
    group by campaign_wave

),

final as (

    select
        accounts.account_id,
        accounts.campaign_wave,
        accounts.wave_date,
        accounts.industry,
        accounts.region,
        accounts.company_size,
        accounts.annual_revenue,
        accounts.website_visits_30d,
        accounts.contract_remaining_months,
        accounts.response_flag,
        case
            when not accounts.is_labelled then 'score'
            when labelled_waves.recency_rank <= {{ var('b2b_test_waves') }} then 'test'
            else 'train'
        end as split
    from accounts
    left join labelled_waves
        on accounts.campaign_wave = labelled_waves.campaign_wave

)

select * from final
