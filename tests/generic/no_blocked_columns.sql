{#- Leakage guard, layer 1 (declared roles): no column of a feature table carries the name of a
    column the use case declares target_derived or post_outcome (the target itself is the label
    and is there by design, marked). Returns each offending column. -#}
{% test no_blocked_columns(model, use_case) %}
    {%- set blocked = [] -%}
    {%- if execute -%}
        {%- set declared = leakproof_use_case(use_case) -%}
        {%- for column in declared.columns if column.role in ['post_outcome', 'target_derived'] -%}
            {%- do blocked.append(column.column) -%}
        {%- endfor -%}
    {%- endif -%}
    {%- set present = [] -%}
    {%- if execute -%}
        {%- for column in adapter.get_columns_in_relation(model) if column.name | lower in blocked -%}
            {%- do present.append(column.name | lower) -%}
        {%- endfor -%}
    {%- endif -%}
    {%- set sql -%}
select column_name
from (values {% for column in present %}('{{ column }}'){{ ", " if not loop.last }}{% endfor %}{{ "(null)" if not present }}) as found (column_name)
where column_name is not null
    {%- endset -%}
    {{ leakproof_log_failures(sql, "LEAKAGE GUARD: " ~ model.identifier ~ ".{0} is declared blocked (target_derived / post_outcome) in use_cases/" ~ use_case ~ ".yml and must never be in a feature table") }}
    {{ sql }}
{% endtest %}
