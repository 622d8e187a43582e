{#-
    A whole marketing performance mart: labelled customers of int_customers_segmented grouped by
    `dimensions` (group_performance's list of {name, columns, domain}; every known category of the domain is a row,
    crossed when there are several - the 7 x 7 channel x platform grid), through group_performance,
    with its columns named for conversions and customers. fct_channel_performance,
    fct_platform_performance, fct_tool_performance, fct_campaign_type_performance and
    fct_channel_platform_performance are each one call of it.
-#}
{% macro marketing_performance_mart(dimensions) -%}
    {%- set name = dimensions | map(attribute='name') | join('_') ~ '_performance' -%}
with

customers as (

    select * from {{ ref('int_customers_segmented') }}

),

labelled_customers as (

    select * from customers
    where split in ('train', 'test')

),

{{ group_performance(
    name,
    'labelled_customers',
    dimensions=dimensions,
    event_column='conversion',
    spend_column='ad_spend_capped'
) }},

final as (

    select
        {%- for dimension in dimensions %}
        {%- for column in dimension.columns %}
        {{ column }},
        {%- endfor %}
        {%- endfor %}
        is_known_category,
        {{ marketing_rate_columns() }}
        event_rate_rank as conversion_rate_rank,
        is_below_min_sample,
        is_best_cell as is_best,
        rate_gap_to_best,
        gap_to_best_z,
        gap_to_best_p_value,
        pairwise_comparisons,
        gap_to_best_p_value_adjusted,
        is_gap_to_best_significant
    from {{ name }}

)

select * from final
{%- endmacro %}



{#-
    group_performance's generic rate columns under their marketing names (units are customers,
    events are conversions), in mart order, each followed by a comma: the one renaming shared by
    marketing_performance_mart and fct_segment_performance.
-#}
{% macro marketing_rate_columns() -%}
    units as customers,
    events as conversions,
    event_rate as conversion_rate,
    event_rate_ci_lower as conversion_rate_ci_lower,
    event_rate_ci_upper as conversion_rate_ci_upper,
    total_spend,
    avg_spend,
    cost_per_event as cost_per_conversion,
    spend_share,
    unit_share as customer_share,
    event_share as conversion_share,
    overall_event_rate as overall_conversion_rate,
    rate_relative_to_overall,
{%- endmacro %}
