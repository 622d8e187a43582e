"""The serving copy: BI schemas only, DuckDB 1.4 readable, green builds only, atomic for readers."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from dbt_runner import PROJECT_ROOT, DbtResult, run_dbt
from leakproof.cli import main
from leakproof.publish import (
    EXCLUDED_RELATIONS,
    MAX_READABLE_HEADER_VERSION,
    PublishError,
    failed_nodes,
    header_version,
    publish,
)

BI_SCHEMAS = {"marts", "features", "ml", "reference"}


@pytest.fixture(scope="module")
def served(demo_build: DbtResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    serving = tmp_path_factory.mktemp("serving") / "serving.duckdb"
    publish(demo_build.warehouse, serving, run_results=demo_build.target_path / "run_results.json")
    return serving


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_run_results(path: Path, statuses: dict[str, str]) -> Path:
    results = [{"unique_id": key, "status": value} for key, value in statuses.items()]
    path.write_text(json.dumps({"results": results}))
    return path


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
    assert "ml.ml_marketing_scores" in actual and "marts.fct_channel_performance" in actual
    assert actual == expected
    assert len(internals) == 4 and not set(internals) & set(actual)
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


def test_failed_build_is_refused_and_the_last_good_copy_kept(
    served: Path, demo_build: DbtResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = sha256(served)
    failed = write_run_results(
        tmp_path / "run_results.json",
        {
            "model.leakproof.fct_channel_performance": "success",
            "test.leakproof.not_null_ml_marketing_scores_customer_id": "fail",
            "model.leakproof.ml_psi": "skipped",
            "test.leakproof.psi_below_warn_ml_psi": "warn",
        },
    )
    assert failed_nodes(failed) == [
        "fail: test.leakproof.not_null_ml_marketing_scores_customer_id",
        "skipped: model.leakproof.ml_psi",
    ]
    with pytest.raises(PublishError, match="refusing to publish"):
        publish(demo_build.warehouse, served, run_results=failed)
    code = main(
        [
            "publish",
            "--warehouse",
            str(demo_build.warehouse),
            "--serving",
            str(served),
            "--run-results",
            str(failed),
        ]
    )
    message = capsys.readouterr().err
    assert code == 1
    assert "did not succeed" in message and "not_null_ml_marketing_scores_customer_id" in message
    assert sha256(served) == before
    assert not served.with_name(served.name + ".tmp").exists()
    with pytest.raises(PublishError, match="no dbt run results"):
        publish(demo_build.warehouse, served, run_results=tmp_path / "absent.json")


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
                    "select distinct model_id from ml.ml_marketing_scores").fetchall()
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
        for table in ("ml_model_registry", "ml_marketing_scores"):
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
            ["build", "--select", "ml_marketing_scores"],
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
        assert final.execute("select distinct model_id from ml.ml_marketing_scores").fetchall() == [
            ("marketing-xgboost-retrained",)
        ]
