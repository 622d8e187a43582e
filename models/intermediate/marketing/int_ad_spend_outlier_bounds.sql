-- One row: the AdSpend outlier bounds, from TRAINING customers - the Tukey IQR fences
-- (var ad_spend_iqr_multiplier) and the domain cap (var ad_spend_domain_cap).
with

customers as (

    select * from {{ ref('int_customers_split') }}

),

quartiles as (

    select
        quantile_cont(ad_spend, 0.25) as ad_spend_q1,
        quantile_cont(ad_spend, 0.75) as ad_spend_q3
    from customers
    where split = 'train'

),

final as (

    select
        ad_spend_q1,
        ad_spend_q3,
        ad_spend_q3 - ad_spend_q1 as ad_spend_iqr,
        ad_spend_q1 - {{ var('ad_spend_iqr_multiplier') }} * (ad_spend_q3 - ad_spend_q1)
            as lower_fence,
        ad_spend_q3 + {{ var('ad_spend_iqr_multiplier') }} * (ad_spend_q3 - ad_spend_q1)
            as upper_fence,
        cast({{ var('ad_spend_domain_cap') }} as double) as domain_cap
    from quartiles

)

select * from final
