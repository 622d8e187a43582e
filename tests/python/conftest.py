"""Shared fixtures: a small generated demo dataset and one full `dbt build` over it per session."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from dbt_runner import DbtResult, run_dbt
from leakproof.generate import generate
from spark_build import B2B_ROWS as SPARK_B2B_ROWS
from spark_build import ROWS as SPARK_ROWS
from spark_build import SparkBuild, spark_available, start_spark_build

# Small enough for a quick suite, large enough that every channel x platform cell and every
# B2B wave has rows. The full-size statistics are checked in test_generate.py.
TEST_ROWS = 15000
TEST_B2B_ROWS = 8000


@pytest.fixture(scope="session")
def demo_raw_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated raw directory (customers, scoring batch, accounts, truth sidecar)."""
    out = tmp_path_factory.mktemp("raw")
    generate(out, rows=TEST_ROWS, seed=0, b2b_rows=TEST_B2B_ROWS)
    return out


@pytest.fixture(scope="session")
def demo_build(tmp_path_factory: pytest.TempPathFactory, demo_raw_dir: Path) -> DbtResult:
    """One full `dbt build` of the project over the small demo data."""
    result = run_dbt(["build"], tmp_path_factory.mktemp("build"), raw_dir=demo_raw_dir)
    assert result.ok, result.output[-5000:]
    return result


@pytest.fixture()
def warehouse(demo_build: DbtResult) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the warehouse built by demo_build."""
    connection = duckdb.connect(str(demo_build.warehouse), read_only=True)
    try:
        yield connection
    finally:
        connection.close()


@pytest.fixture(scope="session")
def spark_sql_build(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkBuild]:
    """The SQL layer's build on the spark target over small generated data, started once per
    session (spark_build.py); call .wait() for it to finish. Skips without the Spark extras."""
    if not spark_available():
        pytest.skip("no Spark extras (make test-spark)")
    raw = tmp_path_factory.mktemp("spark_raw")
    generate(raw, rows=SPARK_ROWS, seed=0, b2b_rows=SPARK_B2B_ROWS)
    build = start_spark_build(tmp_path_factory.mktemp("spark_build"), raw)
    try:
        yield build
    finally:
        build.stop()
