-- One row per use case x feature: the information value (IV) of the feature's EDA bins (sum of
-- the bins' IV contributions in fct_response_rate_bins) with the usual strength label (var
-- iv_strength_bands; above 0.5 is "suspicious": check the feature for target leakage).
with

bins as (

    select * from {{ ref('fct_response_rate_bins') }}

),

summarised as (

    select
        use_case,
        feature,
        feature_type,
        count(*) as bins,
        sum(bin_rows) as feature_rows,
        sum(bin_events) as feature_events,
        sum(case when is_missing_bin then bin_rows else 0 end) as missing_rows,
        sum(iv_contribution) as information_value,
        max(woe) - min(woe) as woe_range
    from bins
    group by use_case, feature, feature_type

),

final as (

    select
        use_case,
        feature,
        feature_type,
        cast(bins as integer) as bins,
        cast(feature_rows as bigint) as feature_rows,
        cast(feature_events as bigint) as feature_events,
        cast(missing_rows as bigint) as missing_rows,
        information_value,
        {{ band('information_value', var('iv_strength_bands')) }} as iv_strength,
        cast(rank() over (
            partition by use_case
            order by information_value desc
        ) as integer) as iv_rank,
        woe_range
    from summarised

)

select * from final
