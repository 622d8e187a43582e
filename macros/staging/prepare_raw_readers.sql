{#-
    on-run-start: for every turned-on use case, define the relation its source resolves to. On
    DuckDB the table macro `read_raw_<use case>__<table>()` (dbt_project.yml sets the sources'
    external_location to it); on Spark the view `<use case>.<table>` (the source's own name) over
    one file-source table per raw file (spark__define_raw_reader). It reads the declared files with the declared dialect,
    every column as text, and numbers the rows of each file in file order:
      - the labelled file, and the scoring batch when one is declared and not empty;
      - `source_file` ('labelled' | 'scoring') and `source_row_number` (1-based, per file).
    A CSV is read by its own header line (no sniffing), so a ragged line fails with its line
    number, and the reader reads nothing else until a model uses it. A file that is missing, or
    whose header names a column twice or not at all, is left out: the stg_use_case_preflight
    model, which every use case's models run after, reports it (and every other file-level
    problem: encoding, delimiter, missing columns) with a clear message.
    Only `dbt run` / `dbt build` read raw files; other commands skip this.
-#}
{% macro prepare_raw_readers() -%}
    {%- if execute and flags.WHICH in ['run', 'build'] -%}
        {%- for name in leakproof_use_cases() -%}
            {%- set use_case = leakproof_use_case(name) -%}
            {%- set table = use_case.table -%}
            {%- set files = [] -%}
            {%- for source_file, file in [('labelled', table.file), ('scoring', table.scoring_file)] if file -%}
                {%- set path = leakproof_raw_path(file, table) -%}
                {%- if leakproof_raw_file_bytes(path) > 0 -%}
                    {%- set names = leakproof_raw_header(path, table, use_case.columns) -%}
                    {%- if names is none or (names and '' not in names
                            and names | map('lower') | unique | list | length == names | length) -%}
                        {%- do files.append({'path': path, 'source_file': source_file, 'names': names}) -%}
                    {%- endif -%}
                {%- endif -%}
            {%- endfor -%}
            {%- if files -%}
                {%- do adapter.dispatch('define_raw_reader', 'leakproof')(name, table, files) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    select 1
{%- endmacro %}


{#- The path of a declared raw file in var raw_dir: as written, or with `.<raw_format>` when it
    has no extension, as a quoted SQL string. -#}
{% macro leakproof_raw_path(file, table) -%}
    {%- set has_extension = modules.re.search('\.[A-Za-z0-9]+$', file) is not none -%}
    {%- set name = file if has_extension else file ~ '.' ~ (table.format or var('raw_format')) -%}
    {{ return(var('raw_dir') ~ '/' ~ name) }}
{%- endmacro %}


{#- Bytes in the file(s) a path or glob names (0 when there are none). -#}
{% macro leakproof_raw_file_bytes(path) -%}
    {{ return(adapter.dispatch('raw_file_bytes', 'leakproof')(path)) }}
{%- endmacro %}

{% macro default__raw_file_bytes(path) -%}
    {%- set quoted = "'" ~ path | replace("'", "''") ~ "'" -%}
    {%- if run_query('select count(*) from glob(' ~ quoted ~ ')').columns[0].values()[0] == 0 -%}
        {{ return(0) }}
    {%- endif -%}
    {{ return(run_query('select coalesce(sum(size), 0) from read_blob(' ~ quoted ~ ')').columns[0].values()[0]) }}
{%- endmacro %}


{#- The column names of a raw CSV file, in file order: its first line split by the declared
    delimiter and quote (surrounding spaces and a byte-order mark removed), or the declared names
    when the declaration says header: false; none for a Parquet file. The line is read as latin-1,
    which cannot fail, and re-decoded as UTF-8 when that is the declared encoding, so a file in
    the wrong encoding still reaches the preflight, which names the problem. -#}
{% macro leakproof_raw_header(path, table, columns) -%}
    {%- if leakproof_raw_format(path, table) == 'parquet' -%}{{ return(none) }}{%- endif -%}
    {%- if not table.header -%}{{ return(columns | map(attribute='name') | list) }}{%- endif -%}
    {%- set line = adapter.dispatch('raw_first_line', 'leakproof')(path, table) -%}
    {%- set ns = namespace(field='', fields=[], quoted=false, skip=false) -%}
    {%- for i in range(line | length) -%}
        {%- set character = line[i] -%}
        {%- if ns.skip -%}
            {%- set ns.skip = false -%}
        {%- elif ns.quoted and character == table.quote and line[i + 1:i + 2] == table.quote -%}
            {%- set ns.field = ns.field ~ character -%}
            {%- set ns.skip = true -%}
        {%- elif character == table.quote -%}
            {%- set ns.quoted = not ns.quoted -%}
        {%- elif character == table.delimiter and not ns.quoted -%}
            {%- do ns.fields.append(ns.field.replace('\ufeff', '').strip()) -%}
            {%- set ns.field = '' -%}
        {%- else -%}
            {%- set ns.field = ns.field ~ character -%}
        {%- endif -%}
    {%- endfor -%}
    {%- do ns.fields.append(ns.field.replace('\ufeff', '').strip()) -%}
    {{ return(ns.fields) }}
{%- endmacro %}


{#- csv or parquet: the declared format, else the file's extension, else var raw_format. -#}
{% macro leakproof_raw_format(path, table) -%}
    {%- set extension = path.split('.') | last -%}
    {{ return(table.format or (extension if extension in ['csv', 'parquet'] else var('raw_format'))) }}
{%- endmacro %}


{#- The query that reads one raw file: CSV strictly in the declared dialect by the header's own
    column names (`names`, every column as text, no sniffing: an unparseable value reaches
    staging, and quarantine, with its original text; a ragged line fails naming its line), Parquet
    as stored; plus source_file and source_row_number. -#}
{% macro leakproof_raw_reader(path, table, source_file, names) -%}
    {%- set quoted = "'" ~ path | replace("'", "''") ~ "'" -%}
    {%- if leakproof_raw_format(path, table) == 'parquet' -%}
        {%- set reader = 'read_parquet(' ~ quoted ~ ')' -%}
    {%- else -%}
        {%- set spec = [] -%}
        {%- for name in names %}{% do spec.append("'" ~ name | replace("'", "''") ~ "': 'VARCHAR'") %}{% endfor -%}
        {%- set options = [
            'header = ' ~ ('true' if table.header else 'false'),
            'auto_detect = false',
            'columns = {' ~ spec | join(', ') ~ '}',
            "delim = '" ~ table.delimiter | replace("'", "''") ~ "'",
            "quote = '" ~ table.quote | replace("'", "''") ~ "'",
            "escape = '" ~ table.escape | replace("'", "''") ~ "'",
            "encoding = '" ~ table.encoding | replace("'", "''") ~ "'",
        ] -%}
        {%- set reader = 'read_csv(' ~ quoted ~ ', ' ~ options | join(', ') ~ ')' -%}
    {%- endif -%}
    {{ return("(select *, '" ~ source_file ~ "' as source_file, row_number() over () as source_row_number from " ~ reader ~ ")") }}
{%- endmacro %}


{#- The first line of a raw file as text ('' for none). -#}
{% macro default__raw_first_line(path, table) -%}
    {%- set utf8 = table.encoding | lower in ['utf-8', 'utf8'] -%}
    {%- set lines = run_query(
        "select line from read_csv('" ~ path | replace("'", "''") ~ "', header = false, "
        ~ "auto_detect = false, columns = {'line': 'VARCHAR'}, delim = chr(1), quote = '', "
        ~ "escape = '', encoding = '" ~ ('latin-1' if utf8 else table.encoding) ~ "') limit 1"
    ).columns[0].values() -%}
    {%- set line = (lines[0] if lines else none) or '' -%}
    {%- if utf8 -%}{%- set line = line.encode('latin-1').decode('utf-8', 'replace') -%}{%- endif -%}
    {{ return(line) }}
{%- endmacro %}


{#- DuckDB: the table macro read_raw_<use case>__<table>() over the files, by column name. -#}
{% macro default__define_raw_reader(name, table, files) -%}
    {%- set reads = [] -%}
    {%- for file in files -%}
        {%- do reads.append(leakproof_raw_reader(file.path, table, file.source_file, file.names)) -%}
    {%- endfor -%}
    {%- do run_query(
        'create or replace macro read_raw_' ~ name ~ '__' ~ table.name ~ '() as table '
        ~ reads | join(' union all by name ')) -%}
{%- endmacro %}
