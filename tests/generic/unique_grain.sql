{#- The grain of a model: no two rows share the same values of `columns` (and none is NULL).
    Returns each offending key with how many rows carry it. -#}
{% test unique_grain(model, columns) %}

with

grain as (

    select
        {{ columns | join(', ') }},
        count(*) as row_count
    from {{ model }}
    group by {{ columns | join(', ') }}

),

final as (

    select * from grain
    where
        row_count > 1
        {%- for column in columns %}
        or {{ column }} is null
        {%- endfor %}

)

select * from final

{% endtest %}
