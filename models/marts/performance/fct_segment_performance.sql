-- One row per use case x segment (a declared band: age group, income tier, company size band,
-- ...) x breakdown cell: the segment alone (dimension '(all)'), crossed with each analytics
-- dimension, and with the what-if arm when the use case varies two or more treatments - complete
-- grids. Shares, the overall rate and the rank are within segment_type x dimension (every row
-- counts once there); rate_relative_to_segment and rank_within_segment compare a cell with its own
-- segment ("what works for high-income customers?").
{%- set use_cases = leakproof_use_cases_with('segments') %}

with

{% for use_case_name in use_cases -%}
{%- set use_case = leakproof_use_case(use_case_name) if execute else none -%}
{%- set breakdowns = [{'name': '(all)', 'sql': "'(all)'", 'values': []}]
    + (leakproof_segment_breakdowns(use_case) if execute else []) -%}
{%- set spend = use_case.spend if execute else none -%}
{{ use_case_name }}__labelled as (

    select * from {{ ref('int_' ~ use_case_name ~ '__prepared') }}
    where split in ('train', 'test')

),

{#- the labelled rows counted once per combination of segment and breakdown values, so the
    fan-out below (every segment x every breakdown) repeats groups, not rows #}
{%- set grouped = [] -%}
{%- set segments = use_case.segments if execute else [] -%}
{%- for _ in segments %}{% do grouped.append('segment__' ~ loop.index) %}{% endfor -%}
{%- for _ in breakdowns[1:] %}{% do grouped.append('breakdown__' ~ (loop.index + 1)) %}{% endfor %}
{{ use_case_name }}__grouped as (

    select
        {%- for segment in (use_case.segments if execute else []) %}
        cast({{ segment }} as {{ leakproof_varchar() }}) as segment__{{ loop.index }},
        {%- endfor %}
        {%- for breakdown in breakdowns[1:] %}
        cast({{ breakdown.sql }} as {{ leakproof_varchar() }}) as breakdown__{{ loop.index + 1 }},
        {%- endfor %}
        count(*) as units,
        sum({{ use_case.target if execute else 'null' }}) as positives{% if spend %},
        sum(cast({{ spend }} as double)) as spend{% endif %}
    from {{ use_case_name }}__labelled
    group by {{ grouped | join(', ') }}

),

{{ use_case_name }}__by_segment as (
    {%- for segment in (use_case.segments if execute else []) %}
    {%- set outer = loop %}
    {%- for breakdown in breakdowns %}
    select
        '{{ segment }}' as segment_type,
        segment__{{ outer.index }} as segment_value,
        '{{ breakdown.name }}' as dimension,
        {{ "'(all)'" if loop.first else 'breakdown__' ~ loop.index }} as dimension_value,
        units,
        positives as positive{% if spend %},
        spend{% endif %}
    from {{ use_case_name }}__grouped
    {% if not (outer.last and loop.last) %}union all{% endif %}
    {%- endfor %}
    {%- endfor %}
),

{{ use_case_name }}__known_segments as (
    {{ leakproof_segment_values(use_case) }}
),

{{ use_case_name }}__known_segment_values as (

    select
        segment_type,
        segment_value
    from {{ use_case_name }}__known_segments

),

{{ use_case_name }}__known_breakdowns as (

    select
        '(all)' as dimension,
        '(all)' as dimension_value
    union all
    select
        dimension,
        dimension_value
    from ({{ leakproof_known_values(breakdowns) }})

),

{{ group_performance(
    use_case_name ~ '__segments',
    use_case_name ~ '__by_segment',
    dimensions=[
        {
            'name': 'segment',
            'columns': ['segment_type', 'segment_value'],
            'values': use_case_name ~ '__known_segment_values',
        },
        {
            'name': 'breakdown',
            'columns': ['dimension', 'dimension_value'],
            'values': use_case_name ~ '__known_breakdowns',
        },
    ],
    event_column='positive',
    spend_column='spend' if spend else none,
    partition_by=['segment_type', 'dimension'],
    units_column='units'
) }},

{{ use_case_name }}__segment_rates as (

    select
        segment_type,
        segment_value,
        event_rate as segment_positive_rate
    from {{ use_case_name }}__segments
    where dimension = '(all)'

),

{{ use_case_name }}__rated as (

    select
        '{{ use_case_name }}' as use_case,
        cells.segment_type,
        cells.segment_value,
        known.segment_order,
        cells.dimension,
        cells.dimension_value,
        cells.is_known_category,
        cast(cells.units as bigint) as labelled_rows,
        cast(cells.events as bigint) as positives,
        cells.event_rate as positive_rate,
        cells.event_rate_ci_lower as positive_rate_ci_lower,
        cells.event_rate_ci_upper as positive_rate_ci_upper,
        {%- if spend %}
        cells.total_spend,
        cells.cost_per_event as cost_per_positive,
        {%- else %}
        cast(null as double) as total_spend,
        cast(null as double) as cost_per_positive,
        {%- endif %}
        cells.unit_share as row_share,
        cells.overall_event_rate as overall_positive_rate,
        segment_rates.segment_positive_rate,
        case
            when segment_rates.segment_positive_rate > 0
                then cells.event_rate / segment_rates.segment_positive_rate
        end as rate_relative_to_segment,
        cast(cells.event_rate_rank as bigint) as positive_rate_rank,
        cast(case
            when cells.units > 0
                then rank() over (
                    partition by
                        cells.segment_type,
                        cells.segment_value,
                        cells.dimension,
                        cells.units > 0
                    order by cells.event_rate desc
                )
        end as bigint) as rank_within_segment,
        cells.is_below_min_sample
    from {{ use_case_name }}__segments as cells
    left join {{ use_case_name }}__segment_rates as segment_rates
        on
            cells.segment_type = segment_rates.segment_type
            and cells.segment_value = segment_rates.segment_value
    left join {{ use_case_name }}__known_segments as known
        on
            cells.segment_type = known.segment_type
            and cells.segment_value = known.segment_value

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
        cast(null as {{ leakproof_varchar() }}) as segment_type,
        cast(null as {{ leakproof_varchar() }}) as segment_value,
        cast(null as integer) as segment_order,
        cast(null as {{ leakproof_varchar() }}) as dimension,
        cast(null as {{ leakproof_varchar() }}) as dimension_value,
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
        cast(null as double) as segment_positive_rate,
        cast(null as double) as rate_relative_to_segment,
        cast(null as bigint) as positive_rate_rank,
        cast(null as bigint) as rank_within_segment,
        cast(null as boolean) as is_below_min_sample
    where false
    {%- endif %}
)

select * from final
