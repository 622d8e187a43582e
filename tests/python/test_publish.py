"""The serving copy: BI schemas only, DuckDB 1.4 readable, published only from a complete, green
`dbt build` whose marker in the warehouse says it finished, atomic for readers and for kill -9."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from dbt_runner import PROJECT_ROOT, DbtResult, run_dbt, start_dbt
from leakproof.cli import main
from leakproof.publish import (
    EXCLUDED_RELATIONS,
    MAX_READABLE_HEADER_VERSION,
    REFUSALS,
    PublishRefused,
    check_build,
    failed_nodes,
    header_version,
    publish,
)

BI_SCHEMAS = {"marts", "features", "ml"}  # and reference, were there seeds


@pytest.fixture(scope="module")
def served(demo_build: DbtResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    serving = tmp_path_factory.mktemp("serving") / "serving.duckdb"
    publish(demo_build.warehouse, serving, run_results=demo_build.target_path / "run_results.json")
    return serving


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(serving: Path) -> list[str]:
    """Files beside the serving copy other than it and its lock (a temporary copy, a WAL)."""
    keep = {serving.name, serving.name + ".lock"}
    return sorted(path.name for path in serving.parent.iterdir() if path.name not in keep)


def copy_target(source: Path, destination: Path) -> Path:
    """run_results.json and manifest.json of a dbt target path, copied; the run results' path."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in ("run_results.json", "manifest.json"):
        if (source / name).exists():
            shutil.copy(source / name, destination / name)
    return destination / "run_results.json"


def marker(warehouse: Path) -> tuple[Any, ...]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.execute(
            "select invocation_id, command, status, started_at, finished_at, nodes, errored, "
            "failed, skipped from main._leakproof_build"
        ).fetchone()


def publish_row_counts(serving: Path) -> dict[str, int]:
    with duckdb.connect(str(serving), read_only=True) as connection:
        rows = connection.execute(
            "select table_schema || '.' || table_name, row_count from main._publish"
        ).fetchall()
    return dict(rows)


def publish_cli(warehouse: Path, serving: Path, run_results: Path, *extra: str) -> int:
    return main(
        [
            "publish",
            "--warehouse",
            str(warehouse),
            "--serving",
            str(serving),
            "--run-results",
            str(run_results),
            *extra,
        ]
    )


def assert_refused(
    capsys: pytest.CaptureFixture[str],
    warehouse: Path,
    serving: Path,
    run_results: Path,
    reason: str,
    *phrases: str,
) -> None:
    """Publishing is refused for `reason`, by the API and by the CLI (exit code 1, one line naming
    the reason), and the serving copy stays byte for byte as it was, with nothing left beside it."""
    before = sha256(serving)
    with pytest.raises(PublishRefused) as refused:
        publish(warehouse, serving, run_results=run_results)
    assert refused.value.reason == reason, str(refused.value)
    capsys.readouterr()
    code = publish_cli(warehouse, serving, run_results)
    message = capsys.readouterr().err
    assert code == 1
    assert message.startswith("leakproof publish: ") and message.count("\n") == 1, message
    assert message.endswith(f"The serving copy {serving} is unchanged.\n")
    for phrase in phrases:
        assert phrase in message, message
    assert sha256(serving) == before
    assert leftovers(serving) == []


