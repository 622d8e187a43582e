"""The SQL layer on Spark equals DuckDB's: `dbt build --target spark --selector spark_equivalence`
(dbt-spark, `method: session` on local[2]) and the same selection on DuckDB, over the same small
generated data; the split-independent marts must agree, counts exactly and rates to 1e-9, and
every data and unit test of them passes on both engines. (The whole sql_layer selection, feature
tables and their leakage tests included, is `make spark-build`: too slow for CI on 2 cores.)

The split itself differs by design (DuckDB orders rows by its hash(), Spark by xxhash64), so the
marts read from it (features, response-rate bins over training rows, ...) are not compared.

Needs the Spark extras (`make spark`: .venv-spark with dbt-spark and pyspark, and Java): `make
test-spark` installs them and runs this file; elsewhere (make test) it is skipped with the reason.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from dbt_runner import PROJECT_ROOT, dbt_invocation, run_dbt
from leakproof.generate import generate

# Set by `make test-spark` (the Spark venv's dbt); unset, the test is skipped, so `make test` does
# not spend the Spark build's minutes a second time.
SPARK_DBT = (
    Path(os.environ.get("LEAKPROOF_SPARK_DBT", ""))
    if os.environ.get("LEAKPROOF_SPARK_DBT")
    else None
)
SELECTOR = "spark_equivalence"
ROWS = 3000
B2B_ROWS = 3000
TOLERANCE = 1e-9

# schema.table: the marts that do not depend on which rows the split sends to training.
# (fct_source_row_accounting and fct_rejected_lines come from stg_raw_files' line splitter, a
# Python model: DuckDB only. fct_feature_target_tests is built and tested on Spark but not
# compared: its tests count imputed values, and the imputation takes the training rows' medians.)
SPLIT_INDEPENDENT = [
    "marts.fct_quarantined_rows",
    "marts.fct_quarantine_reasons",
    "marts.fct_dimension_performance",
    "marts.fct_treatment_performance",
    "marts.fct_segment_performance",
    "marts.fct_budget_reallocation",
    "marts.fct_response_rate_bins",
    "marts.fct_feature_information_value",
]
# Columns that are text the engines spell differently: JSON, generated sentences, and bin labels
# (Spark writes a double of 1e7 or more as 1.264E7, DuckDB as 12640000.0).
ENGINE_TEXT = {"raw_values", "summary", "sentence", "bin_label"}

pytestmark = pytest.mark.skipif(
    SPARK_DBT is None or not SPARK_DBT.exists() or shutil.which("java") is None,
    reason=(
        "the Spark equivalence test runs with `make test-spark` (it installs Java and the Spark "
        f"extras, .venv-spark, and sets LEAKPROOF_SPARK_DBT); dbt: {SPARK_DBT}, "
        f"java: {shutil.which('java')}"
    ),
)


def spark_build(workdir: Path, raw_dir: Path) -> subprocess.Popen[str]:
    """Start the compared marts' build on the spark target, its warehouse in workdir (an
    in-memory catalog: one build, read back from its Parquet files)."""
    command, env = dbt_invocation(
        ["build", "--target", "spark", "--selector", SELECTOR], workdir, raw_dir
    )
    command[0] = str(SPARK_DBT)
    env["LEAKPROOF_SPARK_WAREHOUSE"] = str(workdir / "spark-warehouse")
    env["LEAKPROOF_SPARK_CATALOG"] = "in-memory"
    return subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(DuckDB warehouse file, Spark warehouse folder) after both builds of the same raw data; the
    two run side by side. The Spark build's run_results.json is beside its warehouse folder."""
    raw = tmp_path_factory.mktemp("spark_raw")
    generate(raw, rows=ROWS, seed=0, b2b_rows=B2B_ROWS)
    spark_dir = tmp_path_factory.mktemp("spark_build")
    spark = spark_build(spark_dir, raw)
    try:
        duck = run_dbt(
            ["build", "--selector", SELECTOR], tmp_path_factory.mktemp("duck_build"), raw
        )
        spark_output, _ = spark.communicate(timeout=1800)
    finally:
        if spark.poll() is None:
            spark.kill()
    assert duck.ok, duck.output[-5000:]
    assert spark.returncode == 0, spark_output[-8000:]
    yield duck.warehouse, spark_dir / "spark-warehouse"


