{#- No row carries a rejected value in `column_name` (e.g. a lineage status of leak or
    unresolved); each rejected row's `message_column` is printed in the build log, so the failure
    names what is wrong and where. Returns the rejected rows. -#}
{% test no_rejected_rows(model, column_name, rejected, message_column, log_prefix='REJECTED') %}
    {%- set sql -%}
with

rejected_rows as (

    select
        {{ message_column }} as message,
        {{ column_name }} as rejected_value
    from {{ model }}
    where {{ column_name }} in ('{{ rejected | join("', '") }}')

),

final as (

    select * from rejected_rows

)

select * from final
    {%- endset -%}
    {{ leakproof_log_failures(sql, log_prefix ~ ": {0}") }}
    {{ sql }}
{% endtest %}
