-- One row per distinct raw row of any use case that failed validation: where it came from, why
-- (every reason, and the first one split into code and column) and all of its original values as
-- text (raw_values, a JSON object keyed by the file's column names), so nothing is lost.
with

{% for use_case in leakproof_use_cases() -%}
{{ use_case }}__quarantined as (

    select
        '{{ use_case }}' as use_case,
        source_file,
        source_row_number,
        duplicate_count,
        quarantine_reason_code,
        quarantine_column,
        quarantine_reasons,
        raw_values
    from {{ ref('base_' ~ use_case ~ '__validated') }}
    where quarantine_reasons is not null

),

{% endfor -%}
final as (
    {% for use_case in leakproof_use_cases() %}
    select * from {{ use_case }}__quarantined
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
)

select * from final
