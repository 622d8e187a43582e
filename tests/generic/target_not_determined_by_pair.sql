{#- Leakage guard: no two numeric features together determine the target - the CPA_Proxy case,
    where AdSpend / CPA_Proxy = Conversion + 1. For every pair (a, b), the ratio a / b and the
    difference a - b are rounded (to `digits` decimals) and grouped; the pair determines the
    target when the values shared by at least `min_group_rows` rows cover at least `min_coverage`
    of the rows, those groups are pure (at most `max_mixed_share` of their rows sit in a group
    with both outcomes) and both outcomes occur. Continuous honest pairs share almost no values;
    discrete honest pairs share values but mix the outcomes. Labelled rows, sampled. -#}
{% test target_not_determined_by_pair(
    model, target=none, use_case=none, sample_rows=5000, digits=6, min_group_rows=10, min_coverage=0.9,
    max_mixed_share=0.001
) %}
    {%- set target = leakproof_test_target(target, use_case) -%}
    {%- set kinds = leakproof_feature_columns(model, use_case) if execute else {'numeric': []} -%}
    {%- set numeric = kinds['numeric'] -%}
    {%- set sql -%}
with

labelled as (

    select
        {{ leakproof_row_number() }} as row_key,
        *
    from ({{ leakproof_labelled_sample(model, target, sample_rows) }})

),

long_values as (

    select
        0 as row_key,
        'none' as feature,
        0.0 as feature_value,
        0 as target_value
    where false
    {%- for column in numeric %}
    union all
    select
        row_key,
        '{{ column }}' as feature,
        cast({{ column }} as double) as feature_value,
        {{ target }} as target_value
    from labelled
    where {{ column }} is not null
    {%- endfor %}

),

pairs as (

    select
        first_value.feature as feature_a,
        second_value.feature as feature_b,
        first_value.target_value,
        round(first_value.feature_value / nullif(second_value.feature_value, 0), {{ digits }})
            as ratio_value,
        round(first_value.feature_value - second_value.feature_value, {{ digits }})
            as difference_value
    from long_values as first_value
    inner join long_values as second_value
        on
            first_value.row_key = second_value.row_key
            and first_value.feature < second_value.feature

),

transformed as (

    select
        feature_a,
        feature_b,
        'ratio' as transform,
        ratio_value as transformed_value,
        target_value
    from pairs
    where ratio_value is not null
    union all
    select
        feature_a,
        feature_b,
        'difference' as transform,
        difference_value as transformed_value,
        target_value
    from pairs

),

groups as (

    select
        feature_a,
        feature_b,
        transform,
        transformed_value,
        count(*) as group_rows,
        count(*) filter (where target_value = 1) as group_positives
    from transformed
    group by feature_a, feature_b, transform, transformed_value

),

by_pair as (

    select
        feature_a,
        feature_b,
        transform,
        sum(group_rows) as pair_rows,
        sum(group_rows) filter (where group_rows >= {{ min_group_rows }}) as covered_rows,
        sum(group_rows) filter (
            where group_rows >= {{ min_group_rows }}
            and group_positives > 0 and group_positives < group_rows
        ) as mixed_rows,
        count(*) filter (
            where group_rows >= {{ min_group_rows }} and group_positives = group_rows
        ) as pure_positive_groups,
        count(*) filter (
            where group_rows >= {{ min_group_rows }} and group_positives = 0
        ) as pure_negative_groups
    from groups
    group by feature_a, feature_b, transform

),

final as (

    select
        feature_a,
        feature_b,
        transform,
        covered_rows * 1.0 / pair_rows as coverage,
        coalesce(mixed_rows, 0) * 1.0 / covered_rows as mixed_share
    from by_pair
    where
        covered_rows >= {{ min_coverage }} * pair_rows
        and coalesce(mixed_rows, 0) <= {{ max_mixed_share }} * covered_rows
        and pure_positive_groups > 0
        and pure_negative_groups > 0

)

select * from final
    {%- endset -%}
    {{ leakproof_log_failures(sql,
        "LEAKAGE GUARD: " ~ model.identifier ~ ".{0} and {1} together determine " ~ target ~ " (their {2} takes few values, each with one outcome)") }}
    {{ sql }}
{% endtest %}
