{#- A target encoding may use the target only out of fold and from training rows: a training row's
    value is the smoothed target mean of its group over the training rows of the OTHER folds, a
    test or score row's over all training rows, smoothed towards the training rate with
    `smoothing` pseudo-rows. Recomputes that and returns every row whose value differs - a naive
    encoding over all labelled rows fails on every row. Column-level (column_name, target, group_by,
    smoothing), or model-level with `use_case`: every target encoding the use case declares. -#}
{% test target_encoding_is_out_of_fold(
    model, column_name=none, target=none, group_by=none, smoothing=none, use_case=none,
    split_column='split', fold_column='cv_fold'
) %}
    {%- set checks = [] -%}
    {%- if use_case and execute -%}
        {%- set declared = leakproof_use_case(use_case) -%}
        {%- for name, rule in declared.target_encodings.items() -%}
            {%- do checks.append([name, declared.target, rule.by, rule.smoothing]) -%}
        {%- endfor -%}
    {%- elif column_name -%}
        {%- do checks.append([column_name, target, group_by, smoothing]) -%}
    {%- endif -%}
    {%- if not checks %}
select 1 as no_encoding where false
    {%- endif -%}
    {%- for column, target, group_by, smoothing in checks %}
    {{ "union all" if not loop.first }}
    select '{{ column }}' as encoding, * from (
        {{ leakproof_out_of_fold_check(model, column, target, group_by, smoothing, split_column, fold_column) }}
    )
    {%- endfor %}
{% endtest %}
