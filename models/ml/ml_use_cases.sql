-- One row per turned-on use case: what it declares (target, labels, grain, split) and the
-- relations its shared models read, with the rows and positives of each split. The shared Python
-- models (training, scoring, what-if, drift) read their inputs through this table, since a Python
-- model cannot loop over refs: it refs every use case's feature table, so they run after them.
with

{% for use_case_name in leakproof_use_cases() -%}
{%- set use_case = leakproof_use_case(use_case_name) if execute else none -%}
{{ use_case_name }}__features as (

    select * from {{ ref('ml_' ~ use_case_name ~ '_features') }}

),

{{ use_case_name }}__summary as (

    select
        '{{ use_case_name }}' as use_case,
        '{{ use_case.file if execute else "" }}' as declaration,
        '{{ (use_case.target if execute else "") }}' as target,
        '{{ (use_case.positive | join(", ") if execute else "") | replace("'", "''") }}' as positive_labels,
        '{{ (use_case.grain | join(", ") if execute else "") }}' as grain,
        '{{ (use_case.split.method if execute else "") }}' as split_method,
        '{{ (use_case.treatments | join(" + ") if execute else "") }}' as treatments,
        '{{ ref("ml_" ~ use_case_name ~ "_features") }}' as feature_relation,
        '{{ ref("int_" ~ use_case_name ~ "__prepared") }}' as prepared_relation,
        count(*) filter (where split = 'train') as train_rows,
        count(*) filter (where split = 'test') as test_rows,
        count(*) filter (where split = 'score') as score_rows,
        count(*) filter (where split = 'train' and {{ use_case.target if execute else 'null' }} = 1) as train_positives,
        count(*) filter (where split = 'test' and {{ use_case.target if execute else 'null' }} = 1) as test_positives
    from {{ use_case_name }}__features

),

{% endfor -%}
final as (
    {% for use_case_name in leakproof_use_cases() %}
    select * from {{ use_case_name }}__summary
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
)

select * from final