def spark_rows(
    connection: duckdb.DuckDBPyConnection, warehouse: Path, table: str
) -> tuple[list[tuple[Any, ...]], list[str]]:
    """A Spark table's rows and column names, read from its Parquet files in the warehouse."""
    schema, name = table.split(".")
    files = warehouse / f"{schema}.db" / name / "*.parquet"
    rows = connection.execute(f"select * from read_parquet('{files}')").fetchall()
    return rows, [d[0] for d in connection.description]


def plain(value: Any) -> Any:
    """A number as float (Spark may type a DuckDB double as decimal), anything else as is."""
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, Decimal | float):
        return float(value)
    return value


def sorted_rows(
    rows: list[tuple[Any, ...]], columns: list[str], keep: list[str], exact: list[str]
) -> list[tuple[Any, ...]]:
    """The rows restricted to `keep`, sorted by the `exact` (non-float) columns."""
    picked = [tuple(plain(row[columns.index(c)]) for c in keep) for row in rows]
    positions = [keep.index(c) for c in exact]

    def key(row: tuple[Any, ...]) -> tuple[tuple[int, str], ...]:
        values = [row[i] for i in positions]
        return tuple(
            (0, "") if v is None else (1, str(int(v) if isinstance(v, float) else v))
            for v in values
        )

    return sorted(picked, key=key)


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is None and b is None
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=TOLERANCE, abs_tol=TOLERANCE)
    return a == b


@pytest.mark.parametrize("table", SPLIT_INDEPENDENT)
def test_split_independent_mart_equals_duckdb(builds: tuple[Path, Path], table: str) -> None:
    duck_file, spark_warehouse = builds
    with duckdb.connect(str(duck_file), read_only=True) as connection:
        duck = connection.execute(f"select * from {table}").fetchall()
        duck_columns = [d[0] for d in connection.description]
        spark, spark_columns = spark_rows(connection, spark_warehouse, table)
    assert sorted(spark_columns) == sorted(duck_columns)
    assert len(spark) == len(duck) > 0
    keep = [c for c in duck_columns if c not in ENGINE_TEXT]
    index = {c: duck_columns.index(c) for c in keep}
    exact = [c for c in keep if not any(isinstance(row[index[c]], float) for row in duck)]
    duck_sorted = sorted_rows(duck, duck_columns, keep, exact)
    spark_sorted = sorted_rows(spark, spark_columns, keep, exact)
    mismatches = [
        (keep[i], d[i], s[i])
        for d, s in zip(duck_sorted, spark_sorted, strict=True)
        for i in range(len(keep))
        if not same(d[i], s[i])
    ]
    assert not mismatches, f"{table}: {len(mismatches)} values differ, e.g. {mismatches[:5]}"


def test_staging_row_counts_equal_duckdb(builds: tuple[Path, Path]) -> None:
    duck_file, spark_warehouse = builds
    project = yaml.safe_load((PROJECT_ROOT / "dbt_project.yml").read_text())
    tables = [f"staging.base_{use_case}__validated" for use_case in project["vars"]["use_cases"]]
    assert tables
    with duckdb.connect(str(duck_file), read_only=True) as connection:
        for table in tables:
            duck = connection.execute(f"select count(*) from {table}").fetchone()[0]
            spark, _ = spark_rows(connection, spark_warehouse, table)
            assert len(spark) == duck > 0, table


def test_spark_ran_every_sql_node_duckdb_ran(builds: tuple[Path, Path]) -> None:
    """The Spark build ran (and passed) every model, data test and unit test of the selection
    that DuckDB ran, but for the dbt Python models (DuckDB only) and what only they feed."""
    duck_file, spark_warehouse = builds
    duck = json.loads((duck_file.parent / "target" / "run_results.json").read_text())
    spark = json.loads((spark_warehouse.parent / "target" / "run_results.json").read_text())
    spark_status = {r["unique_id"]: r["status"] for r in spark["results"]}
    python_only = ("stg_raw_files", "stg_use_case_preflight")
    expected = {
        r["unique_id"]
        for r in duck["results"]
        if r["unique_id"].split(".")[0] in ("model", "test", "unit_test")
        and not any(name in r["unique_id"] for name in python_only)
    }
    assert sum(uid.startswith("unit_test.") for uid in expected) >= 2
    assert expected <= set(spark_status), sorted(expected - set(spark_status))
    failed = {
        uid: spark_status[uid] for uid in expected if spark_status[uid] not in ("success", "pass")
    }
    assert not failed, failed
