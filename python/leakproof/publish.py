"""Publish the BI-facing tables of a complete, green `dbt build` as a read-only serving copy.

dbt writes its working DuckDB file; BI tools never open it. `publish` refuses (REFUSALS names every
reason) unless the last run results are from a `dbt build` of the whole project in which every
model, seed, snapshot and test of the manifest ran and none errored, failed or was skipped, and
the build marker inside the warehouse (macros/publish/build_marker.sql) says that very build
finished: a build killed half way leaves the previous green run_results.json behind, but not its
marker. Then it copies the BI-facing schemas (marts, features, ml, and reference if present) as
plain tables into a temporary file written with DuckDB storage version v1.4.0 (readable by the
DuckDB 1.4 / 1.5 libraries BI drivers bundle), verifies it, fsyncs it and swaps it in with
`os.replace`: a reader sees the old file or the new one, never a half-written one, and keeps its
open handle (the old inode) across the swap. A refusal or a failure leaves the serving copy as it
was, byte for byte.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from leakproof.exceptions import LeakproofError

BI_SCHEMAS: tuple[str, ...] = ("marts", "features", "ml", "reference")
# dbt internals that live in a BI schema but are not for BI: the Python training output (BI reads
# the contracted ml_model_registry that wraps it).
EXCLUDED_RELATIONS: frozenset[str] = frozenset({"ml.ml_trained_models"})
STORAGE_VERSION = "v1.4.0"
# The DuckDB file header stores a storage version number after the "DUCK" magic; DuckDB 1.4 and
# 1.5 read files up to number 67 (what STORAGE_VERSION 'v1.4.0' writes); DuckDB 2.0 writes 999.
MAX_READABLE_HEADER_VERSION = 67
METADATA_TABLE = "_publish"
# The build marker the dbt hooks write into the warehouse (macros/publish/build_marker.sql).
MARKER_TABLE = "_leakproof_build"

# Node statuses of run_results.json that do not block publishing; a warning is reported.
GREEN_STATUSES = frozenset({"success", "pass"})
WARNING_STATUSES = frozenset({"warn"})
# dbt build lists these without building anything: their status is 'no-op'.
NO_OP_PREFIXES = ("exposure.", "saved_query.")
# The manifest resource types a complete `dbt build` runs (enabled, of the root project; an
# ephemeral model is never run on its own).
BUILT_RESOURCE_TYPES = frozenset({"model", "seed", "snapshot", "test", "unit_test", "function"})
# run_results.json `args` that narrow a build to part of the project, or to part of the data.
NARROWING_ARGS: dict[str, str] = {
    "select": "--select",
    "exclude": "--exclude",
    "selector": "--selector",
    "resource_types": "--resource-type",
    "exclude_resource_types": "--exclude-resource-type",
    "empty": "--empty",
    "sample": "--sample",
}

# Every reason publish refuses, in the order it checks; the CLI help and the README list them.
# `--force` skips the checks of the build; busy, no_warehouse and locked still stop it.
REFUSALS: dict[str, str] = {
    "busy": "another leakproof publish is writing the same serving copy",
    "no_warehouse": "the working warehouse file does not exist",
    "locked": "the warehouse cannot be opened read-only: a dbt command is writing it",
    "no_run_results": "target/run_results.json is missing or unreadable",
    "not_build": "the last dbt command was not `dbt build` (run, compile, test, seed, docs, ...)",
    "narrowed": "the build was narrowed by --select, --exclude, --selector, --resource-type or "
    "--exclude-resource-type, or ran on partial data (--empty, --sample)",
    "not_green": "a node errored, failed or was skipped (warnings are reported, not refused)",
    "no_marker": "the warehouse has no build marker (main._leakproof_build)",
    "unfinished": "the warehouse's last dbt command never finished (killed, crashed, still "
    "running, or its on-run-end hook failed)",
    "other_invocation": "the warehouse was last written by another dbt command than the build "
    "in run_results.json",
    "marker_not_green": "the warehouse's marker does not record a green `dbt build`",
    "stale_manifest": "target/manifest.json is missing or from another dbt command than "
    "run_results.json (a later parse / ls, or a command that never finished)",
    "incomplete": "a model, seed, snapshot, data test or unit test of the project has no result "
    "(`dbt retry` reruns only what failed)",
}


class PublishError(LeakproofError):
    """Publishing was refused or the copy failed verification; the serving copy is unchanged."""


class PublishRefused(PublishError):
    """The checks refused to publish; `reason` is a key of REFUSALS, the message one line."""

    def __init__(self, reason: str, message: str) -> None:
        if reason not in REFUSALS:
            raise ValueError(f"unknown refusal reason {reason!r}")
        super().__init__(" ".join(message.split()))
        self.reason = reason


@dataclass(frozen=True)
class BuildCheck:
    """A build that may be published: its dbt invocation, how many results were checked, and its
    warnings as 'warn: unique_id'."""

    invocation_id: str
    results: int
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class PublishResult:
    serving: Path
    row_counts: dict[str, int]
    model_ids: list[str]
    published_at: datetime
    seconds: float
    size_bytes: int
    build: BuildCheck | None  # None when published without the checks (--force)


def _listed(items: list[str], shown: int = 3) -> str:
    more = f", ... and {len(items) - shown} more" if len(items) > shown else ""
    return ", ".join(items[:shown]) + more


def _read_json(path: Path, reason: str, what: str) -> dict[str, Any]:
    if not path.is_file():
        raise PublishRefused(reason, f"no {what} at {path}: run `dbt build`")
    try:
        document = json.loads(path.read_text())
        document["metadata"]["invocation_id"]
    except (ValueError, KeyError, TypeError) as error:
        raise PublishRefused(
            reason, f"{path} is not a readable dbt {what} ({error!r}): run `dbt build`"
        ) from error
    return document


def _blocking(results: list[dict[str, Any]]) -> list[str]:
    """'status: unique_id' of every result that is neither green nor a warning (an exposure's
    no-op is fine)."""
    blocking = []
    for result in results:
        status = str(result["status"]).lower()
        no_op = status == "no-op" and result["unique_id"].startswith(NO_OP_PREFIXES)
        if status not in GREEN_STATUSES | WARNING_STATUSES and not no_op:
            blocking.append(f"{status}: {result['unique_id']}")
    return blocking


def failed_nodes(run_results: Path) -> list[str]:
    """The nodes of a dbt run_results.json whose status blocks publishing, as 'status: id'."""
    return _blocking(json.loads(run_results.read_text())["results"])


def _check_command(args: dict[str, Any]) -> None:
    which = args.get("which")
    if which != "build":
        command = {"generate": "docs generate", "freshness": "source freshness"}.get(which, which)
        raise PublishRefused(
            "not_build",
            f"the last dbt invocation was `dbt {command}`, not a complete `dbt build`; "
            "run `dbt build`",
        )


def _check_scope(args: dict[str, Any]) -> None:
    narrowing = [
        flag
        if value is True
        else f"{flag} {' '.join(map(str, value)) if isinstance(value, list) else value}"
        for key, flag in NARROWING_ARGS.items()
        if (value := args.get(key)) not in (None, False, [], "", {})
    ]
    if narrowing:
        raise PublishRefused(
            "narrowed",
            f"the last `dbt build` did not build the whole project ({'; '.join(narrowing)}); "
            "run `dbt build` without them",
        )


def _check_green(results: list[dict[str, Any]]) -> None:
    blocking = _blocking(results)
    if blocking:
        raise PublishRefused(
            "not_green",
            f"the last `dbt build` did not succeed: {len(blocking)} node(s) errored, failed or "
            f"were skipped ({_listed(blocking)}); fix them and run `dbt build`",
        )


def _expected_nodes(manifest: dict[str, Any]) -> set[str]:
    """unique_id of every node of the root project a complete `dbt build` runs."""
    project = manifest["metadata"].get("project_name")
    nodes = {
        **manifest.get("nodes", {}),
        **manifest.get("unit_tests", {}),
        **manifest.get("functions", {}),
    }
    return {
        unique_id
        for unique_id, node in nodes.items()
        if node["resource_type"] in BUILT_RESOURCE_TYPES
        and node.get("package_name") == project
        and node.get("config", {}).get("enabled", True)
        and not (
            node["resource_type"] == "model"
            and node.get("config", {}).get("materialized") == "ephemeral"
        )
    }


def _check_manifest(manifest_path: Path, invocation_id: str, results: list[dict[str, Any]]) -> None:
    manifest = _read_json(manifest_path, "stale_manifest", "manifest")
    parsed_by = manifest["metadata"]["invocation_id"]
    if parsed_by != invocation_id:
        raise PublishRefused(
            "stale_manifest",
            f"{manifest_path} is from dbt invocation {parsed_by}, not from the build in "
            f"run_results.json ({invocation_id}): a later dbt command parsed the project and "
            "has not finished (killed, crashed or still running) or wrote no results (parse, "
            "ls); run `dbt build`",
        )
    expected = _expected_nodes(manifest)
    missing = sorted(expected - {result["unique_id"] for result in results})
    if missing:
        raise PublishRefused(
            "incomplete",
            f"the last `dbt build` did not cover the whole project: {len(missing)} of its "
            f"{len(expected)} models, seeds, snapshots and tests have no result "
            f"({_listed(missing)}); run `dbt build`",
        )


def _read_marker(connection: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """The build marker row of the warehouse attached as `src`."""
    schemas = connection.execute(
        "select schema_name from duckdb_tables() where database_name = 'src' and table_name = ?",
        [MARKER_TABLE],
    ).fetchall()
    rows = []
    if len(schemas) == 1:
        cursor = connection.execute(f"from src.{_quote(schemas[0][0])}.{_quote(MARKER_TABLE)}")
        rows = [
            dict(zip([c[0] for c in cursor.description], row, strict=True))
            for row in cursor.fetchall()
        ]
    if len(rows) != 1:
        raise PublishRefused(
            "no_marker",
            f"the warehouse has no build marker (one row in main.{MARKER_TABLE}; found "
            f"{len(schemas)} table(s), {len(rows)} row(s)): it was not written by a dbt command "
            "with the hooks of macros/publish/build_marker.sql; run `dbt build`",
        )
    return rows[0]


def _check_marker(marker: dict[str, Any], invocation_id: str) -> None:
    def when(column: str) -> str:
        value = marker[column]
        return f"{value:%Y-%m-%d %H:%M:%S} UTC" if isinstance(value, datetime) else str(value)

    last = f"dbt invocation {marker['invocation_id']} (`dbt {marker['command']}`"
    if marker["status"] != "finished":
        raise PublishRefused(
            "unfinished",
            f"the warehouse was last written by {last}, started {when('started_at')}), which "
            "never finished: killed, crashed or still running; run `dbt build`",
        )
    if marker["invocation_id"] != invocation_id:
        raise PublishRefused(
            "other_invocation",
            f"the warehouse was last written by {last}, finished {when('finished_at')}), not by "
            f"the build in run_results.json ({invocation_id}); run `dbt build`",
        )
    blocking = sum(int(marker[column] or 0) for column in ("errored", "failed", "skipped"))
    if marker["command"] != "build" or blocking:
        raise PublishRefused(
            "marker_not_green",
            f"the warehouse's build marker records {last}) with {blocking} node(s) errored, "
            "failed or skipped, unlike run_results.json; run `dbt build`",
        )


@contextmanager
def _source(warehouse: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory connection with `warehouse` attached read-only as `src`. While it is open no
    dbt command can write the warehouse, so what is checked is what is copied."""
    if not warehouse.is_file():
        raise PublishRefused(
            "no_warehouse", f"no working warehouse at {warehouse}: run `dbt build`"
        )
    connection = duckdb.connect()
    try:
        try:
            connection.execute(f"attach '{warehouse.resolve()}' as src (read_only)")
        except duckdb.IOException as error:
            raise PublishRefused(
                "locked",
                f"cannot open the working warehouse {warehouse} read-only (is a dbt command "
                f"still running?): {error}",
            ) from error
        yield connection
    finally:
        connection.close()


