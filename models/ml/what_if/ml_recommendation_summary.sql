-- One row per what-if use case, scope (all rows / the test split) and segment: expected positives
-- under the current and the recommended arm as the MODEL claims them (sums of predicted
-- probabilities), the lift, and the most frequently recommended arm. Segments: every row, each
-- value of the use case's support segments, and the segments its declaration names
-- (what_if.summary_segments, e.g. the marketing document's high income and young adults). The
-- marketing document's table (821 -> 1,039; high income 1.8 % -> 2.4 %) recomputed on our data.
-- Whether the lift is real is ml_policy_evaluation's question; on demo data the true_ columns
-- (from the generator's sidecar) show the real one.
{%- set use_cases = leakproof_use_cases_with('treatments') %}

with

recommendations as (

    select * from {{ ref('ml_recommendations') }}

),

{% for use_case_name in use_cases -%}
{{ use_case_name }}__features as (

    select
        * exclude (entity_key, split),
        entity_key as feature_entity_key,
        split as feature_split
    from {{ ref('ml_' ~ use_case_name ~ '_features') }}

),

{{ use_case_name }}__scoped as (

    select
        recommendations.*,
        features.*
    from recommendations
    inner join {{ use_case_name }}__features as features
        on
            recommendations.entity_key = features.feature_entity_key
            and recommendations.split = features.feature_split
    where recommendations.use_case = '{{ use_case_name }}'

),

{{ use_case_name }}__in_segments as (
    {%- for scope in ['all', 'test'] %}
    {%- set outer = loop %}
    {%- for segment_type, segment, predicate in leakproof_summary_segments(use_case_name) %}
    select
        '{{ use_case_name }}' as use_case,
        '{{ scope }}' as scope,
        '{{ segment_type }}' as segment_type,
        {{ segment }} as segment,
        recommended_arm,
        current_probability,
        recommended_probability,
        has_truth,
        true_current_probability,
        true_recommended_probability
    from {{ use_case_name }}__scoped
    where ({{ predicate }}){{ " and split = 'test'" if scope == 'test' }}
    {% if not (outer.last and loop.last) %}union all{% endif %}
    {%- endfor %}
    {%- endfor %}
),

{% endfor -%}
recommendations_in_segments as (
    {%- for use_case_name in use_cases %}
    select * from {{ use_case_name }}__in_segments
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
    {%- if not use_cases %}
    select
        cast(null as varchar) as use_case,
        cast(null as varchar) as scope,
        cast(null as varchar) as segment_type,
        cast(null as varchar) as segment,
        cast(null as varchar) as recommended_arm,
        cast(null as double) as current_probability,
        cast(null as double) as recommended_probability,
        cast(null as boolean) as has_truth,
        cast(null as double) as true_current_probability,
        cast(null as double) as true_recommended_probability
    where false
    {%- endif %}
),

segment_totals as (

    select
        use_case,
        scope,
        segment_type,
        segment,
        count(*) as segment_rows,
        sum(current_probability) as expected_positives_current,
        sum(recommended_probability) as expected_positives_recommended,
        min(cast(has_truth as integer)) = 1 as has_truth,
        sum(true_current_probability) as true_positives_current,
        sum(true_recommended_probability) as true_positives_recommended
    from recommendations_in_segments
    group by use_case, scope, segment_type, segment

),

recommended_arms_counted as (

    select
        use_case,
        scope,
        segment_type,
        segment,
        recommended_arm,
        count(*) as recommended_rows
    from recommendations_in_segments
    group by use_case, scope, segment_type, segment, recommended_arm

),

recommended_arms_ranked as (

    select
        *,
        row_number() over (
            partition by use_case, scope, segment_type, segment
            order by recommended_rows desc, recommended_arm asc
        ) as arm_rank
    from recommended_arms_counted

),

final as (

    select
        segment_totals.use_case,
        segment_totals.scope,
        segment_totals.segment_type,
        segment_totals.segment,
        segment_totals.segment_rows,
        segment_totals.expected_positives_current,
        segment_totals.expected_positives_recommended,
        segment_totals.expected_positives_current / segment_totals.segment_rows
            as current_positive_rate,
        segment_totals.expected_positives_recommended / segment_totals.segment_rows
            as recommended_positive_rate,
        segment_totals.expected_positives_recommended
        - segment_totals.expected_positives_current as absolute_lift_positives,
        segment_totals.expected_positives_recommended
        / nullif(segment_totals.expected_positives_current, 0) - 1 as relative_lift,
        recommended_arms_ranked.recommended_arm as top_recommended_arm,
        recommended_arms_ranked.recommended_rows * 1.0 / segment_totals.segment_rows
            as top_recommendation_share,
        true as is_model_claimed,
        segment_totals.has_truth,
        segment_totals.true_positives_current,
        segment_totals.true_positives_recommended,
        segment_totals.true_positives_recommended
        / nullif(segment_totals.true_positives_current, 0) - 1 as true_relative_lift
    from segment_totals
    inner join recommended_arms_ranked
        on
            segment_totals.use_case = recommended_arms_ranked.use_case
            and segment_totals.scope = recommended_arms_ranked.scope
            and segment_totals.segment_type = recommended_arms_ranked.segment_type
            and segment_totals.segment = recommended_arms_ranked.segment
            and recommended_arms_ranked.arm_rank = 1

)

select * from final
