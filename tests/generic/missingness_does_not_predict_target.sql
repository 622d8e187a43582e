{#- Leakage guard: whether a column is NULL must not predict the target (a post-outcome field that
    is filled in only after a conversion). For every column with NULLs among labelled rows, the AUC
    of its is-NULL indicator, direction-free; returns each above `ceiling`. -#}
{% test missingness_does_not_predict_target(model, ceiling, target=none, use_case=none, sample_rows=20000) %}
    {%- set target = leakproof_test_target(target, use_case) -%}
    {%- set kinds = leakproof_feature_columns(model, use_case) if execute else {'numeric': [], 'boolean': [], 'categorical': []} -%}
    {%- set columns = kinds['numeric'] + kinds['boolean'] + kinds['categorical'] -%}
    {%- set sql -%}
with

labelled as (

    {{ leakproof_labelled_sample(model, target, sample_rows) }}

),

rates as (

    select
        'none' as feature,
        0.0 as null_share_of_positives,
        0.0 as null_share_of_negatives
    where false
    {%- for column in columns %}
    union all
    select
        '{{ column }}' as feature,
        avg(case when {{ column }} is null then 1.0 else 0.0 end) filter (where {{ target }} = 1),
        avg(case when {{ column }} is null then 1.0 else 0.0 end) filter (where {{ target }} = 0)
    from labelled
    {%- endfor %}

),

auc as (

    -- the AUC of a 0/1 score: (1 + TPR - FPR) / 2
    select
        feature,
        0.5 + 0.5 * abs(null_share_of_positives - null_share_of_negatives) as missingness_auc
    from rates

),

final as (

    select
        feature,
        missingness_auc
    from auc
    where missingness_auc > {{ ceiling }}

)

select * from final
    {%- endset -%}
    {{ leakproof_log_failures(sql,
        "LEAKAGE GUARD: " ~ model.identifier ~ ".{0} is NULL in a way that predicts " ~ target ~ " (AUC {1:.4f}, ceiling " ~ ceiling ~ ")") }}
    {{ sql }}
{% endtest %}