def _check(connection: duckdb.DuckDBPyConnection, run_results: Path) -> BuildCheck:
    """Every check of the build, on the warehouse attached as `src`, in the order of REFUSALS."""
    document = _read_json(run_results, "no_run_results", "run results")
    invocation_id = document["metadata"]["invocation_id"]
    args = document.get("args", {})
    results = document.get("results", [])
    _check_command(args)
    _check_scope(args)
    _check_green(results)
    _check_marker(_read_marker(connection), invocation_id)
    _check_manifest(run_results.with_name("manifest.json"), invocation_id, results)
    warnings = tuple(
        f"{result['status']}: {result['unique_id']}"
        for result in results
        if str(result["status"]).lower() in WARNING_STATUSES
    )
    return BuildCheck(invocation_id=invocation_id, results=len(results), warnings=warnings)


def check_build(run_results: Path, warehouse: Path) -> BuildCheck:
    """Raise PublishRefused (its `reason` one of REFUSALS) unless `warehouse` holds the complete,
    green `dbt build` recorded in `run_results` (and manifest.json beside it); return what was
    checked."""
    with _source(warehouse) as connection:
        return _check(connection, run_results)


@contextmanager
def _exclusive(serving: Path) -> Iterator[None]:
    """Hold `<serving>.lock` for one publish at a time (the kernel drops it if the process dies)."""
    lock = serving.with_name(serving.name + ".lock")
    descriptor = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            raise PublishRefused(
                "busy", f"another leakproof publish is writing {serving}; try again after it"
            ) from error
        yield
    finally:
        os.close(descriptor)


