{#-
    The raw readers on Spark (prepare_raw_readers dispatches here): every raw file is a Spark
    file-source table `<use case>.<table>__<labelled|scoring>` (CSV in the declared dialect with
    the header's own column names, every column a string, a malformed line failing the read; or
    Parquet as stored), and the source `<use case>.<table>` is a view over them by column name
    (a column a file lacks is NULL there), with source_file and source_row_number (1-based, in
    file order: monotonically_increasing_id() follows the file, which multiLine keeps in one
    partition). Spark reads the files where the session runs: a cluster needs raw_dir on storage
    every executor sees (HDFS, S3, ABFS, DBFS).
-#}
{% macro spark__define_raw_reader(name, table, files) -%}
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
    {%- if leakproof_raw_format(path, table) == 'parquet' -%}
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
{% macro spark__raw_file_bytes(path) -%}
    {%- set folder, _, name = path.rpartition('/') -%}
    {%- do run_query("create or replace temporary view _leakproof_raw_file using binaryFile options (path '"
        ~ (folder or '.') | replace("'", "\\'") ~ "', pathGlobFilter '" ~ name | replace("'", "\\'") ~ "')") -%}
    {{ return(run_query('select coalesce(sum(length), 0) from _leakproof_raw_file').columns[0].values()[0]) }}
{%- endmacro %}


{#- The first line of a raw file (Spark's text source reads it as UTF-8). -#}
{% macro spark__raw_first_line(path, table) -%}
    {%- set lines = run_query("select value from text.`" ~ path | replace('`', '``') ~ "` limit 1").columns[0].values() -%}
    {{ return((lines[0] if lines else none) or '') }}
{%- endmacro %}
