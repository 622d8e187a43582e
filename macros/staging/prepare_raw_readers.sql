{#-
    on-run-start: for every turned-on use case, define the DuckDB table macro
    `read_raw_<use case>__<table>()` that its source resolves to (dbt_project.yml sets the
    sources' external_location to it). It reads the declared files with the declared dialect,
    every column as text, and numbers the rows of each file in file order:
      - the labelled file, and the scoring batch when one is declared and not empty;
      - `source_file` ('labelled' | 'scoring') and `source_row_number` (1-based, per file).
    A file that is missing is left out: the stg_use_case_preflight model, which every use case's
    models run after, reports it (and every other file-level problem) with a clear message.
    Only `dbt run` / `dbt build` read raw files; other commands skip this.
-#}
{% macro prepare_raw_readers() -%}
    {%- if execute and flags.WHICH in ['run', 'build'] -%}
        {%- for name in leakproof_use_cases() -%}
            {%- set use_case = leakproof_use_case(name) -%}
            {%- set table = use_case.table -%}
            {%- set reads = [] -%}
            {%- for source_file, file in [('labelled', table.file), ('scoring', table.scoring_file)] if file -%}
                {%- set path = leakproof_raw_path(file, table) -%}
                {%- if leakproof_raw_file_bytes(path) > 0 -%}
                    {%- do reads.append(leakproof_raw_reader(path, table, source_file)) -%}
                {%- endif -%}
            {%- endfor -%}
            {%- if reads -%}
                {%- do run_query(
                    'create or replace macro read_raw_' ~ name ~ '__' ~ table.name ~ '() as table '
                    ~ reads | join(' union all by name ')) -%}
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
    {%- set quoted = "'" ~ path | replace("'", "''") ~ "'" -%}
    {%- if run_query('select count(*) from glob(' ~ quoted ~ ')').columns[0].values()[0] == 0 -%}
        {{ return(0) }}
    {%- endif -%}
    {{ return(run_query('select coalesce(sum(size), 0) from read_blob(' ~ quoted ~ ')').columns[0].values()[0]) }}
{%- endmacro %}


{#- The query that reads one raw file: CSV strictly in the declared dialect, every column as text
    (an unparseable value reaches staging, and quarantine, with its original text), Parquet as
    stored; plus source_file and source_row_number. -#}
{% macro leakproof_raw_reader(path, table, source_file) -%}
    {%- set quoted = "'" ~ path | replace("'", "''") ~ "'" -%}
    {%- set format = table.format or (path.split('.') | last if path.split('.') | last in ['csv', 'parquet'] else var('raw_format')) -%}
    {%- if format == 'parquet' -%}
        {%- set reader = 'read_parquet(' ~ quoted ~ ')' -%}
    {%- else -%}
        {%- set options = [
            'header = ' ~ ('true' if table.header else 'false'),
            'all_varchar = true',
            "delim = '" ~ table.delimiter | replace("'", "''") ~ "'",
            "quote = '" ~ table.quote | replace("'", "''") ~ "'",
            "escape = '" ~ table.escape | replace("'", "''") ~ "'",
            "encoding = '" ~ table.encoding | replace("'", "''") ~ "'",
        ] -%}
        {%- set reader = 'read_csv(' ~ quoted ~ ', ' ~ options | join(', ') ~ ')' -%}
    {%- endif -%}
    {{ return("(select *, '" ~ source_file ~ "' as source_file, row_number() over () as source_row_number from " ~ reader ~ ")") }}
{%- endmacro %}
