{#- Quality gates on an evaluation summary: for each use case in `gates` (e.g.
    {marketing: {min_auc: 0.6, min_test_positives: 30, calibration_slope: [0.5, 1.5],
    calibration_intercept: [-1, 1]}}; default: every use case's declared gates over var
    quality_gates), the `split` rows must reach the AUC floor, have enough
    positives, and a calibration slope and intercept inside their ranges. Returns one row per
    failed gate and names it in the build log. -#}
{% test passes_quality_gates(model, gates=none, split='test') %}
    {%- set gates = gates if gates is not none else (leakproof_quality_gates() if execute else {}) -%}
    {%- set sql -%}
with

evaluated as (

    select * from {{ model }}
    where split = '{{ split }}'

),

failed_gates as (

    select
        'none' as use_case,
        'none' as gate,
        0.0 as observed,
        'none' as required
    where false
    {%- for use_case, gate in gates.items() %}
    union all
    select
        use_case,
        'auc' as gate,
        auc as observed,
        '>= {{ gate.min_auc }}' as required
    from evaluated
    where use_case = '{{ use_case }}' and not coalesce(auc >= {{ gate.min_auc }}, false)
    union all
    select
        use_case,
        'positives' as gate,
        positives as observed,
        '>= {{ gate.min_test_positives }}' as required
    from evaluated
    where use_case = '{{ use_case }}' and not coalesce(positives >= {{ gate.min_test_positives }}, false)
    union all
    select
        use_case,
        'calibration_slope' as gate,
        calibration_slope as observed,
        'in [{{ gate.calibration_slope[0] }}, {{ gate.calibration_slope[1] }}]' as required
    from evaluated
    where
        use_case = '{{ use_case }}'
        and not coalesce(
            calibration_slope between {{ gate.calibration_slope[0] }} and {{ gate.calibration_slope[1] }},
            false
        )
    union all
    select
        use_case,
        'calibration_intercept' as gate,
        calibration_intercept as observed,
        'in [{{ gate.calibration_intercept[0] }}, {{ gate.calibration_intercept[1] }}]' as required
    from evaluated
    where
        use_case = '{{ use_case }}'
        and not coalesce(
            calibration_intercept
            between {{ gate.calibration_intercept[0] }} and {{ gate.calibration_intercept[1] }},
            false
        )
    union all
    -- a use case with no evaluated rows fails every gate
    select
        '{{ use_case }}' as use_case,
        'evaluated' as gate,
        0.0 as observed,
        'a {{ split }} split' as required
    where not exists (select 1 from evaluated where use_case = '{{ use_case }}')
    {%- endfor %}

),

final as (

    select * from failed_gates

)

select * from final
    {%- endset -%}
    {{ leakproof_log_failures(sql, "QUALITY GATE: {0} {1} = {2} (required {3})") }}
    {{ sql }}
{% endtest %}
