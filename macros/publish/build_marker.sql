{#-
    The build marker: a one-row table `<target schema>._leakproof_build` (main._leakproof_build on
    DuckDB) inside the warehouse, saying which dbt invocation last wrote the warehouse and whether
    it finished. `leakproof publish` copies the warehouse only when the marker is 'finished', its
    invocation_id is the one in target/run_results.json and its counts are green
    (python/leakproof/publish.py). A build killed half way (kill -9, out of memory, a lost
    machine) leaves the previous green run_results.json behind, but its marker says 'running', so
    the half-rebuilt warehouse is never published.

      on-run-start  leakproof_build_marker_start(): replace the row with
                    (invocation_id, command, 'running', started_at), one atomic statement.
      on-run-end    leakproof_build_marker_finish(results): mark that invocation's row
                    'finished' with its node results counted by status.

    Columns: invocation_id, command (flags.WHICH), status ('running' | 'finished'), started_at and
    finished_at (UTC), nodes, succeeded (success / pass), warned, errored (error, runtime error,
    partial success), failed, skipped; other statuses (an exposure's no-op) count in nodes only.

    Only commands that write to the warehouse mark it: build, run, seed, snapshot, test (its
    stored failures) and `dbt retry`, which runs as the command it retries. compile, docs, show
    and list run no hooks, and `source freshness` writes nothing, so the marker stays as it was
    and they never need it. The SQL is dispatched (duckdb__ / default__) so another adapter can
    supply its own.
-#}
{% macro leakproof_build_marker_start() -%}
    {%- if execute and flags.WHICH in leakproof_marking_commands() -%}
        {{- adapter.dispatch('build_marker_start', 'leakproof')(leakproof_build_marker_relation()) -}}
    {%- endif -%}
{%- endmacro %}

{% macro leakproof_build_marker_finish(results) -%}
    {%- if execute and flags.WHICH in leakproof_marking_commands() -%}
        {%- set statuses = results | map(attribute='status') | map('string') | list -%}
        {%- set counts = {
            'nodes': statuses | length,
            'succeeded': statuses | select('in', ['success', 'pass']) | list | length,
            'warned': statuses | select('equalto', 'warn') | list | length,
            'errored': statuses | select('in', ['error', 'runtime error', 'partial success']) | list | length,
            'failed': statuses | select('equalto', 'fail') | list | length,
            'skipped': statuses | select('equalto', 'skipped') | list | length,
        } -%}
        {{- adapter.dispatch('build_marker_finish', 'leakproof')(leakproof_build_marker_relation(), counts) -}}
    {%- endif -%}
{%- endmacro %}

{% macro leakproof_marking_commands() -%}
    {{ return(['build', 'run', 'seed', 'snapshot', 'test', 'retry']) }}
{%- endmacro %}

{% macro leakproof_build_marker_relation() -%}
    {{ return(api.Relation.create(
        database=(target.database if target.database is defined else none), schema=target.schema, identifier='_leakproof_build', type='table')) }}
{%- endmacro %}

{#- The marker row of this invocation, still running. -#}
{% macro leakproof_build_marker_row() -%}
    select
        cast('{{ invocation_id }}' as {{ dbt.type_string() }}) as invocation_id,
        cast('{{ flags.WHICH }}' as {{ dbt.type_string() }}) as command,
        cast('running' as {{ dbt.type_string() }}) as status,
        cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as {{ dbt.type_timestamp() }}) as started_at,
        cast(null as {{ dbt.type_timestamp() }}) as finished_at,
        {%- for column in ['nodes', 'succeeded', 'warned', 'errored', 'failed', 'skipped'] %}
        cast(null as {{ dbt.type_int() }}) as {{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
{%- endmacro %}

{% macro duckdb__build_marker_start(relation) -%}
    create or replace table {{ relation }} as {{ leakproof_build_marker_row() }}
{%- endmacro %}

{% macro default__build_marker_start(relation) -%}
    {%- do adapter.drop_relation(relation) -%}
    create table {{ relation }} as {{ leakproof_build_marker_row() }}
{%- endmacro %}

{% macro default__build_marker_finish(relation, counts) -%}
    {%- set finished_at = modules.datetime.datetime.now(modules.pytz.utc) -%}
    update {{ relation }}
    set
        status = 'finished',
        finished_at = cast('{{ finished_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as {{ dbt.type_timestamp() }}),
        {%- for column, count in counts.items() %}
        {{ column }} = {{ count }}{{ ',' if not loop.last }}
        {%- endfor %}
    where invocation_id = '{{ invocation_id }}'
{%- endmacro %}

{#- Spark: its (non-Delta) tables have no UPDATE, so the marker is dropped and written whole. -#}
{% macro spark__build_marker_start(relation) -%}
    {%- do adapter.create_schema(relation) -%}
    {{ default__build_marker_start(relation) }}
{%- endmacro %}

{% macro spark__build_marker_finish(relation, counts) -%}
    {%- set finished_at = modules.datetime.datetime.now(modules.pytz.utc) -%}
    {%- do adapter.drop_relation(relation) -%}
    create table {{ relation }} as
    select
        cast('{{ invocation_id }}' as {{ dbt.type_string() }}) as invocation_id,
        cast('{{ flags.WHICH }}' as {{ dbt.type_string() }}) as command,
        cast('finished' as {{ dbt.type_string() }}) as status,
        cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as {{ dbt.type_timestamp() }}) as started_at,
        cast('{{ finished_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as {{ dbt.type_timestamp() }}) as finished_at,
        {%- for column, count in counts.items() %}
        cast({{ count }} as {{ dbt.type_int() }}) as {{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
{%- endmacro %}
