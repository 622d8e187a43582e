{#- Drift gate on a PSI table (ml_psi): every variable of every comparison population must have a
    PSI at or below `threshold`. Returns each drifted row and names it in the build log. With
    `threshold` none (an unset var) the test is inactive and passes - so one instance can warn
    (severity warn, var psi_warn) and another fail the build only once var psi_error is set. -#}
{% test psi_below(model, threshold, column_name='psi', label='PSI DRIFT') %}
    {%- set sql -%}
with

measured as (

    select * from {{ model }}

),

final as (

    select
        use_case,
        population,
        variable_name,
        {{ column_name }} as psi
    from measured
    {%- if threshold is none or threshold == '' or threshold | lower == 'none' %}
    where false
    {%- else %}
    where {{ column_name }} > {{ threshold }}
    {%- endif %}

)

select * from final
    {%- endset -%}
    {{ leakproof_log_failures(sql ~ ' order by use_case, population, psi desc',
        label ~ ": {0} {1} - {2} has PSI {3:.4f} (threshold " ~ threshold ~ ")") }}
    {{ sql }}
{% endtest %}
