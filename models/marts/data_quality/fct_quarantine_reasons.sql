-- One row per use case, raw file, quarantine reason code and raw column: how many distinct raw
-- rows have that problem (a row with several problems counts under each) and how many raw rows
-- they stand for (exact duplicates included).
with

quarantined as (

    select * from {{ ref('fct_quarantined_rows') }}

),

one_row_per_reason as (

    select
        use_case,
        source_file,
        duplicate_count,
        {{ leakproof_split_to_rows('quarantine_reasons', '; ') }} as reason
    from quarantined

),

final as (

    select
        use_case,
        source_file,
        split_part(reason, ':', 1) as quarantine_reason_code,
        split_part(reason, ':', 2) as quarantine_column,
        count(*) as quarantined_rows,
        cast(sum(duplicate_count) as bigint) as raw_rows
    from one_row_per_reason
    group by use_case, source_file, quarantine_reason_code, quarantine_column

)

select * from final