def header_version(path: Path) -> int:
    """The storage version number in a DuckDB file's header (after the 'DUCK' magic at byte 8)."""
    with path.open("rb") as handle:
        header = handle.read(20)
    if header[8:12] != b"DUCK":
        raise PublishError(f"{path} is not a DuckDB database file")
    return int.from_bytes(header[12:20], "little")


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _source_relations(
    connection: duckdb.DuckDBPyConnection, schemas: tuple[str, ...], excluded: frozenset[str]
) -> list[tuple[str, str]]:
    """(schema, name) of every table and view of the BI-facing schemas in the attached `src`,
    less the `excluded` ('schema.name') internals."""
    placeholders = ", ".join("?" for _ in schemas)
    query = f"""
        select schema_name, table_name as name from duckdb_tables()
        where database_name = 'src' and schema_name in ({placeholders})
        union all
        select schema_name, view_name from duckdb_views()
        where database_name = 'src' and not internal and schema_name in ({placeholders})
        order by 1, 2
    """
    rows = connection.execute(query, [*schemas, *schemas]).fetchall()
    return [(schema, name) for schema, name in rows if f"{schema}.{name}" not in excluded]


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _copy(
    connection: duckdb.DuckDBPyConnection,
    warehouse: Path,
    temporary: Path,
    schemas: tuple[str, ...],
    excluded: frozenset[str],
    published_at: datetime,
    build: BuildCheck | None,
) -> tuple[dict[str, int], list[str]]:
    """Copy the BI-facing relations of the warehouse attached as `src` into `temporary` in one
    transaction."""
    connection.execute(f"attach '{temporary}' as serving (storage_version '{STORAGE_VERSION}')")
    relations = _source_relations(connection, schemas, excluded)
    if not relations:
        raise PublishError(f"{warehouse} has no tables in the schemas {', '.join(schemas)}")
    row_counts: dict[str, int] = {}
    connection.execute("begin transaction")
    for schema in sorted({schema for schema, _ in relations}):
        connection.execute(f"create schema serving.{_quote(schema)}")
    for schema, name in relations:
        qualified = f"{_quote(schema)}.{_quote(name)}"
        connection.execute(f"create table serving.{qualified} as from src.{qualified}")
        count = connection.execute(f"select count(*) from serving.{qualified}").fetchone()
        row_counts[f"{schema}.{name}"] = int(count[0]) if count else 0
    model_ids: list[str] = []
    if "ml.ml_model_registry" in row_counts:
        model_ids = [
            row[0]
            for row in connection.execute(
                "select distinct model_id from serving.ml.ml_model_registry order by 1"
            ).fetchall()
        ]
    connection.execute(
        f"""
        create table serving.main.{METADATA_TABLE} (
            published_at timestamp, source_file varchar, table_schema varchar,
            table_name varchar, row_count bigint, model_ids varchar, storage_version varchar,
            dbt_invocation_id varchar, checked boolean
        )
        """
    )
    connection.executemany(
        f"insert into serving.main.{METADATA_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            [
                published_at.replace(tzinfo=None),
                str(warehouse),
                key.split(".", 1)[0],
                key.split(".", 1)[1],
                count,
                ",".join(model_ids),
                STORAGE_VERSION,
                build.invocation_id if build else None,
                build is not None,
            ]
            for key, count in row_counts.items()
        ],
    )
    connection.execute("commit")
    connection.execute("checkpoint serving")
    connection.execute("detach serving")
    return row_counts, model_ids


