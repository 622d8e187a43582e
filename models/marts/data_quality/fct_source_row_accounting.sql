-- One row per use case and raw file (labelled, scoring): where every raw row went.
-- raw_rows = staged_rows + quarantined_rows + duplicates_collapsed; unaccounted_rows, computed
-- from an independent count of the raw file, must be 0 (tested on every build).
with

{% for use_case in leakproof_use_cases() -%}
{{ use_case }}__raw as (

    select
        source_file,
        count(*) as raw_rows
    from {{ leakproof_raw_relation(use_case) }}
    group by source_file

),

{{ use_case }}__validated as (

    select
        source_file,
        cast(coalesce(sum(duplicate_count), 0) as bigint) as validated_rows,
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
        '{{ use_case }}' as use_case,
        {{ use_case }}__raw.source_file,
        {{ use_case }}__raw.raw_rows,
        coalesce({{ use_case }}__staged.staged_rows, 0) as staged_rows,
        coalesce({{ use_case }}__validated.quarantined_rows, 0) as quarantined_rows,
        coalesce({{ use_case }}__validated.duplicates_collapsed, 0) as duplicates_collapsed,
        coalesce({{ use_case }}__validated.staged_rows_with_unknown_category, 0)
            as staged_rows_with_unknown_category
    from {{ use_case }}__raw
    left join {{ use_case }}__validated
        on {{ use_case }}__raw.source_file = {{ use_case }}__validated.source_file
    left join {{ use_case }}__staged
        on {{ use_case }}__raw.source_file = {{ use_case }}__staged.source_file

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
        cast(raw_rows as bigint) as raw_rows,
        cast(staged_rows as bigint) as staged_rows,
        cast(quarantined_rows as bigint) as quarantined_rows,
        cast(duplicates_collapsed as bigint) as duplicates_collapsed,
        cast(raw_rows - staged_rows - quarantined_rows - duplicates_collapsed as bigint)
            as unaccounted_rows,
        cast(staged_rows_with_unknown_category as bigint) as staged_rows_with_unknown_category
    from accounted

)

select * from final
