-- One row per use case, comparison population and variable (the calibrated score and every
-- feature of the model): the Population Stability Index against the bins frozen at training
-- (ml_psi_reference_bins), its band, and a chi-square goodness-of-fit p-value of the population's
-- bin counts against the reference shares. Populations: for a use case split by time, every
-- period (the unlabelled newest one included); otherwise the test split (a stable control) and
-- the batch of new rows to score.
{%- set bins_relation = load_relation(ref('ml_psi_reference_bins')) if execute else none -%}
{#- the variables to compare: one item per use case and variable of the frozen bins -#}
{%- set items = [] -%}
{%- if bins_relation is not none -%}
{%- set listed = run_query(
    "select distinct use_case, variable_name, variable_kind from " ~ bins_relation
    ~ " order by use_case, variable_name"
) -%}
{%- for row in listed if row[0] in leakproof_use_cases() -%}
{%- do items.append({'relation': row[0] ~ '__rows', 'name': row[1], 'kind': row[2]}) -%}
{%- endfor -%}
{%- endif -%}
{%- set epsilon = var('psi_epsilon', 0.0001) %}

with

reference_bins as (

    select * from {{ ref('ml_psi_reference_bins') }}

),

scores as (

    select * from {{ ref('ml_scores') }}

),

{% for use_case_name in leakproof_use_cases() -%}
{%- set time_column = leakproof_time_column(use_case_name) -%}
{{ use_case_name }}__rows as (

    select
        features.*,
        scores.calibrated_probability,
        '{{ use_case_name }}' as use_case,
        {%- if time_column %}
        '{{ time_column }} ' || cast(features.{{ time_column }} as varchar) as population,
        cast(features.{{ time_column }} as varchar) as population_period
        {%- else %}
        case when features.split = 'score' then 'scoring_batch' else 'test_split' end as population,
        cast(null as varchar) as population_period
        {%- endif %}
    from {{ ref('ml_' ~ use_case_name ~ '_features') }} as features
    inner join scores
        on
            scores.use_case = '{{ use_case_name }}'
            and features.entity_key = scores.entity_key
            and features.split = scores.split
    {%- if not time_column %}
    where features.split in ('score', 'test')
    {%- endif %}

),

{% endfor -%}
populations as (
    {%- for use_case_name in leakproof_use_cases() %}
    select
        use_case,
        population,
        min(split) as population_split,
        min(population_period) as population_period,
        count(*) as population_rows
    from {{ use_case_name }}__rows
    group by use_case, population
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

-- every variable of every population as one long relation: numbers as double, categories as text
long_values as (

    select
        'none' as use_case,
        'none' as population,
        'none' as variable_name,
        cast(null as double) as numeric_value,
        cast(null as varchar) as category_value
    where false
    {%- for item in items %}
    union all
    select
        use_case,
        population,
        '{{ item.name }}' as variable_name,
        {%- if item.kind == 'categorical' %}
        cast(null as double) as numeric_value,
        cast({{ item.name }} as varchar) as category_value
        {%- else %}
        cast({{ item.name }} as double) as numeric_value,
        cast(null as varchar) as category_value
        {%- endif %}
    from {{ item.relation }}
    {%- endfor %}

),

variable_kinds as (

    select distinct
        use_case,
        variable_name,
        variable_kind
    from reference_bins

),

-- each distinct value once, with its rows: bins are assigned per value, not per row
value_counts as (

    select
        use_case,
        population,
        variable_name,
        numeric_value,
        category_value,
        count(*) as value_rows
    from long_values
    group by use_case, population, variable_name, numeric_value, category_value

),

values_with_kind as (

    select
        value_counts.*,
        variable_kinds.variable_kind
    from value_counts
    inner join variable_kinds
        on
            value_counts.use_case = variable_kinds.use_case
            and value_counts.variable_name = variable_kinds.variable_name

),

numeric_assigned as (

    select
        values_with_kind.use_case,
        values_with_kind.population,
        values_with_kind.variable_name,
        values_with_kind.value_rows,
        reference_bins.bin_index
    from values_with_kind
    inner join reference_bins
        on
            values_with_kind.use_case = reference_bins.use_case
            and values_with_kind.variable_name = reference_bins.variable_name
            and not reference_bins.is_missing_bin
            and values_with_kind.numeric_value <= reference_bins.upper_edge
            and (
                values_with_kind.numeric_value > reference_bins.lower_edge
                or reference_bins.lower_edge = cast('-inf' as double)
            )
    where
        values_with_kind.variable_kind != 'categorical'
        and values_with_kind.numeric_value is not null

),

other_bins as (

    select
        use_case,
        variable_name,
        bin_index
    from reference_bins
    where is_other_bin

),

categorical_assigned as (

    select
        values_with_kind.use_case,
        values_with_kind.population,
        values_with_kind.variable_name,
        values_with_kind.value_rows,
        coalesce(reference_bins.bin_index, other_bins.bin_index) as bin_index
    from values_with_kind
    left join reference_bins
        on
            values_with_kind.use_case = reference_bins.use_case
            and values_with_kind.variable_name = reference_bins.variable_name
            and values_with_kind.category_value = reference_bins.category
    left join other_bins
        on
            values_with_kind.use_case = other_bins.use_case
            and values_with_kind.variable_name = other_bins.variable_name
    where
        values_with_kind.variable_kind = 'categorical'
        and values_with_kind.category_value is not null

),

missing_assigned as (

    select
        use_case,
        population,
        variable_name,
        value_rows,
        0 as bin_index
    from values_with_kind
    where
        (variable_kind = 'categorical' and category_value is null)
        or (variable_kind != 'categorical' and numeric_value is null)

),

assigned as (

    select * from numeric_assigned
    union all
    select * from categorical_assigned
    union all
    select * from missing_assigned

),

bin_counts as (

    select
        use_case,
        population,
        variable_name,
        bin_index,
        cast(sum(value_rows) as bigint) as actual_rows
    from assigned
    group by use_case, population, variable_name, bin_index

),

-- every frozen bin for every population of its use case, empty ones included
bins_by_population as (

    select
        reference_bins.use_case,
        reference_bins.model_id,
        populations.population,
        populations.population_split,
        populations.population_period,
        populations.population_rows,
        reference_bins.variable_name,
        reference_bins.variable_kind,
        reference_bins.is_gated,
        reference_bins.bin_index,
        reference_bins.bin_label,
        reference_bins.reference_rows,
        reference_bins.reference_share,
        coalesce(bin_counts.actual_rows, 0) as actual_rows,
        coalesce(bin_counts.actual_rows, 0) * 1.0 / populations.population_rows as actual_share
    from reference_bins
    inner join populations
        on reference_bins.use_case = populations.use_case
    left join bin_counts
        on
            reference_bins.use_case = bin_counts.use_case
            and reference_bins.variable_name = bin_counts.variable_name
            and reference_bins.bin_index = bin_counts.bin_index
            and populations.population = bin_counts.population

),

bin_terms as (

    select
        *,
        case when reference_share = 0 then {{ epsilon }} else reference_share end
            as expected_share_floored,
        case when actual_share = 0 then {{ epsilon }} else actual_share end
            as actual_share_floored
    from bins_by_population

),

bin_contributions as (

    select
        *,
        (actual_share_floored - expected_share_floored)
        * ln(actual_share_floored / expected_share_floored) as psi_contribution,
        case
            when reference_rows > 0 or actual_rows > 0
                then
                    power(actual_rows - population_rows * expected_share_floored, 2)
                    / (population_rows * expected_share_floored)
        end as chi_square_contribution,
        row_number() over (
            partition by use_case, population, variable_name
            order by
                (actual_share_floored - expected_share_floored)
                * ln(actual_share_floored / expected_share_floored) desc,
                bin_index asc
        ) as contribution_rank
    from bin_terms

),

by_variable as (

    select
        use_case,
        model_id,
        population,
        population_split,
        population_period,
        population_rows,
        variable_name,
        variable_kind,
        bool_and(is_gated) as is_gated,
        count(*) as bins,
        sum(psi_contribution) as psi,
        sum(chi_square_contribution) as chi_square,
        count(chi_square_contribution) - 1 as chi_square_df,
        max(case when contribution_rank = 1 then bin_label end) as largest_shift_bin,
        max(case when contribution_rank = 1 then reference_share end)
            as largest_shift_reference_share,
        max(case when contribution_rank = 1 then actual_share end)
            as largest_shift_actual_share
    from bin_contributions
    group by
        use_case,
        model_id,
        population,
        population_split,
        population_period,
        population_rows,
        variable_name,
        variable_kind

),

{{ chi_square_p_values(
    'chi_square_tests', 'by_variable', ['use_case', 'population', 'variable_name'],
    'chi_square', 'chi_square_df'
) }},

final as (

    select
        by_variable.use_case,
        by_variable.model_id,
        by_variable.population,
        by_variable.population_split,
        by_variable.population_period,
        by_variable.population_rows,
        by_variable.variable_name,
        by_variable.variable_kind,
        by_variable.is_gated,
        by_variable.bins,
        by_variable.psi,
        case
            when by_variable.psi < {{ var('psi_investigate', 0.1) }} then 'stable'
            when by_variable.psi < {{ var('psi_shifted', 0.25) }} then 'investigate'
            else 'shifted'
        end as psi_band,
        by_variable.psi > {{ var('psi_warn', 0.2) }} as is_above_warn,
        by_variable.chi_square,
        by_variable.chi_square_df,
        chi_square_tests.p_value as chi_square_p_value,
        by_variable.largest_shift_bin,
        by_variable.largest_shift_reference_share,
        by_variable.largest_shift_actual_share
    from by_variable
    left join chi_square_tests
        on
            by_variable.use_case = chi_square_tests.use_case
            and by_variable.population = chi_square_tests.population
            and by_variable.variable_name = chi_square_tests.variable_name

)

select * from final
