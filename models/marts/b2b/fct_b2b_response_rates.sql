-- One row per B2B dimension x value: response rate of labelled account-waves by industry, region,
-- company-size band and renewal window, each a complete list (every known value, plus any
-- unknown value observed), with Wilson intervals, the rate relative to the overall rate and the
-- gap to the best value. Built by the group_performance macro, like the marketing rate tables.
with

accounts as (

    select * from {{ ref('int_accounts_split') }}

),

category_aliases as (

    select * from {{ ref('category_aliases') }}

),

labelled_accounts as (

    select * from accounts
    where split in ('train', 'test')

),

size_bands as (
    {{ segment_values({'company_size_band': 'company_size_bands'}) }}
),

known_values as (

    select
        domain as dimension,
        canonical_value as dimension_value,
        cast(null as integer) as value_order
    from category_aliases
    where is_canonical and domain in ('industry', 'region')
    union all
    select
        segment_type as dimension,
        segment_value as dimension_value,
        segment_order as value_order
    from size_bands
    union all
    select
        'renewal_window' as dimension,
        {{ renewal_window('0') }} as dimension_value,
        1 as value_order
    union all
    select
        'renewal_window' as dimension,
        {{ renewal_window(var('renewal_window_months') + 1) }} as dimension_value,
        2 as value_order

),

accounts_by_dimension as (

    select
        'industry' as dimension,
        industry as dimension_value,
        response_flag
    from labelled_accounts
    union all
    select
        'region' as dimension,
        region as dimension_value,
        response_flag
    from labelled_accounts
    union all
    select
        'company_size_band' as dimension,
        {{ company_size_band('company_size') }} as dimension_value,
        response_flag
    from labelled_accounts
    union all
    select
        'renewal_window' as dimension,
        {{ renewal_window('contract_remaining_months') }} as dimension_value,
        response_flag
    from labelled_accounts

),

{{ group_performance(
    'response_rates',
    'accounts_by_dimension',
    dimensions=[
        {'name': 'dimension', 'columns': ['dimension', 'dimension_value'], 'values': 'known_values'},
    ],
    event_column='response_flag',
    partition_by=['dimension']
) }},

response_rates_ordered as (

    select
        response_rates.*,
        row_number() over (
            partition by response_rates.dimension
            order by known_values.value_order nulls last, response_rates.dimension_value
        ) as value_order
    from response_rates
    left join known_values
        on
            response_rates.dimension = known_values.dimension
            and response_rates.dimension_value = known_values.dimension_value

),

final as (

    select
        dimension,
        dimension_value,
        cast(value_order as integer) as value_order,
        is_known_category,
        units as accounts,  -- noqa: RF04
        events as responses,
        event_rate as response_rate,
        event_rate_ci_lower as response_rate_ci_lower,
        event_rate_ci_upper as response_rate_ci_upper,
        unit_share as account_share,
        event_share as response_share,
        overall_event_rate as overall_response_rate,
        rate_relative_to_overall,
        event_rate_rank as response_rate_rank,
        is_below_min_sample,
        is_best_cell as is_best,
        rate_gap_to_best,
        gap_to_best_z,
        gap_to_best_p_value,
        pairwise_comparisons,
        gap_to_best_p_value_adjusted,
        is_gap_to_best_significant
    from response_rates_ordered

)

select * from final
