{#- The feature columns of a model, by kind, from the warehouse's column types and the model's yml:
    a column whose meta has `feature_role` (target, identifier, split, weight) is not a feature.
    Returns {'numeric': [...], 'boolean': [...], 'categorical': [...]}. -#}
{% macro leakproof_feature_columns(model) -%}
    {%- set not_features = [] -%}
    {%- for node in graph.nodes.values()
        if node.resource_type == 'model' and node.alias == model.identifier
        and node.schema == model.schema -%}
        {%- for column in node.columns.values() if column.meta.get('feature_role') -%}
            {%- do not_features.append(column.name | lower) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- set kinds = {'numeric': [], 'boolean': [], 'categorical': []} -%}
    {%- for column in adapter.get_columns_in_relation(model) if column.name | lower not in not_features -%}
        {%- if column.dtype | lower == 'boolean' -%}
            {%- do kinds['boolean'].append(column.name) -%}
        {%- elif column.is_number() -%}
            {%- do kinds['numeric'].append(column.name) -%}
        {%- else -%}
            {%- do kinds['categorical'].append(column.name) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(kinds) }}
{%- endmacro %}


{#- At most `rows` labelled rows of a model, a seeded sample beyond that, so the guard's cost stays
    flat however large the table (a leak shows on any sample). -#}
{% macro leakproof_labelled_sample(model, target, rows) -%}
    {{ return(adapter.dispatch('labelled_sample', 'leakproof')(model, target, rows)) }}
{%- endmacro %}

{% macro default__labelled_sample(model, target, rows) -%}
    select * from {{ model }} where {{ target }} is not null limit {{ rows }}
{%- endmacro %}

{% macro duckdb__labelled_sample(model, target, rows) -%}
    select * from {{ model }} where {{ target }} is not null
    using sample reservoir({{ rows }} rows) repeatable (42)
{%- endmacro %}


{#- Print one line per failing row of a test's query before dbt runs it, so the build log names
    the offending column(s), not only a count. `template` is a format string over the row's
    columns, e.g. "LEAKAGE GUARD: features.{0} alone predicts the target (AUC {1:.3f})". -#}
{% macro leakproof_log_failures(sql, template) -%}
    {#- only when tests really run (not on dbt compile / docs, when the table may not exist) -#}
    {%- if execute and flags.WHICH in ['build', 'test'] -%}
        {%- for row in run_query(sql) -%}
            {%- do log(template.format(*row), info=True) -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
