-- One row per scope (all customers / the test split) and segment: expected conversions under the
-- current and the recommended strategy as the MODEL claims them (sums of predicted probabilities),
-- the lift, and the most frequent recommended combination. The marketing document's table
-- (821 -> 1,039; high income 1.8 % -> 2.4 %; young adults 1.3 % -> 1.9 %) recomputed on our data.
-- Whether the lift is real is ml_policy_evaluation's question; on demo data the true_ columns
-- (from the generator's sidecar) show the real one.
with

recommendations as (

    select * from {{ ref('ml_recommendations') }}

),

recommendations_by_scope as (

    select
        'all' as scope,
        income_tier,
        age_group,
        recommended_channel_platform,
        current_probability,
        recommended_probability,
        has_truth,
        true_current_probability,
        true_recommended_probability
    from recommendations
    union all
    select
        'test' as scope,
        income_tier,
        age_group,
        recommended_channel_platform,
        current_probability,
        recommended_probability,
        has_truth,
        true_current_probability,
        true_recommended_probability
    from recommendations
    where split = 'test'

),

{#- (segment_type, segment label expression, row filter): the overall row, every income tier and
    age group, and the document's two segments - high income (the top income tier, above $80K)
    and young adults (the first age group, 18-29). #}
{%- set segments = [
    ('overall', "'all customers'", 'true'),
    ('income_tier', "coalesce(income_tier, '(missing)')", 'true'),
    ('age_group', "coalesce(age_group, '(missing)')", 'true'),
    ('document', "'high income'", "income_tier = '" ~ (var('income_tiers') | last).label ~ "'"),
    ('document', "'young adults'", "age_group = '" ~ (var('age_groups') | first).label ~ "'"),
] %}

recommendations_in_segments as (
    {% for segment_type, segment, row_filter in segments %}
    select
        scope,
        '{{ segment_type }}' as segment_type,
        {{ segment }} as segment,
        recommended_channel_platform,
        current_probability,
        recommended_probability,
        has_truth,
        true_current_probability,
        true_recommended_probability
    from recommendations_by_scope
    where {{ row_filter }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

segment_totals as (

    select
        scope,
        segment_type,
        segment,
        count(*) as customers,
        sum(current_probability) as expected_conversions_current,
        sum(recommended_probability) as expected_conversions_recommended,
        min(cast(has_truth as integer)) = 1 as has_truth,
        sum(true_current_probability) as true_conversions_current,
        sum(true_recommended_probability) as true_conversions_recommended
    from recommendations_in_segments
    group by scope, segment_type, segment

),

recommended_combinations_counted as (

    select
        scope,
        segment_type,
        segment,
        recommended_channel_platform,
        count(*) as recommended_customers
    from recommendations_in_segments
    group by scope, segment_type, segment, recommended_channel_platform

),

recommended_combinations_ranked as (

    select
        scope,
        segment_type,
        segment,
        recommended_channel_platform,
        recommended_customers,
        row_number() over (
            partition by scope, segment_type, segment
            order by recommended_customers desc, recommended_channel_platform asc
        ) as combination_rank
    from recommended_combinations_counted

),

final as (

    select
        segment_totals.scope,
        segment_totals.segment_type,
        segment_totals.segment,
        segment_totals.customers,
        segment_totals.expected_conversions_current,
        segment_totals.expected_conversions_recommended,
        segment_totals.expected_conversions_current / segment_totals.customers
            as current_conversion_rate,
        segment_totals.expected_conversions_recommended / segment_totals.customers
            as recommended_conversion_rate,
        segment_totals.expected_conversions_recommended
        - segment_totals.expected_conversions_current as absolute_lift_conversions,
        segment_totals.expected_conversions_recommended
        / nullif(segment_totals.expected_conversions_current, 0) - 1 as relative_lift,
        recommended_combinations_ranked.recommended_channel_platform
            as top_recommended_channel_platform,
        recommended_combinations_ranked.recommended_customers * 1.0 / segment_totals.customers
            as top_recommendation_share,
        true as is_model_claimed,
        segment_totals.has_truth,
        segment_totals.true_conversions_current,
        segment_totals.true_conversions_recommended,
        segment_totals.true_conversions_recommended
        / nullif(segment_totals.true_conversions_current, 0) - 1 as true_relative_lift
    from segment_totals
    inner join recommended_combinations_ranked
        on
            segment_totals.scope = recommended_combinations_ranked.scope
            and segment_totals.segment_type = recommended_combinations_ranked.segment_type
            and segment_totals.segment = recommended_combinations_ranked.segment
            and recommended_combinations_ranked.combination_rank = 1

)

select * from final