def test_serving_copy_holds_the_bi_schemas_with_equal_row_counts(
    served: Path, demo_build: DbtResult
) -> None:
    with duckdb.connect(str(demo_build.warehouse), read_only=True) as source:
        expected = {
            f"{schema}.{name}": source.execute(
                f'select count(*) from "{schema}"."{name}"'
            ).fetchone()[0]
            for schema, name in source.execute(
                "select schema_name, table_name from duckdb_tables() union all "
                "select schema_name, view_name from duckdb_views() where not internal"
            ).fetchall()
            if schema in BI_SCHEMAS
        }
        internals = {key: expected.pop(key) for key in EXCLUDED_RELATIONS}
        source_models = source.execute(
            "select model_id from ml.ml_model_registry order by 1"
        ).fetchall()
    with duckdb.connect(str(served), read_only=True) as serving:
        tables = serving.execute(
            "select schema_name, table_name from duckdb_tables() order by all"
        ).fetchall()
        actual = {
            f"{schema}.{name}": serving.execute(
                f'select count(*) from "{schema}"."{name}"'
            ).fetchone()[0]
            for schema, name in tables
            if schema != "main"
        }
        meta = serving.execute(
            "select table_schema || '.' || table_name, row_count, model_ids, storage_version "
            "from main._publish"
        ).fetchall()
        macros = serving.execute(
            "select function_name from duckdb_functions() where not internal"
        ).fetchall()
        views = serving.execute(
            "select view_name from duckdb_views() where not internal"
        ).fetchall()
    assert {schema for schema, _ in tables} == BI_SCHEMAS | {"main"}
    assert [name for schema, name in tables if schema == "main"] == ["_publish"]
    assert "ml.ml_scores" in actual and "marts.fct_dimension_performance" in actual
    assert actual == expected
    # the training output (4 models: 2 per use case) stays behind; BI reads the registry
    assert internals == {"ml.ml_trained_models": 4} and not set(internals) & set(actual)
    assert {key: count for key, count, _, _ in meta} == expected
    assert {ids for _, _, ids, _ in meta} == {",".join(row[0] for row in source_models)}
    assert {version for *_, version in meta} == {"v1.4.0"}
    assert macros == [] and views == []  # the read_raw_* macros and staging views stay behind


def test_serving_copy_is_written_for_duckdb_1_4_clients(served: Path) -> None:
    assert header_version(served) == MAX_READABLE_HEADER_VERSION == 67
    with duckdb.connect(str(served), read_only=True) as serving:
        tags = serving.execute("select tags from duckdb_databases() where not internal").fetchone()[
            0
        ]
    assert tags["storage_version"] == "v1.4.0+"


@pytest.mark.skipif(
    not os.environ.get("LEAKPROOF_DUCKDB14_PYTHON"),
    reason="set LEAKPROOF_DUCKDB14_PYTHON to a python with duckdb 1.4 installed",
)
def test_a_real_duckdb_1_4_client_reads_the_serving_copy(served: Path) -> None:
    script = (
        "import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True); "
        "print(duckdb.__version__, c.execute('select count(*) from ml.ml_model_registry')"
        ".fetchone()[0])"
    )
    completed = subprocess.run(
        [os.environ["LEAKPROOF_DUCKDB14_PYTHON"], "-c", script, str(served)],
        capture_output=True,
        text=True,
        check=True,
    )
    version, registered = completed.stdout.split()
    assert version.startswith("1.4") and int(registered) == 4


