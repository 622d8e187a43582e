-- One row per use case x feature x statistical test: phase 1's validation of each feature
-- against the target on labelled rows - chi-square for categorical features, Welch's t-test and
-- Mann-Whitney U for numeric ones (int_feature_target_tests) - with statistic, p-value, effect
-- size, and Benjamini-Hochberg and Holm adjusted p-values over the use case's tests (var
-- analytics_features lists the features; the target-derived conversion_rate is never one).
with

tests as (

    select * from {{ ref('int_feature_target_tests') }}

),

{{ multiple_testing_adjustment('adjusted_tests', 'tests') }},

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
    from adjusted_tests

)

select * from final
