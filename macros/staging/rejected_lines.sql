{#-
    base_<use case>__rejected: one row per raw line of the use case's files that does not parse
    (strict RFC 4180 in the declared dialect): its file, physical line number (the header is
    line 1), the line as written (undecodable bytes shown as \xNN) and why - reject_reason_code
    (undecodable, carriage_return, empty_line, unclosed_quote, bad_quoting, wrong_field_count)
    and reject_reason in words. stg_raw_files splits the files and defines the reader. Not on
    the spark target (no line splitter there: a bad line fails Spark's read).
-#}
{% macro rejected_lines(use_case_name) -%}
    {{- leakproof_use_case_model(use_case_name, 'table') }}
    {%- if target.type == 'spark' %}{{ config(enabled=false) }}{% endif %}
-- depends_on: {{ ref('stg_raw_files') }}
with

rejected as (

    select * from read_rejected_{{ use_case_name }}()

),

final as (

    select
        cast(source_file as varchar) as source_file,
        cast(line_number as bigint) as line_number,
        cast(raw_line as varchar) as raw_line,
        cast(reject_reason_code as varchar) as reject_reason_code,
        cast(reject_reason as varchar) as reject_reason
    from rejected

)

select * from final
{%- endmacro %}
