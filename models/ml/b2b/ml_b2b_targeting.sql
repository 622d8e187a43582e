-- One row per B2B campaign wave evaluated (the labelled test wave, honestly held out, and the
-- unlabelled newest wave) and contact budget: accounts ranked by calibrated probability, and for
-- the top 5 %, 10 %, ... 100 % (plus the budget of var contact_budget_share or
-- contact_budget_accounts when it is not on that grid) the expected responses, the observed ones
-- where labelled, the response rate and the lift over contacting as many accounts at random.
{%- set budget_accounts = var('contact_budget_accounts', none) -%}
{%- set budget_share = var('contact_budget_share', 0.2) %}

with

b2b_scores as (

    select * from {{ ref('ml_b2b_scores') }}

),

waves as (

    select
        model_id,
        split,
        campaign_wave,
        account_id,
        actual_label,
        calibrated_probability
    from b2b_scores
    where split in ('test', 'score')

),

ranked as (

    select
        *,
        row_number() over (
            partition by split, campaign_wave
            order by calibrated_probability desc, account_id asc
        ) as score_rank,
        count(*) over (partition by split, campaign_wave) as accounts_total,
        count(actual_label) over (partition by split, campaign_wave) as accounts_labelled,
        sum(actual_label) over (partition by split, campaign_wave) as wave_responses,
        avg(calibrated_probability) over (partition by split, campaign_wave)
            as wave_expected_rate
    from waves

),

wave_sizes as (

    select distinct
        model_id,
        split,
        campaign_wave,
        accounts_total
    from ranked

),

grid_steps as (

    select {{ leakproof_integer_series(21) }} as step

),

-- 5 %, 10 %, ... 100 %
grid as (

    select step / 20.0 as budget_share
    from grid_steps
    where step >= 1

),

budget_points as (

    -- the grid: the top ceil(share x accounts) accounts
    select
        wave_sizes.model_id,
        wave_sizes.split,
        wave_sizes.campaign_wave,
        wave_sizes.accounts_total,
        grid.budget_share,
        cast(ceil(round(grid.budget_share * wave_sizes.accounts_total, 6)) as bigint)
            as accounts_contacted,
        false as is_contact_budget
    from wave_sizes
    cross join grid
    union all
    -- the contact budget (var contact_budget_accounts, else var contact_budget_share)
    select
        model_id,
        split,
        campaign_wave,
        accounts_total,
        {%- if budget_accounts is not none %}
        least({{ budget_accounts }}, accounts_total) * 1.0 / accounts_total as budget_share,
        cast(least({{ budget_accounts }}, accounts_total) as bigint) as accounts_contacted,
        {%- else %}
        {{ budget_share }} as budget_share,
        cast(ceil(round({{ budget_share }} * accounts_total, 6)) as bigint) as accounts_contacted,
        {%- endif %}
        true as is_contact_budget
    from wave_sizes

),

-- one row per distinct number of accounts contacted (the budget may coincide with a grid point)
points as (

    select
        model_id,
        split,
        campaign_wave,
        accounts_total,
        accounts_contacted,
        min(budget_share) as budget_share,
        bool_or(is_contact_budget) as is_contact_budget
    from budget_points
    group by model_id, split, campaign_wave, accounts_total, accounts_contacted

),

contacted as (

    select
        points.model_id,
        points.split,
        points.campaign_wave,
        points.accounts_total,
        points.accounts_contacted,
        points.budget_share,
        points.is_contact_budget,
        max(ranked.accounts_labelled) as accounts_labelled,
        max(ranked.wave_responses) as wave_responses,
        max(ranked.wave_expected_rate) as wave_expected_rate,
        min(ranked.calibrated_probability) as score_cutoff,
        sum(ranked.calibrated_probability) as expected_responses,
        sum(ranked.actual_label) as observed_responses
    from points
    inner join ranked
        on
            points.split = ranked.split
            and points.campaign_wave = ranked.campaign_wave
            and points.accounts_contacted >= ranked.score_rank
    group by
        points.model_id,
        points.split,
        points.campaign_wave,
        points.accounts_total,
        points.accounts_contacted,
        points.budget_share,
        points.is_contact_budget

),

final as (

    select
        'b2b' as use_case,
        model_id,
        split as population_split,
        campaign_wave,
        accounts_labelled = accounts_total as is_labelled,
        budget_share,
        is_contact_budget,
        accounts_total,
        accounts_contacted,
        accounts_contacted * 1.0 / accounts_total as contacted_share,
        score_cutoff,
        expected_responses,
        expected_responses / accounts_contacted as expected_response_rate,
        wave_expected_rate as expected_base_rate,
        (expected_responses / accounts_contacted) / nullif(wave_expected_rate, 0)
            as expected_lift,
        case when accounts_labelled = accounts_total then observed_responses end
            as observed_responses,
        case
            when accounts_labelled = accounts_total
                then observed_responses * 1.0 / accounts_contacted
        end as observed_response_rate,
        case
            when accounts_labelled = accounts_total then wave_responses * 1.0 / accounts_total
        end as observed_base_rate,
        case
            when accounts_labelled = accounts_total
                then
                    (observed_responses * 1.0 / accounts_contacted)
                    / nullif(wave_responses * 1.0 / accounts_total, 0)
        end as observed_lift,
        case
            when accounts_labelled = accounts_total
                then observed_responses - accounts_contacted * wave_responses * 1.0 / accounts_total
        end as observed_responses_over_random
    from contacted

)

select * from final
