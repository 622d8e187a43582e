-- One row per raw line of any use case that does not parse (strict RFC 4180 in the declared
-- dialect): its file, physical line number, the line as written and why. Nothing is dropped
-- silently: fct_source_row_accounting counts these lines.
with

{% for use_case in leakproof_use_cases() -%}
{{ use_case }}__rejected as (

    select
        '{{ use_case }}' as use_case,
        source_file,
        line_number,
        reject_reason_code,
        reject_reason,
        raw_line
    from {{ ref('base_' ~ use_case ~ '__rejected') }}

),

{% endfor -%}
final as (
    {% for use_case in leakproof_use_cases() %}
    select * from {{ use_case }}__rejected
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
)

select * from final
