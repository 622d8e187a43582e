-- One row per use case with what-if treatments x arm (every combination of the treatments'
-- declared values, crossed - the complete grid, empty arms explicit with 0 rows - plus any unknown
-- value observed): the rate table of the arms the what-if engine varies (for the marketing
-- document, the 7 x 7 channel x platform grid).
{%- set use_cases = leakproof_use_cases_with('treatments') %}

with

{% for use_case_name in use_cases -%}
{%- set use_case = leakproof_use_case(use_case_name) if execute else none -%}
{%- set treatments = use_case.treatments if execute else ['null'] -%}
{%- set spend = use_case.spend if execute else none -%}
{{ use_case_name }}__labelled as (

    select
        {%- for treatment in treatments %}
        cast({{ treatment }} as {{ leakproof_varchar() }}) as treatment_{{ loop.index }},
        {%- endfor %}
        {{ use_case.target if execute else 'null' }} as positive{% if spend %},
        {{ spend }} as spend{% endif %}
    from {{ ref('int_' ~ use_case_name ~ '__prepared') }}
    where split in ('train', 'test')

),
{%- set dimensions = [] %}
{%- for treatment in treatments %}
{%- set declared = leakproof_declared_column(use_case, treatment) if execute else {} %}
{%- set values = declared.accepted_values or [] %}

{%- set column = 'treatment_' ~ loop.index %}

{{ use_case_name }}__{{ column }}_values as (
    {{ leakproof_value_rows(column, values) }}
),
{%- do dimensions.append({
    'name': column,
    'columns': [column],
    'values': use_case_name ~ '__' ~ column ~ '_values',
}) %}
{%- endfor %}

{{ group_performance(
    use_case_name ~ '__arms',
    use_case_name ~ '__labelled',
    dimensions=dimensions,
    event_column='positive',
    spend_column='spend' if spend else none
) }},

{{ use_case_name }}__rated as (

    select
        '{{ use_case_name }}' as use_case,
        '{{ treatments | join(" + ") }}' as treatments,
        {{ leakproof_arm_label(treatments | length) }} as arm,
        is_known_category,
        cast(units as bigint) as labelled_rows,
        cast(events as bigint) as positives,
        event_rate as positive_rate,
        event_rate_ci_lower as positive_rate_ci_lower,
        event_rate_ci_upper as positive_rate_ci_upper,
        {%- if spend %}
        total_spend,
        cost_per_event as cost_per_positive,
        {%- else %}
        cast(null as double) as total_spend,
        cast(null as double) as cost_per_positive,
        {%- endif %}
        unit_share as row_share,
        overall_event_rate as overall_positive_rate,
        rate_relative_to_overall,
        cast(event_rate_rank as bigint) as positive_rate_rank,
        is_below_min_sample,
        is_best_cell as is_best,
        rate_gap_to_best,
        gap_to_best_p_value_adjusted,
        is_gap_to_best_significant
    from {{ use_case_name }}__arms

),

{% endfor -%}
final as (
    {%- for use_case_name in use_cases %}
    select * from {{ use_case_name }}__rated
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
    {%- if not use_cases %}
    select
        cast(null as {{ leakproof_varchar() }}) as use_case,
        cast(null as {{ leakproof_varchar() }}) as treatments,
        cast(null as {{ leakproof_varchar() }}) as arm,
        cast(null as boolean) as is_known_category,
        cast(null as bigint) as labelled_rows,
        cast(null as bigint) as positives,
        cast(null as double) as positive_rate,
        cast(null as double) as positive_rate_ci_lower,
        cast(null as double) as positive_rate_ci_upper,
        cast(null as double) as total_spend,
        cast(null as double) as cost_per_positive,
        cast(null as double) as row_share,
        cast(null as double) as overall_positive_rate,
        cast(null as double) as rate_relative_to_overall,
        cast(null as bigint) as positive_rate_rank,
        cast(null as boolean) as is_below_min_sample,
        cast(null as boolean) as is_best,
        cast(null as double) as rate_gap_to_best,
        cast(null as double) as gap_to_best_p_value_adjusted,
        cast(null as boolean) as is_gap_to_best_significant
    where false
    {%- endif %}
)

select * from final
