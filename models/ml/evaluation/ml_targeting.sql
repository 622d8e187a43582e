-- One row per use case, evaluated population (the labelled test split, honestly held out, and
-- the rows to score; per period for a use case split by time - the B2B document's campaign waves)
-- and contact budget: rows ranked by calibrated probability, and for the top 5 %, 10 %, ... 100 %
-- (plus the budget the declaration's targeting.budget_share / budget_rows sets - default var
-- contact_budget_share - when it is not on that grid) the expected positives, the observed ones
-- where labelled, the rate and the lift over contacting as many rows at random.
{%- set budgets = leakproof_contact_budgets() %}

with

scores as (

    select * from {{ ref('ml_scores') }}

),

{% for use_case_name in leakproof_use_cases() -%}
{{ use_case_name }}__evaluated as (

    select
        scores.use_case,
        scores.model_id,
        scores.split,
        {{ leakproof_period(use_case_name, 'features') }} as period,
        scores.entity_key,
        scores.actual_label,
        scores.calibrated_probability
    from scores
    inner join {{ ref('ml_' ~ use_case_name ~ '_features') }} as features
        on
            scores.entity_key = features.entity_key
            and scores.split = features.split
    where scores.use_case = '{{ use_case_name }}' and scores.split in ('test', 'score')

),

{% endfor -%}
evaluated as (
    {%- for use_case_name in leakproof_use_cases() %}
    select * from {{ use_case_name }}__evaluated
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

ranked as (

    select
        *,
        row_number() over (
            partition by use_case, split, period
            order by calibrated_probability desc, entity_key asc
        ) as score_rank,
        count(*) over (partition by use_case, split, period) as rows_total,
        count(actual_label) over (partition by use_case, split, period) as rows_labelled,
        sum(actual_label) over (partition by use_case, split, period) as population_positives,
        avg(calibrated_probability) over (partition by use_case, split, period)
            as population_expected_rate
    from evaluated

),

population_sizes as (

    select distinct
        use_case,
        model_id,
        split,
        period,
        rows_total
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

    -- the grid: the top ceil(share x rows) rows
    select
        population_sizes.use_case,
        population_sizes.model_id,
        population_sizes.split,
        population_sizes.period,
        population_sizes.rows_total,
        grid.budget_share,
        cast(ceil(round(grid.budget_share * population_sizes.rows_total, 6)) as bigint)
            as rows_contacted,
        false as is_contact_budget
    from population_sizes
    cross join grid
    union all
    -- the contact budget of each use case (targeting.budget_rows, else targeting.budget_share)
    select
        use_case,
        model_id,
        split,
        period,
        rows_total,
        case use_case
            {%- for use_case_name, budget in budgets.items() %}
            {%- if budget.rows is not none %}
            when '{{ use_case_name }}'
                then least({{ budget.rows }}, rows_total) * 1.0 / rows_total
            {%- else %}
            when '{{ use_case_name }}' then {{ budget.share }}
            {%- endif %}
            {%- endfor %}
        end as budget_share,
        case use_case
            {%- for use_case_name, budget in budgets.items() %}
            {%- if budget.rows is not none %}
            when '{{ use_case_name }}'
                then cast(least({{ budget.rows }}, rows_total) as bigint)
            {%- else %}
            when '{{ use_case_name }}'
                then cast(ceil(round({{ budget.share }} * rows_total, 6)) as bigint)
            {%- endif %}
            {%- endfor %}
        end as rows_contacted,
        true as is_contact_budget
    from population_sizes

),

-- one row per distinct number of rows contacted (the budget may coincide with a grid point)
points as (

    select
        use_case,
        model_id,
        split,
        period,
        rows_total,
        rows_contacted,
        min(budget_share) as budget_share,
        bool_or(is_contact_budget) as is_contact_budget
    from budget_points
    group by use_case, model_id, split, period, rows_total, rows_contacted

),

contacted as (

    select
        points.use_case,
        points.model_id,
        points.split,
        points.period,
        points.rows_total,
        points.rows_contacted,
        points.budget_share,
        points.is_contact_budget,
        max(ranked.rows_labelled) as rows_labelled,
        max(ranked.population_positives) as population_positives,
        max(ranked.population_expected_rate) as population_expected_rate,
        min(ranked.calibrated_probability) as score_cutoff,
        sum(ranked.calibrated_probability) as expected_positives,
        sum(ranked.actual_label) as observed_positives
    from points
    inner join ranked
        on
            points.use_case = ranked.use_case
            and points.split = ranked.split
            and points.period is not distinct from ranked.period
            and points.rows_contacted >= ranked.score_rank
    group by
        points.use_case,
        points.model_id,
        points.split,
        points.period,
        points.rows_total,
        points.rows_contacted,
        points.budget_share,
        points.is_contact_budget

),

final as (

    select
        use_case,
        model_id,
        split as population_split,
        period,
        rows_labelled = rows_total as is_labelled,
        budget_share,
        is_contact_budget,
        rows_total,
        rows_contacted,
        rows_contacted * 1.0 / rows_total as contacted_share,
        score_cutoff,
        expected_positives,
        expected_positives / rows_contacted as expected_positive_rate,
        population_expected_rate as expected_base_rate,
        (expected_positives / rows_contacted) / nullif(population_expected_rate, 0)
            as expected_lift,
        case when rows_labelled = rows_total then observed_positives end
            as observed_positives,
        case
            when rows_labelled = rows_total
                then observed_positives * 1.0 / rows_contacted
        end as observed_positive_rate,
        case
            when rows_labelled = rows_total then population_positives * 1.0 / rows_total
        end as observed_base_rate,
        case
            when rows_labelled = rows_total
                then
                    (observed_positives * 1.0 / rows_contacted)
                    / nullif(population_positives * 1.0 / rows_total, 0)
        end as observed_lift,
        case
            when rows_labelled = rows_total
                then observed_positives - rows_contacted * population_positives * 1.0 / rows_total
        end as observed_positives_over_random
    from contacted

)

select * from final
