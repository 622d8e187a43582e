"""Is the warehouse a complete, green `dbt build` that may be published?

`check_build` refuses (PublishRefused; REFUSALS names every reason) unless the last run results
are from a `dbt build` of the whole project in which every model, seed, snapshot and test of the
manifest ran and none errored, failed or was skipped, and the build marker inside the warehouse
(macros/publish/build_marker.sql) says that very build finished: a build killed half way leaves
the previous green run_results.json behind, but not its marker.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from leakproof.exceptions import LeakproofError

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


def quote_identifier(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


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
        marker = f"{quote_identifier(schemas[0][0])}.{quote_identifier(MARKER_TABLE)}"
        cursor = connection.execute(f"from src.{marker}")
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
def open_warehouse(warehouse: Path) -> Iterator[duckdb.DuckDBPyConnection]:
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


def check_connection(connection: duckdb.DuckDBPyConnection, run_results: Path) -> BuildCheck:
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
    with open_warehouse(warehouse) as connection:
        return check_connection(connection, run_results)
