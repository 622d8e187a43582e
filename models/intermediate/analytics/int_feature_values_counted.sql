{{ config(materialized='table') }}
{%- set features = var('analytics_features') -%}
-- One row per use case x feature x value (x imputed flag) over LABELLED rows (train + test) of
-- both use cases: how many rows carry the value, and how many of them are positives / negatives.
-- Every feature of var analytics_features; NULL values (feature_value / feature_category) are a
-- row of their own; a marketing click-through rate or pages per visit filled in by imputation is
-- flagged is_imputed. Both analytics marts (fct_feature_target_tests, fct_response_rate_bins)
-- read these counts instead of the rows: far fewer rows (most features take a few hundred
-- values), and one scan of the customers for both. A table, so the marts and their tests read it
-- without re-running the intermediate chain.
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
        imputed_flags={
            'click_through_rate': 'is_click_through_rate_imputed',
            'pages_per_visit': 'is_pages_per_visit_imputed',
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

labelled_values as (

    select
        use_case,
        feature,
        'numeric' as feature_type,
        feature_value,
        cast(null as varchar) as feature_category,
        is_imputed,
        target
    from numeric_values
    union all
    select
        use_case,
        feature,
        'categorical' as feature_type,
        cast(null as double) as feature_value,
        feature_category,
        is_imputed,
        target
    from categorical_values

),

final as (

    select
        use_case,
        feature,
        feature_type,
        feature_value,
        feature_category,
        is_imputed,
        cast(count(*) as bigint) as value_rows,
        cast(sum(case when target = 1 then 1 else 0 end) as bigint) as positives,
        cast(sum(case when target = 0 then 1 else 0 end) as bigint) as negatives
    from labelled_values
    where target is not null
    group by use_case, feature, feature_type, feature_value, feature_category, is_imputed

)

select * from final
