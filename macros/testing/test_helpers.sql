{#- The feature columns of a model, by kind, from the warehouse's column types. The columns that
    are not features come from the use case's declaration when `use_case` is given (entity_key, its
    id columns, split, cv_fold, the target), else from the model's yml (a column whose meta has
    `feature_role`: target, identifier, split, weight). Returns {'numeric': [...], 'boolean':
    [...], 'categorical': [...]}. On Spark `int` and `decimal(p, s)` are numbers
    too (dbt's is_number() knows only the SQL-standard names). -#}
{% macro leakproof_feature_columns(model, use_case=none) -%}
    {%- set not_features = [] -%}
    {%- if use_case -%}
        {%- set declared = leakproof_use_case(use_case) -%}
        {%- do not_features.extend(['entity_key', 'split', 'cv_fold', declared.target] + declared.id_columns) -%}
    {%- else -%}
        {%- for node in graph.nodes.values()
            if node.resource_type == 'model' and node.alias == model.identifier
            and node.schema == model.schema -%}
            {%- for column in node.columns.values() if column.meta.get('feature_role') -%}
                {%- do not_features.append(column.name | lower) -%}
            {%- endfor -%}
        {%- endfor -%}
    {%- endif -%}
    {%- set kinds = {'numeric': [], 'boolean': [], 'categorical': []} -%}
    {%- for column in adapter.get_columns_in_relation(model) if column.name | lower not in not_features -%}
        {%- if column.dtype | lower == 'boolean' -%}
            {%- do kinds['boolean'].append(column.name) -%}
        {%- elif column.is_number() or (target.type == 'spark'
                and (column.dtype | lower == 'int' or (column.dtype | lower).startswith('decimal'))) -%}
            {%- do kinds['numeric'].append(column.name) -%}
        {%- else -%}
            {%- do kinds['categorical'].append(column.name) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(kinds) }}
{%- endmacro %}


{#- The target column a leakage test checks: `target` when given, else the use case's. -#}
{% macro leakproof_test_target(target, use_case) -%}
    {%- if target -%}{{ return(target) }}{%- endif -%}
    {%- if not execute -%}{{ return('null') }}{%- endif -%}
    {{ return(leakproof_use_case(use_case).target) }}
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

{#- Spark: a seeded random order (rand(42)) and a limit. -#}
{% macro spark__labelled_sample(model, target, rows) -%}
    select * from {{ model }} where {{ target }} is not null
    order by rand(42)
    limit {{ rows }}
{%- endmacro %}