def verify(path: Path, row_counts: dict[str, int]) -> None:
    """Open `path` read-only and check every table's row count and the storage version."""
    version = header_version(path)
    if version > MAX_READABLE_HEADER_VERSION:
        raise PublishError(
            f"{path} has storage version number {version}; DuckDB 1.4 clients read <= "
            f"{MAX_READABLE_HEADER_VERSION}"
        )
    connection = duckdb.connect(str(path), read_only=True)
    try:
        for key, expected in row_counts.items():
            schema, name = key.split(".", 1)
            count = connection.execute(
                f"select count(*) from {_quote(schema)}.{_quote(name)}"
            ).fetchone()
            actual = int(count[0]) if count else -1
            if actual != expected:
                raise PublishError(f"{path}: {key} has {actual} rows, expected {expected}")
    finally:
        connection.close()


def publish(
    warehouse: Path,
    serving: Path,
    run_results: Path | None = None,
    schemas: tuple[str, ...] = BI_SCHEMAS,
    excluded: frozenset[str] = EXCLUDED_RELATIONS,
) -> PublishResult:
    """Copy the BI-facing schemas of `warehouse` (less the `excluded` internals) to `serving`,
    atomically.

    With `run_results`, refuse (PublishRefused, naming the reason) unless `warehouse` holds the
    complete, green `dbt build` it records; without it nothing is checked (`--force`). The checks
    run in the same read-only attach the tables are copied from, so no dbt command can write the
    warehouse in between. The copy goes to `<serving>.tmp`, is verified, fsynced and moved
    onto `serving` with `os.replace`; on any failure the temporary file is removed and the last
    good `serving` is left untouched. A temporary copy left by a killed publish is removed by the
    next one (one publish at a time holds `<serving>.lock`).
    """
    started = time.perf_counter()
    serving.parent.mkdir(parents=True, exist_ok=True)
    temporary = serving.with_name(serving.name + ".tmp")
    leftovers = (temporary, temporary.with_name(temporary.name + ".wal"))
    with _exclusive(serving):
        for leftover in leftovers:
            leftover.unlink(missing_ok=True)
        published_at = datetime.now(UTC)
        try:
            with _source(warehouse) as connection:
                build = _check(connection, run_results) if run_results is not None else None
                row_counts, model_ids = _copy(
                    connection,
                    warehouse.resolve(),
                    temporary,
                    schemas,
                    excluded,
                    published_at,
                    build,
                )
            verify(temporary, row_counts)
            _fsync(temporary)
            # A write-ahead log left by someone opening the old copy read-write would be
            # replayed onto the new file; readers open read-only and never write one.
            serving.with_name(serving.name + ".wal").unlink(missing_ok=True)
            os.replace(temporary, serving)
            _fsync(serving.parent)
        except BaseException:
            for leftover in leftovers:
                leftover.unlink(missing_ok=True)
            raise
    return PublishResult(
        serving=serving,
        row_counts=row_counts,
        model_ids=model_ids,
        published_at=published_at,
        seconds=time.perf_counter() - started,
        size_bytes=serving.stat().st_size,
        build=build,
    )
