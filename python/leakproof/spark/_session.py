"""The Spark side of the job: a session configured like profiles.yml's spark target (same
warehouse and metastore, so it sees the tables dbt-spark built), a Reader over it, and writing
pandas frames back as Spark tables."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from leakproof.exceptions import LeakproofError
from leakproof.steps import Reader, select_sql

__all__ = [
    "ML_SCHEMA",
    "SparkJobError",
    "arrow_schema",
    "double_decimals",
    "session_settings",
    "spark_reader",
    "spark_session",
    "write_frame",
]

# The schema the job writes its tables to: the one the DuckDB Python models write (ml).
ML_SCHEMA = "ml"


class SparkJobError(LeakproofError):
    """The Spark ML job cannot run: no session, a missing table, an empty split."""


def session_settings(project_dir: Path | str = ".") -> dict[str, str]:
    """The Spark settings of profiles.yml's spark target, from the same environment variables
    with the same defaults (the warehouse resolved against the project directory, as dbt does
    when it runs from there)."""
    warehouse = Path(os.environ.get("LEAKPROOF_SPARK_WAREHOUSE", "warehouse/spark"))
    if not warehouse.is_absolute():
        warehouse = Path(project_dir).resolve() / warehouse
    return {
        "spark.master": os.environ.get("LEAKPROOF_SPARK_MASTER", "local[2]"),
        "spark.driver.memory": os.environ.get("LEAKPROOF_SPARK_DRIVER_MEMORY", "2g"),
        "spark.sql.shuffle.partitions": os.environ.get("LEAKPROOF_SPARK_PARTITIONS", "2"),
        "spark.sql.warehouse.dir": str(warehouse),
        "spark.hadoop.javax.jdo.option.ConnectionURL": (
            f"jdbc:derby:;databaseName={warehouse}/metastore_db;create=true"
        ),
        "spark.sql.decimalOperations.allowPrecisionLoss": "false",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.ui.enabled": "false",
    }


def spark_session(project_dir: Path | str = ".", app_name: str = "leakproof-ml") -> Any:
    """A Hive-enabled SparkSession on the spark target's warehouse and metastore. Its Python
    workers run this interpreter (so they import the same leakproof and libraries)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as error:  # pragma: no cover - the DuckDB venv has no pyspark
        raise SparkJobError(
            "pyspark is not installed: run the Spark job from .venv-spark (make spark)"
        ) from error
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    for key, value in session_settings(project_dir).items():
        builder = builder.config(key, value)
    return builder.enableHiveSupport().getOrCreate()


def double_decimals(frame: Any) -> Any:
    """A Spark frame with its decimal(p, s) columns as double (Spark's SQL keeps decimals where
    DuckDB computes doubles; the models take floats)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import DecimalType

    return frame.select(
        *(
            F.col(f"`{field.name}`").cast("double").alias(field.name)
            if isinstance(field.dataType, DecimalType)
            else F.col(f"`{field.name}`")
            for field in frame.schema.fields
        )
    )


def spark_reader(spark: Any) -> Reader:
    """A steps.Reader over Spark SQL: filter and projection run in Spark, the rows arrive as
    pandas (through Arrow) on the driver, decimals as doubles."""

    def read(
        relation: str,
        columns: Sequence[str] | None = None,
        where: str | None = None,
        order_by: str | None = None,
    ) -> pd.DataFrame:
        sql = select_sql(relation, columns, where, order_by, quote="`")
        return double_decimals(spark.sql(sql)).toPandas()

    return read


def arrow_schema(frame: pd.DataFrame) -> pa.Schema:
    """The Arrow schema of a pandas frame: text as string, nullable integers as int64, times
    as UTC timestamps."""
    return pa.Table.from_pandas(frame, preserve_index=False).schema


def write_frame(spark: Any, frame: pd.DataFrame, table: str) -> None:
    """Write a (small) pandas frame as the Spark table ml.<table>, replacing it."""
    spark.sql(f"create database if not exists {ML_SCHEMA}")
    arrow = pa.Table.from_pandas(frame, preserve_index=False)
    spark.createDataFrame(arrow).write.mode("overwrite").format("parquet").saveAsTable(
        f"{ML_SCHEMA}.{table}"
    )
