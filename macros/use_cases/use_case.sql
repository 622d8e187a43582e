{#-
    The use-case declarations as dbt reads them. A declaration (use_cases/<name>.yml) declares one
    dbt source named for the use case; its keys sit under the source's config.meta.use_case, the raw
    files under each table's config.meta, each column's role and rules under the column's
    config.meta. The Python package reads the same files (leakproof.declarations) and validates
    them in the stg_use_case_preflight model, which every use case's models run after.

    leakproof_use_cases()      the use cases dbt builds: var use_cases (parse time: names only)
    leakproof_use_case(name)   one declaration, normalised (execute time; see the keys below)
    leakproof_use_case_model(name, materialized, meta)
                               the config of a use case's thin model: enabled only when the use
                               case is turned on, so dropping a name from var use_cases turns all
                               its models off
-#}
{% macro leakproof_use_cases() -%}
    {%- set names = var('use_cases', []) -%}
    {%- if names is string %}{% set names = [names] %}{% endif -%}
    {{ return(names | list) }}
{%- endmacro %}


{% macro leakproof_use_case_model(name, materialized, meta={}) -%}
    {{ config(enabled=name in leakproof_use_cases(), materialized=materialized, meta=meta) }}
{%- endmacro %}


{#- The source table node of a use case (a declaration declares one table). -#}
{% macro leakproof_use_case_source(name) -%}
    {%- set nodes = graph.sources.values()
        | selectattr('package_name', 'equalto', project_name)
        | selectattr('source_name', 'equalto', name) | list -%}
    {%- if nodes | length != 1 -%}
        {{ exceptions.raise_compiler_error(
            "Use case '" ~ name ~ "' is turned on (var use_cases) but no use_cases/" ~ name
            ~ ".yml declares one source table named for it (found " ~ nodes | length ~ "). "
            ~ "Write it with `leakproof use-case add`, or drop the name from var use_cases.") }}
    {%- endif -%}
    {{ return(nodes[0]) }}
{%- endmacro %}


{#- A raw column name (CustomerID) or a snake_case name (customer_id) -> the snake_case name. -#}
{% macro leakproof_column_name(use_case, name) -%}
    {{ return(use_case.raw_names.get(name, leakproof_snake_case(name))) }}
{%- endmacro %}


{#-
    One declaration, normalised to plain dicts and lists; every reference resolved to the
    snake_case column names the tables use. Keys: name, file (the declaration), table {name,
    file, scoring_file, format, delimiter, quote, escape, encoding, header, decimal},
    outcome_columns (raw names of the blocked columns: a scoring file lacks them), columns [{name,
    column, data_type, role, required, min, max, accepted_values, aliases, unknown,
    description}], raw_names, grain, id_columns, target, positive, negative, split {method,
    test_fraction, seed, column, test_periods, folds, fold_group}, impute {column: [[group
    columns], ...]}, outliers {column: {iqr_multiplier, cap}}, segments {name: {column, bands}},
    derived {name: sql}, aggregates {name: {by, statistic, of}}, target_encodings {name: {by,
    smoothing}}, dimensions [{name, sql}], spend, reallocate, reallocation_share, treatments,
    features (the declared feature columns as the prepared table names them), gates, targeting.
-#}
{% macro leakproof_use_case(name) -%}
    {%- set node = leakproof_use_case_source(name) -%}
    {%- set block = node.config.meta.get('use_case', {}) -%}
    {%- set meta = node.config.meta -%}
    {%- set blocked_roles = ['target', 'post_outcome', 'target_derived'] -%}
    {%- set columns = [] -%}
    {%- set raw_names = {} -%}
    {%- for column in node.columns.values() -%}
        {%- set rules = column.config.meta if column.config and column.config.meta else column.meta -%}
        {%- set snake = leakproof_snake_case(column.name) -%}
        {%- do raw_names.update({column.name: snake}) -%}
        {%- do columns.append({
            'name': column.name,
            'column': snake,
            'data_type': (column.data_type or 'varchar') | lower,
            'role': rules.get('role', 'feature'),
            'required': rules.get('required', true),
            'min': rules.get('min'),
            'max': rules.get('max'),
            'accepted_values': rules.get('accepted_values', []) | map('string') | list,
            'aliases': rules.get('aliases', {}),
            'unknown': rules.get('unknown', 'keep'),
            'description': column.description,
        }) -%}
    {%- endfor -%}
    {%- set use_case = {
        'name': name,
        'raw_names': raw_names,
        'columns': columns,
        'outcome_columns': columns | selectattr('role', 'in', blocked_roles) | map(attribute='name') | list,
        'file': node.original_file_path,
        'table': {
            'name': node.name,
            'file': meta.get('file', node.name),
            'scoring_file': meta.get('scoring_file'),
            'format': meta.get('format', ''),
            'delimiter': meta.get('delimiter', ','),
            'quote': meta.get('quote', '"'),
            'escape': meta.get('escape', meta.get('quote', '"')),
            'encoding': meta.get('encoding', 'utf-8'),
            'header': meta.get('header', true),
            'decimal': meta.get('decimal', '.'),
        },
    } -%}
    {%- set grain = [] -%}
    {%- for column in block.get('grain', []) %}{% do grain.append(leakproof_column_name(use_case, column)) %}{% endfor -%}
    {%- set target = block.get('target', {}) -%}
    {%- set split = block.get('split', {}) -%}
    {%- set method = split.get('method', 'stratified') -%}
    {%- set split_column = leakproof_column_name(use_case, split.column) if split.get('column') else none -%}
    {%- set fold_group = leakproof_column_name(use_case, split.fold_group) if split.get('fold_group')
        else (split_column if method == 'grouped' else none) -%}
    {%- do use_case.update({
        'grain': grain,
        'id_columns': grain if grain else ['source_row_number'],
        'target': leakproof_column_name(use_case, target.get('column', '')),
        'positive': target.get('positive', []) | map('string') | list,
        'negative': target.get('negative', []) | map('string') | list,
        'split': {
            'method': method,
            'test_fraction': split.get('test_fraction', 0.2),
            'seed': split.get('seed', 42),
            'column': split_column,
            'test_periods': split.get('test_periods', 1),
            'folds': split.get('folds', 5),
            'fold_group': fold_group,
        },
    }) -%}
    {%- set prepare = block.get('prepare', {}) -%}
    {%- set impute = {} -%}
    {%- for column, rule in prepare.get('impute', {}).items() -%}
        {%- set groups = [] -%}
        {%- for group in rule.get('by', []) -%}
            {%- set resolved = [] -%}
            {%- for member in ([group] if group is string else group) %}{% do resolved.append(leakproof_column_name(use_case, member)) %}{% endfor -%}
            {%- do groups.append(resolved) -%}
        {%- endfor -%}
        {%- do impute.update({leakproof_column_name(use_case, column): groups}) -%}
    {%- endfor -%}
    {%- set outliers = {} -%}
    {%- for column, rule in prepare.get('outliers', {}).items() -%}
        {%- do outliers.update({leakproof_column_name(use_case, column): rule}) -%}
    {%- endfor -%}
    {%- set segments = {} -%}
    {%- for segment, rule in block.get('segments', {}).items() -%}
        {%- do segments.update({segment: {'column': leakproof_column_name(use_case, rule.column), 'bands': rule.bands}}) -%}
    {%- endfor -%}
    {%- set derived = {} -%}
    {%- for feature, rule in block.get('derived', {}).items() -%}
        {%- do derived.update({feature: rule if rule is string else rule.sql}) -%}
    {%- endfor -%}
    {%- set aggregates = {} -%}
    {%- for feature, rule in block.get('aggregates', {}).items() -%}
        {%- set statistic = 'mean' if 'mean' in rule else 'share' -%}
        {%- do aggregates.update({feature: {
            'by': leakproof_column_name(use_case, rule.by),
            'statistic': statistic,
            'of': leakproof_column_name(use_case, rule.mean) if statistic == 'mean' else none,
        }}) -%}
    {%- endfor -%}
    {%- set encodings = {} -%}
    {%- for feature, rule in block.get('target_encodings', {}).items() -%}
        {%- do encodings.update({feature: {'by': leakproof_column_name(use_case, rule.by), 'smoothing': rule.get('smoothing', 20)}}) -%}
    {%- endfor -%}
    {%- set analytics = block.get('analytics', {}) -%}
    {%- set dimensions = [] -%}
    {%- for dimension in analytics.get('dimensions', []) -%}
        {%- if dimension is mapping -%}
            {%- for dimension_name, sql in dimension.items() %}{% do dimensions.append({'name': dimension_name, 'sql': sql}) %}{% endfor -%}
        {%- else -%}
            {%- do dimensions.append({'name': leakproof_column_name(use_case, dimension), 'sql': none}) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set spend = leakproof_column_name(use_case, analytics.spend) if analytics.get('spend') else none -%}
    {%- set treatments = [] -%}
    {%- for treatment in block.get('what_if', {}).get('treatments', []) %}{% do treatments.append(leakproof_column_name(use_case, treatment)) %}{% endfor -%}
    {%- set features = [] -%}
    {%- for column in columns if column.role in ['feature', 'treatment', 'segment', 'spend'] -%}
        {%- do features.append(column.column ~ '_capped' if column.column in outliers else column.column) -%}
    {%- endfor -%}
    {%- do use_case.update({
        'impute': impute,
        'outliers': outliers,
        'segments': segments,
        'derived': derived,
        'aggregates': aggregates,
        'target_encodings': encodings,
        'dimensions': dimensions,
        'spend': spend,
        'reallocate': analytics.get('reallocate', (dimensions | map(attribute='name') | list) if spend else []),
        'reallocation_share': analytics.get('reallocation_share', 0.2),
        'treatments': treatments,
        'features': features,
        'gates': block.get('gates', {}),
        'targeting': block.get('targeting', {}),
    }) -%}
    {{ return(use_case) }}
{%- endmacro %}


{#- The column dict of a use case's column by snake_case name (none if absent). -#}
{% macro leakproof_declared_column(use_case, column) -%}
    {{ return(use_case.columns | selectattr('column', 'equalto', column) | first) }}
{%- endmacro %}


{#- The features the analytics marts test and bin for a use case: its declared feature columns as
    prepared, numeric (a numeric data_type) or categorical, with the imputation flag of each
    imputed column, and the target. -#}
{% macro leakproof_analytics_features(name) -%}
    {%- set out = {'numeric': [], 'categorical': [], 'imputed_flags': {}, 'target': 'null'} -%}
    {%- if not execute -%}{{ return(out) }}{%- endif -%}
    {%- set use_case = leakproof_use_case(name) -%}
    {%- do out.update({'target': use_case.target}) -%}
    {%- for column in use_case.columns if column.role in ['feature', 'treatment', 'segment', 'spend'] -%}
        {%- set prepared = column.column ~ '_capped' if column.column in use_case.outliers else column.column -%}
        {%- if column.data_type in ['integer', 'bigint', 'double'] -%}
            {%- do out['numeric'].append(prepared) -%}
        {%- else -%}
            {%- do out['categorical'].append(prepared) -%}
        {%- endif -%}
        {%- if column.column in use_case.impute -%}
            {%- do out['imputed_flags'].update({prepared: 'is_' ~ column.column ~ '_imputed'}) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(out) }}
{%- endmacro %}


{#- The quality gates of every turned-on use case: var quality_gates, overridden key by key by the
    use case's declared `gates`. -#}
{% macro leakproof_quality_gates() -%}
    {%- set gates = {} -%}
    {%- for name in leakproof_use_cases() -%}
        {%- set merged = {} -%}
        {%- do merged.update(var('quality_gates')) -%}
        {%- do merged.update(leakproof_use_case(name).gates) -%}
        {%- do gates.update({name: merged}) -%}
    {%- endfor -%}
    {{ return(gates) }}
{%- endmacro %}


{#- The turned-on use cases whose declaration has `key` (e.g. 'treatments', 'segments'); at parse
    time every one, so dbt records the refs of all. -#}
{% macro leakproof_use_cases_with(key) -%}
    {%- set names = [] -%}
    {%- for name in leakproof_use_cases() if not execute or leakproof_use_case(name)[key] -%}
        {%- do names.append(name) -%}
    {%- endfor -%}
    {{ return(names) }}
{%- endmacro %}


{#- The declared budget reallocations: one {use_case, dimension, share} per dimension a use case
    with spend reallocates across. -#}
{% macro leakproof_reallocations() -%}
    {%- set rows = [] -%}
    {%- for name in leakproof_use_cases() if execute -%}
        {%- set use_case = leakproof_use_case(name) -%}
        {%- for dimension in (use_case.reallocate if use_case.spend else []) -%}
            {%- do rows.append({'use_case': name, 'dimension': dimension, 'share': use_case.reallocation_share}) -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(rows) }}
{%- endmacro %}


{#- The period of a row of a use case split by time (its time column, as text), else '(all)': an
    expression over the relation alias `relation`. -#}
{% macro leakproof_period(name, relation) -%}
    {%- set split = leakproof_use_case(name).split if execute else {'method': none} -%}
    {%- if split.method == 'time' -%}
        cast({{ relation }}.{{ split.column }} as {{ leakproof_varchar() }})
    {%- else -%}
        '(all)'
    {%- endif -%}
{%- endmacro %}


{#- The contact budget of every turned-on use case: {name: {rows, share}} from its declared
    targeting (default var contact_budget_share). -#}
{% macro leakproof_contact_budgets() -%}
    {%- set budgets = {} -%}
    {%- for name in leakproof_use_cases() if execute -%}
        {%- set targeting = leakproof_use_case(name).targeting -%}
        {%- do budgets.update({name: {
            'rows': targeting.get('budget_rows'),
            'share': targeting.get('budget_share', var('contact_budget_share', 0.2)),
        }}) -%}
    {%- endfor -%}
    {{ return(budgets) }}
{%- endmacro %}


{#- The time column of a use case split by time, else none. -#}
{% macro leakproof_time_column(name) -%}
    {%- set split = leakproof_use_case(name).split if execute else {'method': none} -%}
    {{ return(split.column if split.method == 'time' else none) }}
{%- endmacro %}
