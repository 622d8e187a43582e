{#- Nothing is lost between a raw source and staging: every raw row is either staged, quarantined,
    or an exact duplicate collapsed into one of those (whose `duplicate_count` records it).
    Returns one row describing the imbalance when raw != staged + quarantined + collapsed. -#}
{% test rows_conserved(model, staged, quarantine) %}

with

raw_rows as (

    select count(*) as row_count from {{ model }}

),

staged_rows as (

    select
        count(*) as row_count,
        coalesce(sum(duplicate_count - 1), 0) as collapsed_count
    from {{ staged }}

),

quarantined_rows as (

    select
        count(*) as row_count,
        coalesce(sum(duplicate_count - 1), 0) as collapsed_count
    from {{ quarantine }}

),

final as (

    select
        raw_rows.row_count as raw_row_count,
        staged_rows.row_count as staged_row_count,
        quarantined_rows.row_count as quarantined_row_count,
        staged_rows.collapsed_count + quarantined_rows.collapsed_count as duplicates_collapsed,
        raw_rows.row_count
        - staged_rows.row_count
        - quarantined_rows.row_count
        - staged_rows.collapsed_count
        - quarantined_rows.collapsed_count as unaccounted_rows
    from raw_rows
    cross join staged_rows
    cross join quarantined_rows

)

select * from final
where unaccounted_rows != 0

{% endtest %}
