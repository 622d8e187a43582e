-- One row per use case x analytics dimension x value (every known value - a declared category,
-- a segment band - plus any value observed): labelled rows, positives, the positive rate with its
-- Wilson interval, spend and cost per positive where the use case declares spend, shares, rank,
-- a minimum-sample flag, and the gap to the best value with a Bonferroni-adjusted z-test. The
-- channel / platform / tool / campaign-type tables of the marketing document and the B2B
-- document's response rates by industry, region, size band and renewal window are each a slice.
with

{% for use_case_name in leakproof_use_cases() -%}
{%- set use_case = leakproof_use_case(use_case_name) if execute else none -%}
{%- set dimensions = leakproof_dimensions(use_case) if execute else [] -%}
{%- set spend = use_case.spend if execute else none -%}
{{ use_case_name }}__labelled as (

    select * from {{ ref('int_' ~ use_case_name ~ '__prepared') }}
    where split in ('train', 'test')

),

{#- the labelled rows counted once per combination of dimension values, so the fan-out below
    (one copy per dimension) repeats groups, not rows #}
{{ use_case_name }}__grouped as (

    select
        {%- for dimension in dimensions %}
        cast({{ dimension.sql }} as {{ leakproof_varchar() }}) as dimension__{{ loop.index }},
        {%- endfor %}
        count(*) as units,
        sum({{ use_case.target if execute else 'null' }}) as positives{% if spend %},
        sum(cast({{ spend }} as double)) as spend{% endif %}
    from {{ use_case_name }}__labelled
    {%- set grouped = [] %}
    {%- for dimension in dimensions %}
    {%- do grouped.append('dimension__' ~ loop.index) %}
    {%- endfor %}
    {%- if grouped %}
    group by {{ grouped | join(', ') }}
    {%- endif %}

),

{{ use_case_name }}__by_dimension as (
    {%- for dimension in dimensions %}
    select
        '{{ dimension.name }}' as dimension,
        dimension__{{ loop.index }} as dimension_value,
        units,
        positives as positive{% if spend %},
        spend{% endif %}
    from {{ use_case_name }}__grouped
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
    {%- if not dimensions %}
    select
        cast(null as {{ leakproof_varchar() }}) as dimension,
        cast(null as {{ leakproof_varchar() }}) as dimension_value,
        0 as units,
        0 as positive{% if spend %},
        0.0 as spend{% endif %}
    where false
    {%- endif %}
),

{{ use_case_name }}__known as (
    {{ leakproof_known_values(dimensions) }}
),

{{ use_case_name }}__known_values as (

    select
        dimension,
        dimension_value
    from {{ use_case_name }}__known

),

{{ group_performance(
    use_case_name ~ '__performance',
    use_case_name ~ '__by_dimension',
    dimensions=[{
        'name': 'dimension',
        'columns': ['dimension', 'dimension_value'],
        'values': use_case_name ~ '__known_values',
    }],
    event_column='positive',
    spend_column='spend' if spend else none,
    partition_by=['dimension'],
    units_column='units'
) }},

{{ use_case_name }}__rated as (

    {{ leakproof_rate_columns(
        use_case_name,
        use_case_name ~ '__performance',
        use_case_name ~ '__known',
        spend
    ) }}

),

{% endfor -%}
final as (
    {% for use_case_name in leakproof_use_cases() %}
    select * from {{ use_case_name }}__rated
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
)

select * from final
