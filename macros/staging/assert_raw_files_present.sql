{#-
    on-run-start: before any model runs, check every raw file against its source contract and stop
    with one clear message that names the file and the columns:
      - no raw files where `raw_dir` points -> where we looked and how to generate / point to data;
      - a declared column missing from the file (renamed or dropped) -> file, column, what it has;
      - a file with a header but no rows, unless the table's meta says `allow_empty`.
    Only `dbt run` / `dbt build` read raw files, so other commands (compile, docs, test) skip it,
    and only sources read by a selected model are checked (`dbt build -s marts` needs no raw file).
-#}
{% macro assert_raw_files_present() -%}
    {%- if execute and flags.WHICH in ['run', 'build'] -%}
        {%- set problems = [] -%}
        {%- set missing_files = [] -%}
        {%- set read_sources = [] -%}
        {%- for unique_id in selected_resources if unique_id in graph.nodes -%}
            {%- do read_sources.extend(graph.nodes[unique_id].depends_on.nodes | select('in', graph.sources) | list) -%}
        {%- endfor -%}
        {%- set raw_sources = graph.sources.values() | selectattr('package_name', 'equalto', project_name)
            | selectattr('config.external_location', 'defined')
            | selectattr('unique_id', 'in', read_sources) | list -%}
        {%- for node in raw_sources -%}
            {%- set path = var('raw_dir') ~ '/' ~ node.identifier ~ '.' ~ var('raw_format') -%}
            {%- set found = run_query("select count(*) from glob('" ~ path ~ "')").columns[0].values()[0] -%}
            {%- if found == 0 -%}
                {%- do missing_files.append(path) -%}
            {%- else -%}
                {%- set reader = node.config.external_location | replace('{name}', node.identifier) -%}
                {%- set described = run_query('describe select * from ' ~ reader) -%}
                {%- set present = described.columns[0].values() | map('lower') | list -%}
                {%- set missing = [] -%}
                {%- for column in node.columns.values() if column.name | lower not in present -%}
                    {%- do missing.append(column.name) -%}
                {%- endfor -%}
                {%- set declared = node.columns.values() | map(attribute='name') | map('lower') | list -%}
                {%- set unexpected = [] -%}
                {%- for name in described.columns[0].values() if name | lower not in declared -%}
                    {%- do unexpected.append(name) -%}
                {%- endfor -%}
                {%- if missing -%}
                    {%- do problems.append(
                        path ~ ' (source ' ~ node.source_name ~ '.' ~ node.name ~ ') is missing column(s) '
                        ~ missing | join(', ') ~ ' required by ' ~ node.original_file_path ~ '.'
                        ~ (' Columns not in the contract: ' ~ unexpected | join(', ') ~ ' - renamed?' if unexpected else '')
                        ~ ' The file has: ' ~ described.columns[0].values() | join(', ') ~ '.') -%}
                {%- elif not node.config.meta.get('allow_empty', false) -%}
                    {%- set has_rows = run_query('select count(*) from (select 1 from ' ~ reader ~ ' limit 1)').columns[0].values()[0] -%}
                    {%- if has_rows == 0 -%}
                        {%- do problems.append(path ~ ' (source ' ~ node.source_name ~ '.' ~ node.name ~ ') has a header but no data rows.') -%}
                    {%- endif -%}
                {%- endif -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if missing_files | length == raw_sources | length and raw_sources -%}
            {{ exceptions.raise_compiler_error(
                "No raw data found. Looked for " ~ missing_files | join(', ')
                ~ " (var raw_dir='" ~ var('raw_dir') ~ "', raw_format='" ~ var('raw_format') ~ "', relative to "
                ~ "the directory dbt runs in). Generate the demo data with `leakproof generate --out "
                ~ var('raw_dir') ~ "` (or `make data`), or point dbt at your own files with "
                ~ "`dbt build --vars '{raw_dir: /path/to/files, raw_format: csv}'`.") }}
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
