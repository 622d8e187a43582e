"""The SQL layer on Spark equals DuckDB's: `dbt build --target spark --selector sql_layer`
(dbt-spark, `method: session` on local[2]) and the same selection on DuckDB, over the same small
generated data; the split-independent marts must agree, counts exactly and rates to 1e-9.

The split itself differs by design (DuckDB orders rows by its hash(), Spark by xxhash64), so the
marts read from it (features, response-rate bins over training rows, ...) are not compared.

Needs the Spark extras (`make spark`: .venv-spark with dbt-spark and pyspark, and Java): `make
test-spark` installs them and runs this file; elsewhere (make test) it is skipped with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from dbt_runner import run_dbt
from spark_build import SKIP_REASON, SparkBuild, spark_available

TOLERANCE = 1e-9

# schema.table: the marts that do not depend on which rows the split sends to training.
# (fct_source_row_accounting and fct_rejected_lines come from stg_raw_files' line splitter, a
# Python model: DuckDB only.)
SPLIT_INDEPENDENT = [
    "marts.fct_quarantined_rows",
    "marts.fct_quarantine_reasons",
    "marts.fct_dimension_performance",
    "marts.fct_treatment_performance",
    "marts.fct_segment_performance",
    "marts.fct_response_rate_bins",
    "marts.fct_feature_information_value",
]
# Columns that are text the engines spell differently: JSON, generated sentences, and bin labels
# (Spark writes a double of 1e7 or more as 1.264E7, DuckDB as 12640000.0).
ENGINE_TEXT = {"raw_values", "summary", "sentence", "bin_label"}

pytestmark = pytest.mark.skipif(not spark_available(), reason=SKIP_REASON)


@pytest.fixture(scope="module")
def builds(
    tmp_path_factory: pytest.TempPathFactory, spark_sql_build: SparkBuild
) -> Iterator[tuple[Path, Path]]:
    """(DuckDB warehouse file, Spark warehouse folder) after both builds of the same raw data; the
    DuckDB one runs while the session's Spark build (spark_build.py) does."""
    duck = run_dbt(
        ["build", "--selector", "sql_layer"],
        tmp_path_factory.mktemp("duck_build"),
        spark_sql_build.raw,
    )
    spark_sql_build.wait()
    assert duck.ok, duck.output[-5000:]
    yield duck.warehouse, spark_sql_build.warehouse


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
    tables = [
        f"staging.{kind}_{use_case}__{suffix}"
        for use_case in ("marketing", "b2b")
        for kind, suffix in (("base", "validated"),)
    ]
    with duckdb.connect(str(duck_file), read_only=True) as connection:
        for table in tables:
            duck = connection.execute(f"select count(*) from {table}").fetchone()[0]
            spark, _ = spark_rows(connection, spark_warehouse, table)
            assert len(spark) == duck > 0, table
