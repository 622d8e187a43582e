{#-
    on-run-start: for every raw source that a selected model reads, check the raw file against the
    source's contract and define the DuckDB table macro `read_raw_<table>()` that the source's
    external_location points to. Stops before any model runs, with one message naming the file and
    the columns, when:
      - no raw file exists where var raw_dir points (says where it looked and how to get data);
      - a contract column is missing from the file (renamed or dropped; lists what the file has);
      - the file has a header but no rows (unless the table's meta says allow_empty).
    CSV is read with the header's own column names in the file's order, every column VARCHAR, and
    no sniffing (delimiter ',', quote '"'), so a ragged line fails with its line number and an
    unparseable value reaches staging - and quarantine - with its original text.
    Only `dbt run` / `dbt build` read raw files; other commands skip this.
-#}
{% macro prepare_raw_readers() -%}
    {%- if execute and flags.WHICH in ['run', 'build'] -%}
        {%- set read_by_selection = [] -%}
        {%- for unique_id in selected_resources if unique_id in graph.nodes -%}
            {%- do read_by_selection.extend(graph.nodes[unique_id].depends_on.nodes) -%}
        {%- endfor -%}
        {%- set raw_sources = graph.sources.values()
            | selectattr('package_name', 'equalto', project_name)
            | selectattr('config.external_location', 'defined')
            | selectattr('unique_id', 'in', read_by_selection) | list -%}
        {%- set problems = [] -%}
        {%- set missing_files = [] -%}
        {%- for node in raw_sources -%}
            {%- set path = var('raw_dir') ~ '/' ~ node.identifier ~ '.' ~ var('raw_format') -%}
            {%- if run_query("select count(*) from glob('" ~ path ~ "')").columns[0].values()[0] == 0 -%}
                {%- do missing_files.append(path) -%}
            {%- else -%}
                {%- set found_columns = leakproof_raw_header(path) -%}
                {%- set problem = leakproof_contract_problem(node, path, found_columns) -%}
                {%- if problem -%}
                    {%- do problems.append(problem) -%}
                {%- else -%}
                    {%- do run_query(
                        'create or replace macro read_raw_' ~ node.identifier ~ '() as table '
                        ~ leakproof_raw_reader(path, found_columns)) -%}
                    {%- if not node.config.meta.get('allow_empty', false) and run_query(
                            'select count(*) from (select 1 from read_raw_' ~ node.identifier ~ '() limit 1)'
                        ).columns[0].values()[0] == 0 -%}
                        {%- do problems.append(path ~ ' (source ' ~ node.source_name ~ '.' ~ node.name
                            ~ ') has a header but no data rows.') -%}
                    {%- endif -%}
                {%- endif -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if raw_sources and missing_files | length == raw_sources | length -%}
            {{ exceptions.raise_compiler_error(
                "No raw data found. Looked for " ~ missing_files | join(', ')
                ~ " (var raw_dir='" ~ var('raw_dir') ~ "', raw_format='" ~ var('raw_format')
                ~ "', relative to the directory dbt runs in). Generate the demo data with "
                ~ "`leakproof generate --out " ~ var('raw_dir') ~ "` (or `make data`), or point dbt "
                ~ "at your own files: dbt build --vars '{raw_dir: /path/to/files, raw_format: csv}'") }}
        {%- endif -%}
        {%- for path in missing_files -%}
            {%- do problems.append('raw file ' ~ path ~ ' not found (var raw_dir=' ~ var('raw_dir') ~ ').') -%}
        {%- endfor -%}
        {%- if problems -%}
            {{ exceptions.raise_compiler_error("Raw files break their contract:\n  - " ~ problems | join("\n  - ")) }}
        {%- endif -%}
    {%- endif -%}
    select 1
{%- endmacro %}


{#- The column names of a raw file, in file order: the CSV header line read as plain text
    (a byte-order mark and surrounding quotes removed), or the Parquet schema. -#}
{% macro leakproof_raw_header(path) -%}
    {%- if var('raw_format') == 'parquet' -%}
        {{ return(run_query("describe select * from read_parquet('" ~ path ~ "')").columns[0].values() | list) }}
    {%- endif -%}
    {%- set first_line = run_query(
        "select line from read_csv('" ~ path ~ "', header = false, auto_detect = false, "
        ~ "columns = {'line': 'VARCHAR'}, delim = chr(1), quote = '', escape = '') limit 1"
    ).columns[0].values() -%}
    {%- set names = [] -%}
    {%- for name in (first_line[0] or '').replace('\ufeff', '').split(',') -%}
        {%- do names.append(name.strip().strip('"').strip()) -%}
    {%- endfor -%}
    {{ return(names) }}
{%- endmacro %}


{#- A message naming the file and every contract column it lacks, or '' when it has them all.
    Names match case-insensitively, as DuckDB identifiers do. -#}
{% macro leakproof_contract_problem(node, path, found_columns) -%}
    {%- set found_lower = found_columns | map('lower') | list -%}
    {%- set declared_lower = node.columns.values() | map(attribute='name') | map('lower') | list -%}
    {%- set missing = [] -%}
    {%- for column in node.columns.values() if column.name | lower not in found_lower -%}
        {%- do missing.append(column.name) -%}
    {%- endfor -%}
    {%- if not missing -%}{{ return('') }}{%- endif -%}
    {%- set unexpected = [] -%}
    {%- for name in found_columns if name | lower not in declared_lower -%}
        {%- do unexpected.append(name) -%}
    {%- endfor -%}
    {{ return(path ~ ' (source ' ~ node.source_name ~ '.' ~ node.name ~ ') is missing column(s) '
        ~ missing | join(', ') ~ ' required by ' ~ node.original_file_path ~ '.'
        ~ (' Column(s) not in the contract: ' ~ unexpected | join(', ') ~ ' - renamed?' if unexpected else '')
        ~ ' The file has: ' ~ found_columns | join(', ') ~ '.') }}
{%- endmacro %}


{#- The DuckDB query that reads a raw file: CSV strictly by its own header (all VARCHAR, no
    sniffing), Parquet as stored. -#}
{% macro leakproof_raw_reader(path, columns) -%}
    {%- if var('raw_format') == 'parquet' -%}
        select * from read_parquet('{{ path }}')
    {%- else -%}
        {%- set spec = [] -%}
        {%- for name in columns %}{% do spec.append("'" ~ name | replace("'", "''") ~ "': 'VARCHAR'") %}{% endfor -%}
        select * from read_csv('{{ path }}', header = true, auto_detect = false, delim = ',',
            quote = '"', escape = '"', columns = { {{- spec | join(', ') -}} })
    {%- endif -%}
{%- endmacro %}
