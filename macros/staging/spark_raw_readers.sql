{#-
    The raw readers on the spark target only (on DuckDB stg_raw_files defines them, with the
    strict line splitter of leakproof.raw; the hook below renders nothing there). A Python model
    does not run on the spark target, so the on-run-start hook defines them: for every turned-on
    use case, the view `<use case>.<table>` (the source's own name) over one Spark file-source
    table per raw file `<use case>.<table>__<labelled|scoring>` (CSV in the declared dialect with
    the header's own column names, every column a string, a malformed line failing the read; or
    Parquet as stored), by column name (a column a file lacks is NULL there), with source_file
    ('labelled' | 'scoring') and source_row_number (1-based, in file order:
    monotonically_increasing_id() follows the file, which multiLine keeps in one partition).
    A missing or empty file, or one whose header names a column twice or not at all, is left out.
    There is no line splitter on Spark: no rejected lines, no line accounting (a bad line fails
    the read). Spark reads the files where the session runs: a cluster needs raw_dir on storage
    every executor sees (HDFS, S3, ABFS, DBFS). Only `dbt run` / `dbt build` read raw files.
-#}
{% macro leakproof_spark_raw_readers() -%}
    {%- if execute and target.type == 'spark' and flags.WHICH in ['run', 'build'] -%}
        {%- for name in leakproof_use_cases() -%}
            {%- set use_case = leakproof_use_case(name) -%}
            {%- set table = use_case.table -%}
            {%- set files = [] -%}
            {%- for source_file, file in [('labelled', table.file), ('scoring', table.scoring_file)] if file -%}
                {%- set path = leakproof_spark_raw_path(file, table) -%}
                {%- if leakproof_spark_raw_file_bytes(path) > 0 -%}
                    {%- set names = leakproof_spark_raw_header(path, table, use_case.columns) -%}
                    {%- if names is none or (names and '' not in names
                            and names | map('lower') | unique | list | length == names | length) -%}
                        {%- do files.append({'path': path, 'source_file': source_file, 'names': names}) -%}
                    {%- endif -%}
                {%- endif -%}
            {%- endfor -%}
            {%- if files -%}
                {%- do leakproof_spark_define_raw_reader(name, table, files) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}


{#- The path of a declared raw file in var raw_dir: as written, or with `.<raw_format>` when it
    has no extension. -#}
{% macro leakproof_spark_raw_path(file, table) -%}
    {%- set has_extension = modules.re.search('\.[A-Za-z0-9]+$', file) is not none -%}
    {%- set name = file if has_extension else file ~ '.' ~ (table.format or var('raw_format')) -%}
    {{ return(var('raw_dir') ~ '/' ~ name) }}
{%- endmacro %}


{#- csv or parquet: the declared format, else the file's extension, else var raw_format. -#}
{% macro leakproof_spark_raw_format(path, table) -%}
    {%- set extension = path.split('.') | last -%}
    {{ return(table.format or (extension if extension in ['csv', 'parquet'] else var('raw_format'))) }}
{%- endmacro %}


{#- The column names of a raw CSV file, in file order: its first line split by the declared
    delimiter and quote (surrounding spaces and a byte-order mark removed), or the declared names
    when the declaration says header: false; none for a Parquet file. -#}
{% macro leakproof_spark_raw_header(path, table, columns) -%}
    {%- if leakproof_spark_raw_format(path, table) == 'parquet' -%}{{ return(none) }}{%- endif -%}
    {%- if not table.header -%}{{ return(columns | map(attribute='name') | list) }}{%- endif -%}
    {%- set line = leakproof_spark_raw_first_line(path, table) -%}
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


{#- The view over one use case's raw files (see above). -#}
{% macro leakproof_spark_define_raw_reader(name, table, files) -%}
    {%- set node = leakproof_use_case_source(name) -%}
    {%- do run_query('create database if not exists ' ~ node.schema) -%}
    {%- set reads = [] -%}
    {%- set all_names = [] -%}
    {%- for file in files -%}
        {%- set relation = node.schema ~ '.' ~ node.identifier ~ '__' ~ file.source_file -%}
        {%- do run_query('drop table if exists ' ~ relation) -%}
        {%- do run_query(leakproof_spark_raw_table(relation, file.path, table, file.names)) -%}
        {%- set names = file.names -%}
        {%- if names is none -%}
            {%- set names = adapter.get_columns_in_relation(api.Relation.create(
                schema=node.schema, identifier=node.identifier ~ '__' ~ file.source_file)) | map(attribute='name') | list -%}
        {%- endif -%}
        {%- for column in names if column | lower not in all_names | map('lower') | list -%}
            {%- do all_names.append(column) -%}
        {%- endfor -%}
        {%- do reads.append({'relation': relation, 'source_file': file.source_file, 'names': names | map('lower') | list}) -%}
    {%- endfor -%}
    {%- set selects = [] -%}
    {%- for read in reads -%}
        {%- set columns = [] -%}
        {%- for column in all_names -%}
            {%- if column | lower in read.names -%}
                {%- do columns.append(adapter.quote(column)) -%}
            {%- else -%}
                {%- do columns.append('cast(null as string) as ' ~ adapter.quote(column)) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- do selects.append(
            'select ' ~ columns | join(', ') ~ ", '" ~ read.source_file ~ "' as source_file, "
            ~ 'row_number() over (order by _leakproof_position) as source_row_number from ('
            ~ 'select *, monotonically_increasing_id() as _leakproof_position from ' ~ read.relation ~ ')') -%}
    {%- endfor -%}
    {%- do run_query('create or replace view ' ~ node.schema ~ '.' ~ node.identifier ~ ' as '
        ~ selects | join(' union all ')) -%}
{%- endmacro %}


{#- The create statement of one raw file's file-source table. -#}
{% macro leakproof_spark_raw_table(relation, path, table, names) -%}
    {%- set quoted = "'" ~ path | replace("\\", "\\\\") | replace("'", "\\'") ~ "'" -%}
    {%- if leakproof_spark_raw_format(path, table) == 'parquet' -%}
        {{ return('create table ' ~ relation ~ ' using parquet options (path ' ~ quoted ~ ')') }}
    {%- endif -%}
    {%- set spec = [] -%}
    {%- for name in names %}{% do spec.append(adapter.quote(name) ~ ' string') %}{% endfor -%}
    {%- set options = {
        'path': path,
        'header': 'true' if table.header else 'false',
        'sep': table.delimiter,
        'quote': table.quote,
        'escape': table.escape,
        'encoding': table.encoding,
        'multiLine': 'true',
        'mode': 'FAILFAST',
    } -%}
    {%- set pairs = [] -%}
    {%- for key, value in options.items() -%}
        {%- do pairs.append(key ~ " '" ~ value | replace("\\", "\\\\") | replace("'", "\\'") ~ "'") -%}
    {%- endfor -%}
    {{ return('create table ' ~ relation ~ ' (' ~ spec | join(', ') ~ ') using csv options ('
        ~ pairs | join(', ') ~ ')') }}
{%- endmacro %}


{#- Bytes in a raw file (0 when it is absent), by a binaryFile listing of its folder. -#}
{% macro leakproof_spark_raw_file_bytes(path) -%}
    {%- set folder, _, name = path.rpartition('/') -%}
    {%- do run_query("create or replace temporary view _leakproof_raw_file using binaryFile options (path '"
        ~ (folder or '.') | replace("'", "\\'") ~ "', pathGlobFilter '" ~ name | replace("'", "\\'") ~ "')") -%}
    {{ return(run_query('select coalesce(sum(length), 0) from _leakproof_raw_file').columns[0].values()[0]) }}
{%- endmacro %}


{#- The first line of a raw file (Spark's text source reads it as UTF-8). -#}
{% macro leakproof_spark_raw_first_line(path, table) -%}
    {%- set lines = run_query("select value from text.`" ~ path | replace('`', '``') ~ "` limit 1").columns[0].values() -%}
    {{ return((lines[0] if lines else none) or '') }}
{%- endmacro %}
