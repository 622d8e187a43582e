-- One row per use case x feature x bin (the B2B document's eda_binning_tables, for both use
-- cases): response rate by quantile bin of each numeric feature and by category of each
-- categorical one, on labelled rows, with missing values in a bin of their own (bin_index 0),
-- the weight of evidence and the information-value contribution. Marketing click-through rate
-- and pages per visit are binned as OBSERVED (before imputation), so their missing values show.
-- Computed from the value counts of int_feature_values_counted.
with

value_counts as (

    select * from {{ ref('int_feature_values_counted') }}

),

{{ response_rate_bins('response_bins', 'value_counts') }},

final as (

    select
        use_case,
        feature,
        feature_type,
        bin_index,
        bin_label,
        is_missing_bin,
        lower_edge,
        upper_edge,
        bin_rows,
        bin_events,
        bin_non_events,
        event_rate,
        event_rate_ci_lower,
        event_rate_ci_upper,
        row_share,
        event_share,
        non_event_share,
        woe,
        iv_contribution,
        feature_bins
    from response_bins

)

select * from final
