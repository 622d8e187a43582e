{%- set features = var('analytics_features') -%}
-- One row per use case x feature x bin (the B2B document's eda_binning_tables, for both use
-- cases): response rate by quantile bin of each numeric feature and by category of each
-- categorical one, on labelled rows, with missing values in a bin of their own (bin_index 0),
-- the weight of evidence and the information-value contribution. Marketing click-through rate
-- and pages per visit are binned as OBSERVED (before imputation), so their missing values show.
with

customers as (

    select * from {{ ref('int_customers_segmented') }}

),

accounts as (

    select * from {{ ref('int_accounts_split') }}

),

labelled_customers as (

    select * from customers
    where split in ('train', 'test')

),

labelled_accounts as (

    select * from accounts
    where split in ('train', 'test')

),

numeric_values as (
    {{ unpivot_features(
        'labelled_customers', 'marketing', 'conversion', features.marketing.numeric, 'numeric',
        expressions={
            'click_through_rate':
                'case when not is_click_through_rate_imputed then click_through_rate end',
            'pages_per_visit':
                'case when not is_pages_per_visit_imputed then pages_per_visit end',
        }
    ) }}
    union all
    {{ unpivot_features(
        'labelled_accounts', 'b2b', 'response_flag', features.b2b.numeric, 'numeric'
    ) }}
),

categorical_values as (
    {{ unpivot_features(
        'labelled_customers', 'marketing', 'conversion', features.marketing.categorical,
        'categorical'
    ) }}
    union all
    {{ unpivot_features(
        'labelled_accounts', 'b2b', 'response_flag', features.b2b.categorical, 'categorical'
    ) }}
),

{{ response_rate_bins('response_bins', 'numeric_values', 'categorical_values') }},

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
