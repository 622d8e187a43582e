{#- The rows of `model` whose `column_name` differs from the out-of-fold encoding recomputed. -#}
{% macro leakproof_out_of_fold_check(model, column_name, target, group_by, smoothing, split_column, fold_column) %}
with

rows_to_check as (

    select * from {{ model }}

),

training as (

    select * from rows_to_check
    where {{ split_column }} = 'train'

),

prior as (

    select avg({{ target }}) as training_rate from training

),

by_group as (

    select
        {{ group_by }} as group_value,
        count(*) as group_rows,
        sum({{ target }}) as group_events
    from training
    group by {{ group_by }}

),

by_group_and_fold as (

    select
        {{ group_by }} as group_value,
        {{ fold_column }} as fold_value,
        count(*) as fold_rows,
        sum({{ target }}) as fold_events
    from training
    group by {{ group_by }}, {{ fold_column }}

),

expected as (

    select
        rows_to_check.{{ column_name }} as actual_value,
        (
            coalesce(by_group.group_events, 0) - coalesce(by_group_and_fold.fold_events, 0)
            + {{ smoothing }} * prior.training_rate
        ) / (
            coalesce(by_group.group_rows, 0) - coalesce(by_group_and_fold.fold_rows, 0)
            + {{ smoothing }}
        ) as expected_value
    from rows_to_check
    cross join prior
    left join by_group
        on rows_to_check.{{ group_by }} = by_group.group_value
    left join by_group_and_fold
        on
            rows_to_check.{{ group_by }} = by_group_and_fold.group_value
            and rows_to_check.{{ fold_column }} = by_group_and_fold.fold_value
            and rows_to_check.{{ split_column }} = 'train'

),

final as (

    select * from expected
    where abs(actual_value - expected_value) > 1e-9 or actual_value is null

)

select * from final
{% endmacro %}