def test_the_green_demo_build_passes_every_check_and_its_warnings_are_reported(
    served: Path, demo_build: DbtResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_results = demo_build.target_path / "run_results.json"
    document = json.loads(run_results.read_text())
    manifest = demo_build.manifest()
    # a full parse keeps the tests of disabled fixtures in nodes (enabled: false), a partial
    # parse moves them to disabled
    disabled_tests = [
        key
        for key, node in manifest["nodes"].items()
        if node["resource_type"] == "test" and not node["config"]["enabled"]
    ] + [key for key in manifest["disabled"] if key.startswith("test.")]
    statuses = demo_build.statuses()
    build = check_build(run_results, demo_build.warehouse)
    assert build.invocation_id == document["metadata"]["invocation_id"]
    assert build.results == len(document["results"])
    assert build.warnings == tuple(f"warn: {key}" for key, s in statuses.items() if s == "warn")
    # the exposures' no-op is not a failure; the fixtures' tests, disabled by var, are not missing
    assert {statuses[key] for key in statuses if key.startswith("exposure.")} == {"no-op"}
    assert failed_nodes(run_results) == []
    assert disabled_tests and not set(disabled_tests) & set(statuses)
    assert marker(demo_build.warehouse)[:3] == (build.invocation_id, "build", "finished")
    with duckdb.connect(str(served), read_only=True) as connection:
        recorded = connection.execute(
            "select distinct dbt_invocation_id, checked from main._publish"
        ).fetchall()
    assert recorded == [(build.invocation_id, True)]

    # one more warning: still published, and every warning named
    warned = next(key for key, status in statuses.items() if status == "pass")
    document["results"] = [
        {**result, "status": "warn"} if result["unique_id"] == warned else result
        for result in document["results"]
    ]
    target = tmp_path / "target"
    copy_target(demo_build.target_path, target)
    (target / "run_results.json").write_text(json.dumps(document))
    serving = tmp_path / "serving" / "serving.duckdb"
    assert publish_cli(demo_build.warehouse, serving, target / "run_results.json") == 0
    message = capsys.readouterr().err
    warnings = [*build.warnings, f"warn: {warned}"]
    assert f"the build has {len(warnings)} warning(s), published anyway" in message
    assert all(warning in message for warning in warnings)
    assert f"published {len(publish_row_counts(serving))} tables" in message


def edit_json(path: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    document = json.loads(path.read_text())
    edit(document)
    path.write_text(json.dumps(document))


def edit_args(**changes: Any) -> Callable[[Path], None]:
    return lambda target: edit_json(
        target / "run_results.json", lambda document: document["args"].update(changes)
    )


def set_status(prefix: str, status: str) -> Callable[[Path], None]:
    """The first result whose unique_id starts with `prefix` gets `status`."""

    def edit(document: dict[str, Any]) -> None:
        result = next(r for r in document["results"] if r["unique_id"].startswith(prefix))
        result["status"] = status

    return lambda target: edit_json(target / "run_results.json", edit)


def drop_result(prefix: str) -> Callable[[Path], None]:
    def edit(document: dict[str, Any]) -> None:
        index = next(
            i for i, r in enumerate(document["results"]) if r["unique_id"].startswith(prefix)
        )
        del document["results"][index]

    return lambda target: edit_json(target / "run_results.json", edit)


def new_invocation(*names: str) -> Callable[[Path], None]:
    invocation_id = str(uuid.uuid4())

    def edit(target: Path) -> None:
        for name in names:
            edit_json(
                target / name,
                lambda document: document["metadata"].update(invocation_id=invocation_id),
            )

    return edit


def truncate(target: Path) -> None:
    path = target / "run_results.json"
    path.write_bytes(path.read_bytes()[:5000])  # what a write cut short by kill -9 leaves


# Each case edits a copy of the green demo build's run_results.json / manifest.json the way a
# dbt command would have left them; the warehouse and its marker are the green build's.
ARTIFACT_REFUSALS: dict[str, tuple[Callable[[Path], None], str, tuple[str, ...]]] = {
    "dbt run": (
        edit_args(which="run"),
        "not_build",
        ("the last dbt invocation was `dbt run`, not a complete `dbt build`; run `dbt build`",),
    ),
    "dbt test": (edit_args(which="test"), "not_build", ("`dbt test`, not a complete",)),
    "dbt docs generate": (
        edit_args(which="generate"),
        "not_build",
        ("`dbt docs generate`, not a complete",),
    ),
    "--select": (edit_args(select=["ml_psi+"]), "narrowed", ("(--select ml_psi+)",)),
    "--exclude": (
        edit_args(exclude=["tag:fixture", "ml_psi"]),
        "narrowed",
        ("(--exclude tag:fixture ml_psi)",),
    ),
    "--selector": (
        edit_args(selector="score_new_rows"),
        "narrowed",
        ("(--selector score_new_rows)",),
    ),
    "--resource-type": (
        edit_args(resource_types=["model"]),
        "narrowed",
        ("(--resource-type model)",),
    ),
    "--exclude-resource-type": (
        edit_args(exclude_resource_types=["unit_test"]),
        "narrowed",
        ("(--exclude-resource-type unit_test)",),
    ),
    "--empty": (edit_args(empty=True), "narrowed", ("(--empty);",)),
    "model error": (set_status("model.", "error"), "not_green", ("1 node(s)", "error: model.")),
    "test fail": (set_status("test.", "fail"), "not_green", ("fail: test.",)),
    "unit test fail": (set_status("unit_test.", "fail"), "not_green", ("fail: unit_test.",)),
    "model skipped": (set_status("model.", "skipped"), "not_green", ("skipped: model.",)),
    "model no-op": (set_status("model.", "no-op"), "not_green", ("no-op: model.",)),
    "model missing": (
        drop_result("model."),
        "incomplete",
        ("did not cover the whole project: 1 of its", "model.leakproof."),
    ),
    "unit test missing": (drop_result("unit_test."), "incomplete", ("unit_test.leakproof.",)),
    "data test missing": (drop_result("test."), "incomplete", ("test.leakproof.",)),
    "manifest of another invocation": (
        new_invocation("manifest.json"),
        "stale_manifest",
        ("manifest.json is from dbt invocation",),
    ),
    "no manifest": (
        lambda target: (target / "manifest.json").unlink(),
        "stale_manifest",
        ("no manifest at",),
    ),
    "results of another build": (
        new_invocation("run_results.json", "manifest.json"),
        "other_invocation",
        ("the warehouse was last written by dbt invocation", "not by the build"),
    ),
    "no run results": (
        lambda target: (target / "run_results.json").unlink(),
        "no_run_results",
        ("no run results at",),
    ),
    "truncated run results": (truncate, "no_run_results", ("is not a readable dbt run results",)),
}


@pytest.mark.parametrize("case", list(ARTIFACT_REFUSALS))
def test_publish_refuses_what_is_not_a_complete_green_build(
    case: str,
    served: Path,
    demo_build: DbtResult,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    edit, reason, phrases = ARTIFACT_REFUSALS[case]
    run_results = copy_target(demo_build.target_path, tmp_path / "target")
    # unedited, the copy publishes (checked without writing): the edit alone makes it refuse
    assert check_build(run_results, demo_build.warehouse).results > 100
    edit(tmp_path / "target")
    assert_refused(capsys, demo_build.warehouse, served, run_results, reason, *phrases)


# Each case edits the build marker in a copy of the green demo warehouse; the run results are the
# green build's.
MARKER_REFUSALS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "no marker table": ("drop table main._leakproof_build", "no_marker", ("no build marker",)),
    "empty marker": ("delete from main._leakproof_build", "no_marker", ("0 row(s)",)),
    "on-run-end never ran": (
        "update main._leakproof_build set status = 'running', finished_at = null",
        "unfinished",
        ("(`dbt build`, started", "which never finished"),
    ),
    "marker counts a skip": (
        "update main._leakproof_build set skipped = 3",
        "marker_not_green",
        ("with 3 node(s) errored, failed or skipped",),
    ),
    "marker of a dbt run": (
        "update main._leakproof_build set command = 'run'",
        "marker_not_green",
        ("(`dbt run`)",),
    ),
}


@pytest.mark.parametrize("case", list(MARKER_REFUSALS))
def test_publish_refuses_a_warehouse_whose_marker_is_not_the_finished_green_build(
    case: str,
    served: Path,
    demo_build: DbtResult,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    statement, reason, phrases = MARKER_REFUSALS[case]
    warehouse = tmp_path / "leakproof.duckdb"
    shutil.copy(demo_build.warehouse, warehouse)
    run_results = demo_build.target_path / "run_results.json"
    assert check_build(run_results, warehouse).results > 100
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute(statement)
    assert_refused(capsys, warehouse, served, run_results, reason, *phrases)


def test_publish_refuses_a_missing_or_locked_warehouse_and_a_concurrent_publish(
    served: Path, demo_build: DbtResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_results = demo_build.target_path / "run_results.json"
    assert_refused(
        capsys, tmp_path / "absent.duckdb", served, run_results, "no_warehouse", "absent.duckdb"
    )

    lock = os.open(served.with_name(served.name + ".lock"), os.O_RDWR)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        assert_refused(
            capsys, demo_build.warehouse, served, run_results, "busy", "another leakproof publish"
        )
    finally:
        os.close(lock)

    warehouse = tmp_path / "leakproof.duckdb"
    shutil.copy(demo_build.warehouse, warehouse)
    writer = subprocess.Popen(  # what a running dbt command does: hold the file read-write
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('open', flush=True);"
            " time.sleep(600)",
            str(warehouse),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout.readline() == "open\n"
        assert_refused(capsys, warehouse, served, run_results, "locked", "read-only")
    finally:
        writer.kill()
        writer.wait()


def test_force_publishes_without_the_checks_and_says_so_loudly(
    served: Path, demo_build: DbtResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_results = copy_target(demo_build.target_path, tmp_path / "target")
    edit_args(which="run")(tmp_path / "target")
    serving = tmp_path / "serving" / "serving.duckdb"
    serving.parent.mkdir()
    shutil.copy(served, serving)
    before = sha256(serving)
    capsys.readouterr()
    assert publish_cli(demo_build.warehouse, serving, run_results, "--force") == 0
    message = capsys.readouterr().err
    assert "WARNING: --force publishes WITHOUT checking" in message
    assert "they would have refused (not_build): the last dbt invocation was `dbt run`" in message
    assert sha256(serving) != before and leftovers(serving) == []
    with duckdb.connect(str(serving), read_only=True) as connection:
        recorded = connection.execute(
            "select distinct dbt_invocation_id, checked from main._publish"
        ).fetchall()
    assert recorded == [(None, False)]


def test_every_refusal_reason_is_in_the_cli_help_and_the_readme(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["publish", "--help"])
    help_text = capsys.readouterr().out
    readme = (PROJECT_ROOT / "README.md").read_text()
    section = readme.split("## Serving copy, report and BI", 1)[1].split("\n## ", 1)[0]
    assert len(REFUSALS) == 13
    for reason, text in REFUSALS.items():
        assert re.search(rf"^  {reason} +{re.escape(text.split()[0])}", help_text, re.M), reason
        assert f"`{reason}`" in section, reason
    assert "--force" in section and "--force" in help_text


# Runs `leakproof publish ARGS` and stops it dead at POINT: "mid-copy" (inside the copy
# transaction, five tables written to the temporary file) or "before-swap" (the temporary copy
# complete, verified and fsynced, os.replace not yet called). Prints "paused" there.
PUBLISHER = textwrap.dedent(
    """
    import os, sys, time
    import leakproof.publish._serving as publish
    from leakproof.cli import main

    point, arguments = sys.argv[1], sys.argv[2:]

    def pause():
        print("paused", flush=True)
        time.sleep(600)

    class PausingConnection:
        def __init__(self, connection):
            self.connection, self.tables = connection, 0

        def execute(self, sql, *args):
            result = self.connection.execute(sql, *args)
            if sql.startswith("create table serving."):
                self.tables += 1
                if self.tables == 5:
                    pause()
            return result

        def __getattr__(self, name):
            return getattr(self.connection, name)

    if point == "mid-copy":
        copy = publish._copy
        publish._copy = lambda connection, *rest: copy(PausingConnection(connection), *rest)
    else:
        replace = os.replace

        def paused_replace(source, target):
            pause()
            replace(source, target)

        os.replace = paused_replace
    sys.exit(main(["publish", *arguments]))
    """
)


@pytest.mark.parametrize("point", ["mid-copy", "before-swap"])
def test_publish_killed_with_sigkill_leaves_the_serving_copy_and_the_next_one_works(
    point: str,
    served: Path,
    demo_build: DbtResult,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    serving = tmp_path / "serving.duckdb"
    shutil.copy(served, serving)
    before = sha256(serving)
    run_results = demo_build.target_path / "run_results.json"
    arguments = ["--warehouse", str(demo_build.warehouse), "--serving", str(serving)]
    publisher = subprocess.Popen(
        [sys.executable, "-c", PUBLISHER, point, *arguments, "--run-results", str(run_results)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        paused = publisher.stdout.readline()
    finally:
        publisher.kill()  # SIGKILL: no exception handler, no cleanup runs
        _, errors = publisher.communicate(timeout=60)
    assert paused == "paused\n", errors
    assert publisher.returncode == -signal.SIGKILL
    assert sha256(serving) == before
    assert "serving.duckdb.tmp" in leftovers(serving)  # it was killed half way through
    if point == "before-swap":
        assert header_version(serving.with_name("serving.duckdb.tmp")) == 67  # complete, unused

    assert publish_cli(demo_build.warehouse, serving, run_results) == 0
    assert "published" in capsys.readouterr().err
    assert sha256(serving) != before
    assert leftovers(serving) == []
    assert publish_row_counts(serving) == publish_row_counts(served)


@dataclass(frozen=True)
class Stage:
    """The warehouse (with its WAL, if any) and target artifacts a dbt command left behind."""

    warehouse: Path
    run_results: Path
    invocation_id: str  # of the dbt command of this stage, from the manifest.json it wrote


def snapshot(workdir: Path, destination: Path) -> Stage:
    destination.mkdir(parents=True)
    for name in ("leakproof.duckdb", "leakproof.duckdb.wal"):
        if (workdir / name).exists():
            shutil.copy(workdir / name, destination / name)
    run_results = copy_target(workdir / "target", destination / "target")
    manifest = json.loads((destination / "target" / "manifest.json").read_text())
    return Stage(
        destination / "leakproof.duckdb", run_results, manifest["metadata"]["invocation_id"]
    )


FINISHED_NODE = re.compile(r"\d+ of \d+ (OK|PASS|WARN) (?!hook)")


@pytest.fixture(scope="module")
def dbt_commands(
    demo_build: DbtResult, demo_raw_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Stage]:
    """Real dbt commands, one after the other, on a copy of the green demo build (its warehouse,
    artifacts and target): a `dbt build` killed with SIGKILL after ten nodes finished, then
    `dbt build --select stg_use_case_preflight`, then `dbt compile`. Each stage is snapshotted."""
    root = tmp_path_factory.mktemp("dbt_commands")
    work = root / "work"
    work.mkdir()
    shutil.copy(demo_build.warehouse, work / "leakproof.duckdb")
    shutil.copytree(demo_build.warehouse.parent / "artifacts", work / "artifacts")
    copy_target(demo_build.target_path, work / "target")
    stages = {"green": snapshot(work, root / "green")}

    build = start_dbt(["build"], work, raw_dir=demo_raw_dir)
    watchdog = threading.Timer(600, build.kill)
    watchdog.start()
    finished, output = 0, []
    try:
        for line in build.stdout:
            output.append(line)
            finished += bool(FINISHED_NODE.search(line))
            if finished == 10:
                os.kill(build.pid, signal.SIGKILL)
                break
    finally:
        watchdog.cancel()
        build.kill()
        build.communicate()
    assert finished == 10 and build.returncode == -signal.SIGKILL, "".join(output[-50:])
    stages["killed"] = snapshot(work, root / "killed")

    narrowed = run_dbt(["build", "--select", "stg_use_case_preflight"], work, raw_dir=demo_raw_dir)
    assert narrowed.ok, narrowed.output[-3000:]
    stages["narrowed"] = snapshot(work, root / "narrowed")

    compiled = run_dbt(
        ["compile", "--select", "stg_use_case_preflight"], work, raw_dir=demo_raw_dir
    )
    assert compiled.ok, compiled.output[-3000:]
    stages["compiled"] = snapshot(work, root / "compiled")
    return stages


def test_a_build_killed_with_sigkill_is_refused_though_the_last_green_results_remain(
    dbt_commands: dict[str, Stage], served: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    green, killed = dbt_commands["green"], dbt_commands["killed"]
    # what the user saw: dbt left the previous green run_results.json in place
    assert killed.run_results.read_bytes() == green.run_results.read_bytes()
    assert killed.invocation_id != green.invocation_id
    invocation_id, command, status, _, finished_at, nodes, *_ = marker(killed.warehouse)
    assert (invocation_id, command, status) == (killed.invocation_id, "build", "running")
    assert finished_at is None and nodes is None
    phrases = (f"dbt invocation {killed.invocation_id} (`dbt build`", "which never finished")
    # the target as dbt left it (its manifest.json is the killed build's) ...
    assert_refused(capsys, killed.warehouse, served, killed.run_results, "unfinished", *phrases)
    # ... and one untouched by the killed build (it ran with another --target-path)
    assert_refused(capsys, killed.warehouse, served, green.run_results, "unfinished", *phrases)


def test_a_narrowed_build_is_refused_and_the_warehouse_no_longer_matches_the_full_build(
    dbt_commands: dict[str, Stage], served: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    green, narrowed = dbt_commands["green"], dbt_commands["narrowed"]
    assert marker(narrowed.warehouse)[:3] == (narrowed.invocation_id, "build", "finished")
    assert_refused(
        capsys,
        narrowed.warehouse,
        served,
        narrowed.run_results,
        "narrowed",
        "(--select stg_use_case_preflight)",
    )
    assert_refused(
        capsys,
        narrowed.warehouse,
        served,
        green.run_results,
        "other_invocation",
        f"dbt invocation {narrowed.invocation_id} (`dbt build`, finished",
        f"not by the build in run_results.json ({green.invocation_id})",
    )


def test_dbt_compile_is_refused_and_leaves_the_build_marker_alone(
    dbt_commands: dict[str, Stage], served: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    narrowed, compiled = dbt_commands["narrowed"], dbt_commands["compiled"]
    assert marker(compiled.warehouse) == marker(narrowed.warehouse)
    results = json.loads(compiled.run_results.read_text())["results"]
    assert not [r for r in results if r["unique_id"].startswith("operation.")]  # no hook ran
    assert_refused(
        capsys,
        compiled.warehouse,
        served,
        compiled.run_results,
        "not_build",
        "the last dbt invocation was `dbt compile`, not a complete `dbt build`",
    )


def test_make_run_does_not_publish_when_dbt_build_fails(demo_raw_dir: Path, tmp_path: Path) -> None:
    serving = tmp_path / "serving.duckdb"
    serving.write_bytes(b"last good copy")
    completed = subprocess.run(
        [
            "make",
            "-o",
            ".venv/.installed",
            "run",
            "DBT=false",
            f"RAW_DIR={demo_raw_dir}",
            f"SERVING={serving}",
            f"REPORT_DIR={tmp_path / 'reports'}",
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode != 0
    assert "leakproof publish" not in completed.stdout
    assert serving.read_bytes() == b"last good copy"
    assert not (tmp_path / "reports").exists()


READER = textwrap.dedent(
    """
    import json, sys, time, duckdb
    serving, stop = sys.argv[1], sys.argv[2]
    seen, errors, reads = {}, [], 0
    import pathlib
    while not pathlib.Path(stop).exists():
        try:
            with duckdb.connect(serving, read_only=True) as c:
                registry = c.execute(
                    "select model_id from ml.ml_model_registry "
                    "where role = 'primary' and use_case = 'marketing'").fetchall()
                scores = c.execute(
                    "select distinct model_id from ml.ml_scores "
                    "where use_case = 'marketing'").fetchall()
                published = c.execute("select distinct model_ids from main._publish").fetchall()
            reads += 1
            key = registry[0][0]
            if [key] != [row[0] for row in scores] or key not in published[0][0].split(","):
                errors.append(f"inconsistent: {registry} {scores} {published}")
            seen[key] = seen.get(key, 0) + 1
        except Exception as error:
            errors.append(repr(error))
    print(json.dumps({"reads": reads, "seen": seen, "errors": errors[:5]}))
    """
)


def relabel_marketing_model(warehouse: Path, new_id: str) -> None:
    """Simulate a retrained marketing model: a new id in the registry and on every score."""
    with duckdb.connect(str(warehouse)) as connection:
        old_id = connection.execute(
            "select model_id from ml.ml_model_registry where role = 'primary' "
            "and use_case = 'marketing'"
        ).fetchone()[0]
        for table in ("ml_model_registry", "ml_scores"):
            connection.execute(
                f"update ml.{table} set model_id = ? where model_id = ?", [new_id, old_id]
            )


def test_readers_see_one_complete_snapshot_during_build_and_publish(
    demo_build: DbtResult, demo_raw_dir: Path, tmp_path: Path
) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    working = workdir / "leakproof.duckdb"
    shutil.copy(demo_build.warehouse, working)
    retrained = tmp_path / "retrained.duckdb"
    shutil.copy(demo_build.warehouse, retrained)
    relabel_marketing_model(retrained, "marketing-xgboost-retrained")
    serving = tmp_path / "serving" / "serving.duckdb"
    publish(working, serving)
    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(serving), str(stop)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(0.5)
        # dbt rebuilds the working file (scores with the registered models) while readers read
        build = run_dbt(
            ["build", "--select", "ml_scores"],
            workdir,
            raw_dir=demo_raw_dir,
            dbt_vars={
                "retrain": False,
                "artifact_dir": str(demo_build.warehouse.parent / "artifacts"),
            },
        )
        assert build.ok, build.output[-3000:]
        for source in (retrained, working, retrained, working, retrained):
            publish(source, serving)
            time.sleep(0.3)
    finally:
        stop.touch()
        output, _ = reader.communicate(timeout=60)
    summary = json.loads(output)
    assert summary["errors"] == []
    assert summary["reads"] >= 10
    assert "marketing-xgboost-retrained" in summary["seen"]
    assert len(summary["seen"]) == 2  # both snapshots were read, never a mix
    with duckdb.connect(str(serving), read_only=True) as final:
        assert final.execute(
            "select distinct model_id from ml.ml_scores where use_case = 'marketing'"
        ).fetchall() == [("marketing-xgboost-retrained",)]
