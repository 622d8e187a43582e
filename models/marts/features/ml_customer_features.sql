-- One row per customer (labelled: train / test; new: score): the model-ready, leak-free features
-- of the marketing use case, each documented with its formula in _features__models.yml. Nothing
-- here is computed from conversion or conversion_rate except channel_conversion_rate_oof, an
-- out-of-fold encoding from training rows only (allow-listed, and checked by a test that it is).
with

customers as (

    select * from {{ ref('int_customers_segmented') }}

),

customers_with_folds as (

    -- cross-validation folds of the training rows, stratified by the target and seeded
    select
        *,
        case
            when split = 'train'
                then (
                    row_number() over (
                        partition by split, conversion
                        order by
                            {{ leakproof_stable_hash('customer_id', var('split_seed') ~ 'f') }},
                            customer_id
                    ) - 1
                ) % {{ var('cv_folds') }}
        end as cv_fold
    from customers

),

training_by_channel as (

    select
        campaign_channel,
        count(*) as training_customers,
        -- Summed with fsum (compensated) and rounded: a plain avg of doubles depends on the
        -- order DuckDB's threads add them, and a 1e-12 wobble can move a tree split.
        round(fsum(ad_spend_capped) / count(ad_spend_capped), 6) as channel_avg_ad_spend,
        sum(conversion) as training_conversions
    from customers_with_folds
    where split = 'train'
    group by campaign_channel

),

training_by_channel_and_fold as (

    select
        campaign_channel,
        cv_fold,
        count(*) as fold_customers,
        sum(conversion) as fold_conversions
    from customers_with_folds
    where split = 'train'
    group by campaign_channel, cv_fold

),

training_overall as (

    select
        count(*) as training_customers,
        avg(conversion) as training_conversion_rate
    from customers_with_folds
    where split = 'train'

),

customers_joined_to_channel_statistics as (

    select
        customers_with_folds.*,
        training_by_channel.channel_avg_ad_spend,
        training_by_channel.training_customers * 1.0 / training_overall.training_customers
            as channel_share_of_customers,
        -- a training row sees only the other folds; test and score rows see all training rows
        coalesce(training_by_channel.training_conversions, 0)
        - coalesce(training_by_channel_and_fold.fold_conversions, 0)
            as encoding_conversions,
        coalesce(training_by_channel.training_customers, 0)
        - coalesce(training_by_channel_and_fold.fold_customers, 0)
            as encoding_customers,
        training_overall.training_conversion_rate as encoding_prior
    from customers_with_folds
    cross join training_overall
    left join training_by_channel
        on customers_with_folds.campaign_channel = training_by_channel.campaign_channel
    left join training_by_channel_and_fold
        on
            customers_with_folds.campaign_channel = training_by_channel_and_fold.campaign_channel
            and customers_with_folds.cv_fold = training_by_channel_and_fold.cv_fold

),

final as (

    select
        -- identity, split and target (not features)
        customer_id,
        split,
        cv_fold,
        conversion,

        -- cleaned raw features
        age,
        gender,
        income,
        campaign_channel,
        campaign_type,
        advertising_platform,
        advertising_tool,
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

        -- ROI / efficiency (the document's v2 features: visits and CTR, never conversions)
        ad_spend_capped / (website_visits + 1) as cpa_v2,
        income * click_through_rate / nullif(ad_spend_capped, 0) as roi_v2,
        website_visits * pages_per_visit / nullif(ad_spend_capped / 1000.0, 0) as spend_efficiency,

        -- engagement
        pages_per_visit * time_on_site as site_engagement,
        coalesce(email_clicks * 1.0 / nullif(email_opens, 0), 0) as email_click_rate,
        cbrt(website_visits * time_on_site * email_clicks) as engagement_score,

        -- segmentation (bands are vars; macros/analytics/segments.sql)
        age_group,
        income_tier,
        loyalty_tier,

        -- interactions
        ad_spend_capped * click_through_rate as ad_spend_x_ctr,
        income * loyalty_points as income_x_loyalty,
        loyalty_points * 1.0 / (previous_purchases + 1) as loyalty_per_purchase,

        -- channel intelligence, without the target ...
        campaign_channel || ' + ' || advertising_platform as channel_platform,
        campaign_channel in (
            {%- for channel in var('paid_channels') %}
            '{{ channel }}'{{ "," if not loop.last }}
            {%- endfor %}
        ) as is_paid_channel,
        channel_avg_ad_spend,
        channel_share_of_customers,
        -- ... and the one target encoding that is honest: out of fold, training rows only,
        -- smoothed towards the training rate with var target_encoding_smoothing pseudo-customers
        (encoding_conversions + {{ var('target_encoding_smoothing') }} * encoding_prior)
        / (encoding_customers + {{ var('target_encoding_smoothing') }})
            as channel_conversion_rate_oof
    from customers_joined_to_channel_statistics

)

select * from final
