{#-
    Long (one row per unit x feature) values of a use case's features, for the analytics counts
    (int_feature_values_counted): use_case, feature, feature_value (double; kind 'numeric') or
    feature_category (varchar; kind 'categorical'), is_imputed and target. A select (several
    joined by union all); an empty feature list yields an empty select with the same columns.
    `imputed_flags` optionally maps a feature to the boolean column that flags an imputed value
    (default: never imputed).
-#}
{% macro unpivot_features(relation, use_case, target_column, features, kind, imputed_flags={}) -%}
    {%- set value_column = 'feature_value' if kind == 'numeric' else 'feature_category' -%}
    {%- set value_type = 'double' if kind == 'numeric' else leakproof_varchar() -%}
    {%- if kind not in ['numeric', 'categorical'] -%}
        {{ exceptions.raise_compiler_error("unpivot_features: kind must be numeric or categorical, got " ~ kind) }}
    {%- endif -%}
    {%- if features | length == 0 %}
    select
        cast('{{ use_case }}' as {{ leakproof_varchar() }}) as use_case,
        cast(null as {{ leakproof_varchar() }}) as feature,
        cast(null as {{ value_type }}) as {{ value_column }},
        cast(null as boolean) as is_imputed,
        cast(null as integer) as target
    from {{ relation }}
    where 1 = 0
    {%- endif %}
    {%- for feature in features %}
    select
        cast('{{ use_case }}' as {{ leakproof_varchar() }}) as use_case,
        cast('{{ feature }}' as {{ leakproof_varchar() }}) as feature,
        cast({{ feature }} as {{ value_type }}) as {{ value_column }},
        {%- if feature in imputed_flags %}
        coalesce({{ imputed_flags[feature] }}, false) as is_imputed,
        {%- else %}
        false as is_imputed,
        {%- endif %}
        cast({{ target_column }} as integer) as target
    from {{ relation }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
{%- endmacro %}


{#-
    Phase 1's statistical validation of feature-target relationships, for any number of use
    cases at once: CTEs ending in a CTE named `name`, one row per use_case x feature x test, from
    `value_counts` (one row per use_case x feature x value: feature_type, feature_value or
    feature_category, value_rows, positives, negatives - int_feature_values_counted), so every
    test is a pass over distinct values, never a sort of the rows.
      numeric features
        welch_t         Welch's t-test (scipy.stats.ttest_ind(equal_var=False)), effect size
                        Cohen's d with the pooled standard deviation;
        mann_whitney_u  Mann-Whitney U of the positives (scipy.stats.mannwhitneyu, two-sided,
                        asymptotic, tie-corrected, with continuity correction), effect size the
                        rank-biserial correlation 2U / (n1 n0) - 1;
      categorical features
        chi_square      Pearson's chi-square of the category x target table (scipy's
                        chi2_contingency(correction=False)), effect size Cramer's V.
    NULL values are left out of a test. Means and variances are two-pass sums over the distinct
    values; Mann-Whitney mid-ranks come from the running count of rows below each value.
    p-values: macros/analytics/distributions.sql. Multiple testing: multiple_testing_adjustment
    below (a macro of its own, so its unit test gives exact p-values on every engine).
-#}
{% macro feature_target_tests(name, value_counts) -%}
{{ name }}_numeric_values as (

    select
        use_case,
        feature,
        feature_value,
        sum(value_rows) as value_rows,
        sum(positives) as positives,
        sum(negatives) as negatives
    from {{ value_counts }}
    where feature_type = 'numeric' and feature_value is not null
    group by use_case, feature, feature_value

),

{{ name }}_numeric_sums as (

    select
        use_case,
        feature,
        sum(value_rows) as rows_tested,
        sum(positives) as positives,
        sum(negatives) as negatives,
        sum(positives * feature_value) / nullif(sum(positives), 0) as mean_positive,
        sum(negatives * feature_value) / nullif(sum(negatives), 0) as mean_negative
    from {{ name }}_numeric_values
    group by use_case, feature

),

{{ name }}_numeric_groups as (

    -- sample variances, two-pass: squared deviations from the group means
    select
        {{ name }}_numeric_sums.use_case,
        {{ name }}_numeric_sums.feature,
        {{ name }}_numeric_sums.rows_tested,
        {{ name }}_numeric_sums.positives,
        {{ name }}_numeric_sums.negatives,
        {{ name }}_numeric_sums.mean_positive,
        {{ name }}_numeric_sums.mean_negative,
        case
            when {{ name }}_numeric_sums.positives > 1
                then sum(
                    {{ name }}_numeric_values.positives
                    * power({{ name }}_numeric_values.feature_value - {{ name }}_numeric_sums.mean_positive, 2)
                ) / ({{ name }}_numeric_sums.positives - 1)
        end as variance_positive,
        case
            when {{ name }}_numeric_sums.negatives > 1
                then sum(
                    {{ name }}_numeric_values.negatives
                    * power({{ name }}_numeric_values.feature_value - {{ name }}_numeric_sums.mean_negative, 2)
                ) / ({{ name }}_numeric_sums.negatives - 1)
        end as variance_negative
    from {{ name }}_numeric_sums
    inner join {{ name }}_numeric_values
        on
            {{ name }}_numeric_sums.use_case = {{ name }}_numeric_values.use_case
            and {{ name }}_numeric_sums.feature = {{ name }}_numeric_values.feature
    group by
        {{ name }}_numeric_sums.use_case,
        {{ name }}_numeric_sums.feature,
        {{ name }}_numeric_sums.rows_tested,
        {{ name }}_numeric_sums.positives,
        {{ name }}_numeric_sums.negatives,
        {{ name }}_numeric_sums.mean_positive,
        {{ name }}_numeric_sums.mean_negative

),

{{ name }}_welch as (

    select
        *,
        case
            when variance_positive / positives + variance_negative / negatives > 0
                then (mean_positive - mean_negative)
                / sqrt(variance_positive / positives + variance_negative / negatives)
        end as t_statistic,
        case
            when variance_positive / positives + variance_negative / negatives > 0
                then power(variance_positive / positives + variance_negative / negatives, 2)
                / (
                    power(variance_positive / positives, 2) / (positives - 1)
                    + power(variance_negative / negatives, 2) / (negatives - 1)
                )
        end as welch_df,
        case
            when (positives - 1) * variance_positive + (negatives - 1) * variance_negative > 0
                then (mean_positive - mean_negative) / sqrt(
                    ((positives - 1) * variance_positive + (negatives - 1) * variance_negative)
                    / (positives + negatives - 2)
                )
        end as cohens_d
    from {{ name }}_numeric_groups

),

{{ student_t_p_values(name ~ '_welch_p', name ~ '_welch', ['use_case', 'feature'], 't_statistic', 'welch_df') }},

{{ name }}_ranked as (

    -- rows with a smaller value; a value's tied rows hold ranks rows_below + 1 .. + value_rows
    select
        use_case,
        feature,
        value_rows,
        positives,
        negatives,
        coalesce(sum(value_rows) over (
            partition by use_case, feature
            order by feature_value
            rows between unbounded preceding and 1 preceding
        ), 0) as rows_below
    from {{ name }}_numeric_values

),

{{ name }}_rank_sums as (

    select
        use_case,
        feature,
        cast(sum(positives) as double) as n_positive,
        cast(sum(negatives) as double) as n_negative,
        -- the mid-rank of a tie: rows_below + (ties + 1) / 2
        coalesce(
            sum(positives * (rows_below + cast(value_rows + 1 as double) / 2.0)), 0.0
        ) as positive_rank_sum,
        -- sum over tie groups of (t^3 - t)
        sum(cast(value_rows as double) * (cast(value_rows as double) * value_rows - 1.0))
            as tie_term
    from {{ name }}_ranked
    group by use_case, feature

),

{{ name }}_mann_whitney as (

    select
        use_case,
        feature,
        n_positive,
        n_negative,
        positive_rank_sum - n_positive * (n_positive + 1.0) / 2.0 as u_positive,
        n_positive * n_negative / 12.0 * (
            (n_positive + n_negative + 1.0)
            - tie_term / ((n_positive + n_negative) * (n_positive + n_negative - 1.0))
        ) as u_variance
    from {{ name }}_rank_sums

),

{{ name }}_mann_whitney_z as (

    select
        *,
        case
            when u_variance > 0
                then (
                    greatest(u_positive, n_positive * n_negative - u_positive)
                    - n_positive * n_negative / 2.0 - 0.5
                ) / sqrt(u_variance)
        end as z_statistic,
        case
            when n_positive > 0 and n_negative > 0
                then 2.0 * u_positive / (n_positive * n_negative) - 1.0
        end as rank_biserial
    from {{ name }}_mann_whitney

),

{{ name }}_category_counts as (

    select
        use_case,
        feature,
        feature_category,
        sum(value_rows) as category_rows,
        sum(positives) as positives,
        sum(negatives) as negatives
    from {{ value_counts }}
    where feature_type = 'categorical' and feature_category is not null
    group by use_case, feature, feature_category

),

{{ name }}_category_totals as (

    select
        *,
        sum(category_rows) over (partition by use_case, feature) as total_rows,
        sum(positives) over (partition by use_case, feature) as total_positives,
        sum(negatives) over (partition by use_case, feature) as total_negatives,
        count(*) over (partition by use_case, feature) as categories
    from {{ name }}_category_counts

),

{{ name }}_category_cells as (

    select
        *,
        cast(category_rows as double) * total_positives / total_rows as expected_positives,
        cast(category_rows as double) * total_negatives / total_rows as expected_negatives
    from {{ name }}_category_totals

),

{{ name }}_chi_square as (

    select
        use_case,
        feature,
        max(total_rows) as rows_tested,
        max(total_positives) as positives,
        max(total_negatives) as negatives,
        max(categories) - 1 as degrees_of_freedom,
        case
            when max(total_positives) > 0 and max(total_negatives) > 0 and max(categories) > 1
                then sum(
                    power(positives - expected_positives, 2) / expected_positives
                    + power(negatives - expected_negatives, 2) / expected_negatives
                )
        end as chi_square
    from {{ name }}_category_cells
    group by use_case, feature

),

{{ chi_square_p_values(name ~ '_chi_square_p', name ~ '_chi_square', ['use_case', 'feature'], 'chi_square', 'degrees_of_freedom') }},

{{ name }} as (

    select
        {{ name }}_chi_square.use_case,
        {{ name }}_chi_square.feature,
        'categorical' as feature_type,
        'chi_square' as test_name,
        {{ name }}_chi_square.rows_tested,
        {{ name }}_chi_square.positives,
        {{ name }}_chi_square.negatives,
        {{ name }}_chi_square.chi_square as statistic,
        cast({{ name }}_chi_square.degrees_of_freedom as double) as degrees_of_freedom,
        {{ name }}_chi_square_p.p_value,
        sqrt({{ name }}_chi_square.chi_square / {{ name }}_chi_square.rows_tested) as effect_size,
        'cramers_v' as effect_size_measure,
        cast(null as double) as mean_positive,
        cast(null as double) as mean_negative
    from {{ name }}_chi_square
    left join {{ name }}_chi_square_p
        on
            {{ name }}_chi_square.use_case = {{ name }}_chi_square_p.use_case
            and {{ name }}_chi_square.feature = {{ name }}_chi_square_p.feature
    union all
    select
        {{ name }}_welch.use_case,
        {{ name }}_welch.feature,
        'numeric' as feature_type,
        'welch_t' as test_name,
        {{ name }}_welch.rows_tested,
        {{ name }}_welch.positives,
        {{ name }}_welch.negatives,
        {{ name }}_welch.t_statistic as statistic,
        {{ name }}_welch.welch_df as degrees_of_freedom,
        {{ name }}_welch_p.p_value,
        {{ name }}_welch.cohens_d as effect_size,
        'cohens_d' as effect_size_measure,
        {{ name }}_welch.mean_positive,
        {{ name }}_welch.mean_negative
    from {{ name }}_welch
    left join {{ name }}_welch_p
        on
            {{ name }}_welch.use_case = {{ name }}_welch_p.use_case
            and {{ name }}_welch.feature = {{ name }}_welch_p.feature
    union all
    select
        {{ name }}_mann_whitney_z.use_case,
        {{ name }}_mann_whitney_z.feature,
        'numeric' as feature_type,
        'mann_whitney_u' as test_name,
        {{ name }}_welch.rows_tested,
        {{ name }}_welch.positives,
        {{ name }}_welch.negatives,
        {{ name }}_mann_whitney_z.u_positive as statistic,
        cast(null as double) as degrees_of_freedom,
        case
            when {{ name }}_mann_whitney_z.z_statistic is not null
                then least(1.0, 2.0 * {{ normal_sf(name ~ '_mann_whitney_z.z_statistic') }})
        end as p_value,
        {{ name }}_mann_whitney_z.rank_biserial as effect_size,
        'rank_biserial' as effect_size_measure,
        {{ name }}_welch.mean_positive,
        {{ name }}_welch.mean_negative
    from {{ name }}_mann_whitney_z
    inner join {{ name }}_welch
        on
            {{ name }}_mann_whitney_z.use_case = {{ name }}_welch.use_case
            and {{ name }}_mann_whitney_z.feature = {{ name }}_welch.feature

)
{%- endmacro %}


{#-
    Multiple testing over all tests of the same use case: CTEs ending in a CTE named `name`, the
    rows of `tests` (use_case, feature, test_name, p_value, ...) with tests_in_family (m, the
    tests with a p-value), Benjamini-Hochberg (p_value_bh) and Holm (p_value_holm) adjusted
    p-values. p <= BH <= Holm holds by construction: BH <= Holm in exact arithmetic, and rounding
    of p * m / k can break it by an ulp, so BH is capped at Holm.
-#}
{% macro multiple_testing_adjustment(name, tests) -%}
{{ name }}_ordered as (

    select
        *,
        count(p_value) over (partition by use_case) as tests_in_family,
        row_number() over (
            partition by use_case, p_value is null
            order by p_value, feature, test_name
        ) as p_value_order
    from {{ tests }}

),

{{ name }}_adjusted as (

    select
        *,
        case
            when p_value is not null
                -- never below p itself (p * m / m can round a hair under p)
                then greatest(p_value, least(1.0, min(p_value * tests_in_family / p_value_order) over (
                    partition by use_case, p_value is null
                    order by p_value desc, feature desc, test_name desc
                    rows between unbounded preceding and current row
                )))
        end as p_value_bh_uncapped,
        case
            when p_value is not null
                then least(1.0, max(p_value * (tests_in_family - p_value_order + 1)) over (
                    partition by use_case, p_value is null
                    order by p_value, feature, test_name
                    rows between unbounded preceding and current row
                ))
        end as p_value_holm
    from {{ name }}_ordered

),

{{ name }} as (

    -- BH <= Holm in exact arithmetic (m / k <= m - k + 1); p * m / m can round an ulp above the
    -- Holm value of the same p, so cap it: p <= BH <= Holm holds by construction
    select
        *,
        least(p_value_bh_uncapped, p_value_holm) as p_value_bh
    from {{ name }}_adjusted

)
{%- endmacro %}
