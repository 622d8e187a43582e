{{ config(materialized='table') }}
-- One row per use case x feature x value (x imputed flag) over LABELLED rows (train + test) of
-- every use case: how many rows carry the value, and how many of them are positives / negatives.
-- The features are the ones each use case declares (as prepared: a capped column under its
-- capped name); NULL values (feature_value / feature_category) are a row of their own; a value
-- filled in by imputation is flagged is_imputed. Both analytics marts (fct_feature_target_tests,
-- fct_response_rate_bins) read these counts instead of the rows: far fewer rows (most features
-- take a few hundred values), and one scan of each use case for both. A table, so the marts and
-- their tests read it without re-running the intermediate chain.
with

{% for use_case in leakproof_use_cases() -%}
{%- set features = leakproof_analytics_features(use_case) -%}
{{ use_case }}__labelled as (

    select * from {{ ref('int_' ~ use_case ~ '__prepared') }}
    where split in ('train', 'test')

),

{{ use_case }}__numeric as (
    {{ unpivot_features(
        use_case ~ '__labelled', use_case, features.target, features.numeric, 'numeric',
        imputed_flags=features.imputed_flags
    ) }}
),

{{ use_case }}__categorical as (
    {{ unpivot_features(
        use_case ~ '__labelled', use_case, features.target, features.categorical, 'categorical'
    ) }}
),

{% endfor -%}
labelled_values as (
    {% for use_case in leakproof_use_cases() %}
    select
        use_case,
        feature,
        'numeric' as feature_type,
        feature_value,
        cast(null as {{ leakproof_varchar() }}) as feature_category,
        is_imputed,
        target
    from {{ use_case }}__numeric
    union all
    select
        use_case,
        feature,
        'categorical' as feature_type,
        cast(null as double) as feature_value,
        feature_category,
        is_imputed,
        target
    from {{ use_case }}__categorical
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
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
