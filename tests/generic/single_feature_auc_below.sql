{#- Leakage guard: no single feature column separates the target too well on its own. For every
    numeric / boolean feature the AUC of its values (direction-free: max(AUC, 1 - AUC)); for every
    categorical feature the AUC of its categories' target rates. Rows with a NULL feature value
    are left out (missingness_does_not_predict_target covers them). Returns each feature whose AUC
    exceeds `ceiling`, and names it in the build log. Labelled rows, sampled beyond `sample_rows`. -#}
{% test single_feature_auc_below(model, ceiling, target=none, use_case=none, sample_rows=20000) %}
    {%- set target = leakproof_test_target(target, use_case) -%}
    {%- set kinds = leakproof_feature_columns(model, use_case) if execute else {'numeric': [], 'boolean': [], 'categorical': []} -%}
    {%- set numeric = kinds['numeric'] + kinds['boolean'] -%}
    {%- set categorical = kinds['categorical'] -%}
    {%- set sql -%}
with

labelled as (

    {{ leakproof_labelled_sample(model, target, sample_rows) }}

),

long_values as (

    select
        'none' as feature,
        0.0 as feature_value,
        0 as target_value
    where false
    {%- for column in numeric %}
    union all
    select
        '{{ column }}' as feature,
        cast({{ column }} as double) as feature_value,
        {{ target }} as target_value
    from labelled
    where {{ column }} is not null
    {%- endfor %}
    {%- for column in categorical %}
    union all
    select
        '{{ column }}' as feature,
        avg({{ target }}) over (partition by {{ column }}) as feature_value,
        {{ target }} as target_value
    from labelled
    where {{ column }} is not null
    {%- endfor %}

),

by_value as (

    select
        feature,
        feature_value,
        count(*) filter (where target_value = 1) as positives,
        count(*) filter (where target_value = 0) as negatives
    from long_values
    group by feature, feature_value

),

cumulated as (

    select
        feature,
        positives,
        negatives,
        coalesce(sum(negatives) over (
            partition by feature order by feature_value
            rows between unbounded preceding and 1 preceding
        ), 0) as negatives_below
    from by_value

),

auc as (

    select
        feature,
        sum(positives * (negatives_below + 0.5 * negatives))
        / nullif(sum(positives) * sum(negatives), 0) as auc
    from cumulated
    group by feature

),

final as (

    select
        feature,
        greatest(auc, 1 - auc) as single_feature_auc
    from auc
    where greatest(auc, 1 - auc) > {{ ceiling }}

)

select * from final
    {%- endset -%}
    {{ leakproof_log_failures(sql,
        "LEAKAGE GUARD: " ~ model.identifier ~ ".{0} alone predicts " ~ target ~ " with AUC {1:.4f} (ceiling " ~ ceiling ~ ")") }}
    {{ sql }}
{% endtest %}
