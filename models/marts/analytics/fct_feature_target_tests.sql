{%- set features = var('analytics_features') -%}
-- One row per use case x feature x statistical test: phase 1's validation of each feature
-- against the target on labelled rows - chi-square for categorical features, Welch's t-test and
-- Mann-Whitney U for numeric ones - with statistic, p-value, effect size, and Benjamini-Hochberg
-- and Holm adjusted p-values over the use case's tests (var analytics_features lists the
-- features; the target-derived conversion_rate is never one).
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
        'labelled_customers', 'marketing', 'conversion', features.marketing.numeric, 'numeric'
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

{{ feature_target_tests('feature_tests', 'numeric_values', 'categorical_values') }},

final as (

    select
        use_case,
        feature,
        feature_type,
        test_name,
        cast(rows_tested as bigint) as rows_tested,
        cast(positives as bigint) as positives,
        cast(negatives as bigint) as negatives,
        mean_positive,
        mean_negative,
        statistic,
        degrees_of_freedom,
        p_value,
        effect_size,
        effect_size_measure,
        cast(tests_in_family as bigint) as tests_in_family,
        p_value_bh,
        p_value_holm,
        cast({{ var('significance_level') }} as double) as significance_level,
        p_value_bh < {{ var('significance_level') }} as is_significant
    from feature_tests

)

select * from final
