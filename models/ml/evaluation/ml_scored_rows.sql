-- One row per scored entity, use case and split: the scores of every use case in one shape, so
-- every evaluation model below reads one relation. To evaluate another scored table, add it here.
{{ config(materialized='view') }}

with

marketing_scores as (

    select * from {{ ref('ml_marketing_scores') }}

),

b2b_scores as (

    select * from {{ ref('ml_b2b_scores') }}

),

marketing as (

    select
        use_case,
        model_id,
        cast(customer_id as varchar) as entity_key,
        split,
        actual_label as label,  -- noqa: RF04
        calibrated_probability as score,
        raw_probability as raw_score,
        predicted_label
    from marketing_scores

),

b2b as (

    select
        use_case,
        model_id,
        account_id || '/' || cast(campaign_wave as varchar) as entity_key,
        split,
        actual_label as label,  -- noqa: RF04
        calibrated_probability as score,
        raw_probability as raw_score,
        predicted_label
    from b2b_scores

),

final as (

    select * from marketing
    union all
    select * from b2b

)

select * from final
