-- One row per use case x feature x statistical test, before multiple testing: chi-square for
-- categorical features, Welch's t-test and Mann-Whitney U for numeric ones, with statistic,
-- unadjusted p-value and effect size (macros/analytics/feature_tests.sql), from the value counts
-- of int_feature_values_counted. fct_feature_target_tests adds the adjusted p-values.
with

value_counts as (

    select * from {{ ref('int_feature_values_counted') }}

),

{{ feature_target_tests('feature_tests', 'value_counts') }},

final as (

    select * from feature_tests

)

select * from final
