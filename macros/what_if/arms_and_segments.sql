{#- The segments ml_recommendation_summary reports a what-if use case in, as (segment_type,
    segment expression, row predicate): every row, each value of its what_if.support_segments,
    and each of its what_if.summary_segments (name: predicate over its feature columns). -#}
{% macro leakproof_summary_segments(name) -%}
    {%- set what_if = leakproof_use_case_source(name).config.meta.use_case.what_if
        if execute else {} -%}
    {%- set segments = [('overall', "'all rows'", 'true')] -%}
    {%- for column in what_if.get('support_segments', []) -%}
        {%- do segments.append(
            (column, "coalesce(cast(" ~ column ~ " as " ~ leakproof_varchar() ~ "), '(missing)')", 'true')
        ) -%}
    {%- endfor -%}
    {%- for segment, predicate in what_if.get('summary_segments', {}).items() -%}
        {%- do segments.append(('declared', leakproof_text(segment), predicate)) -%}
    {%- endfor -%}
    {{ return(segments) }}
{%- endmacro %}


{#- The arm of a row as text: its treatment_1 .. treatment_n values joined by ' + ' (a missing
    value is '(missing)'), the label ml_recommendations gives the same arm. -#}
{% macro leakproof_arm_label(treatment_count) -%}
    {%- set parts = [] -%}
    {%- for index in range(1, treatment_count + 1) -%}
        {%- do parts.append("coalesce(treatment_" ~ index ~ ", '(missing)')") -%}
    {%- endfor -%}
    {{ parts | join(" || ' + ' || ") }}
{%- endmacro %}
