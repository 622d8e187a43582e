{#- Category values outside a column's declared accepted_values (and aliases) are kept and flagged
    by staging, not dropped; this test counts them per value so the build reports them (use
    severity: warn). `column_name` is the canonicalised column; the flag is
    `is_unknown_<column_name>`. -#}
{% test no_unknown_categories(model, column_name) %}

with

unknown as (

    select
        {{ column_name }} as unknown_value,
        count(*) as row_count
    from {{ model }}
    where is_unknown_{{ column_name }}
    group by {{ column_name }}

),

final as (

    select * from unknown

)

select * from final

{% endtest %}
