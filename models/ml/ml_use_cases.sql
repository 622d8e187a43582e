-- One row per turned-on use case: what it declares (target, labels, grain, split) and the
-- relations its shared models read, with the rows and positives of each split. The shared Python
-- models (training, scoring, what-if, drift) read their inputs through this table, since a Python
-- model cannot loop over refs: it refs every use case's feature table, so they run after them.
with

{% for use_case_name in leakproof_use_cases() -%}
{%- set use_case = leakproof_use_case(use_case_name) if execute else {} -%}
{%- set target = use_case.target if execute else 'null' -%}
{%- set features = ref('ml_' ~ use_case_name ~ '_features') -%}
{{ use_case_name }}__features as (

    select * from {{ features }}

),

{{ use_case_name }}__summary as (

    select
        '{{ use_case_name }}' as use_case,
        {{ leakproof_text(use_case.file) }} as declaration,
        {{ leakproof_text(use_case.target) }} as target_column,
        {{ leakproof_text(use_case.positive) }} as positive_labels,
        {{ leakproof_text(use_case.grain) }} as grain,
        {{ leakproof_text(use_case.split.method if execute else none) }} as split_method,
        {{ leakproof_text(use_case.treatments, ' + ') }} as treatments,
        '{{ features }}' as feature_relation,
        '{{ ref("int_" ~ use_case_name ~ "__prepared") }}' as prepared_relation,
        count(*) filter (where split = 'train') as train_rows,
        count(*) filter (where split = 'test') as test_rows,
        count(*) filter (where split = 'score') as score_rows,
        count(*) filter (where split = 'train' and {{ target }} = 1) as train_positives,
        count(*) filter (where split = 'test' and {{ target }} = 1) as test_positives
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
