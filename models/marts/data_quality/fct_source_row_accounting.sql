-- One row per use case and raw file (labelled, scoring): where every raw line went.
-- raw_lines = staged_rows + quarantined_rows + rejected_lines + duplicates_collapsed;
-- unaccounted_rows, computed from stg_raw_files' own count of the file's lines, must be 0
-- (tested on every build).
with

files as (

    select * from {{ ref('stg_raw_files') }}

),

{% for use_case in leakproof_use_cases() -%}
{{ use_case }}__rejected as (

    select
        source_file,
        count(*) as rejected_lines
    from {{ ref('base_' ~ use_case ~ '__rejected') }}
    group by source_file

),

{{ use_case }}__validated as (

    select
        source_file,
        count(*) filter (where quarantine_reasons is not null) as quarantined_rows,
        cast(coalesce(sum(duplicate_count - 1), 0) as bigint) as duplicates_collapsed,
        count(*) filter (
            where quarantine_reasons is null and has_unknown_category
        ) as staged_rows_with_unknown_category
    from {{ ref('base_' ~ use_case ~ '__validated') }}
    group by source_file

),

{{ use_case }}__staged as (

    select
        source_file,
        count(*) as staged_rows
    from {{ ref('stg_' ~ use_case ~ '__rows') }}
    group by source_file

),

{{ use_case }}__accounted as (

    select
        files.use_case,
        files.source_file,
        files.raw_lines,
        coalesce({{ use_case }}__staged.staged_rows, 0) as staged_rows,
        coalesce({{ use_case }}__validated.quarantined_rows, 0) as quarantined_rows,
        coalesce({{ use_case }}__rejected.rejected_lines, 0) as rejected_lines,
        coalesce({{ use_case }}__validated.duplicates_collapsed, 0) as duplicates_collapsed,
        coalesce({{ use_case }}__validated.staged_rows_with_unknown_category, 0)
            as staged_rows_with_unknown_category
    from files
    left join {{ use_case }}__validated
        on files.source_file = {{ use_case }}__validated.source_file
    left join {{ use_case }}__staged
        on files.source_file = {{ use_case }}__staged.source_file
    left join {{ use_case }}__rejected
        on files.source_file = {{ use_case }}__rejected.source_file
    where files.use_case = '{{ use_case }}'

),

{% endfor -%}
accounted as (
    {% for use_case in leakproof_use_cases() %}
    select * from {{ use_case }}__accounted
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

final as (

    select
        use_case,
        source_file,
        cast(raw_lines as bigint) as raw_lines,
        cast(staged_rows as bigint) as staged_rows,
        cast(quarantined_rows as bigint) as quarantined_rows,
        cast(rejected_lines as bigint) as rejected_lines,
        cast(duplicates_collapsed as bigint) as duplicates_collapsed,
        cast(
            raw_lines - staged_rows - quarantined_rows - rejected_lines - duplicates_collapsed
            as bigint
        ) as unaccounted_rows,
        cast(staged_rows_with_unknown_category as bigint) as staged_rows_with_unknown_category
    from accounted

)

select * from final
