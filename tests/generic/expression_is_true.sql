{#- Every row satisfies a SQL boolean `expression` (restrict rows with dbt's own `where` config).
    Returns the rows for which it is false or NULL. -#}
{% test expression_is_true(model, expression) %}

with

checked as (

    select
        *,
        coalesce({{ expression }}, false) as is_satisfied
    from {{ model }}

)

select * from checked
where not is_satisfied

{% endtest %}
