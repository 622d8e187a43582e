"""The Spark ML job: for every turned-on use case (ml.ml_use_cases, built by dbt-spark), train
on its feature table, score every row with reason codes, recommend an arm per what-if row and
freeze the PSI reference bins; write ml_trained_models, ml_scores, ml_recommendations and
ml_psi_reference_bins as Spark tables with the DuckDB Python models' columns."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from leakproof import steps
from leakproof.lineage import feature_lineage_from_target
from leakproof.spark._score import recommendation_frame, score_frame
from leakproof.spark._session import (
    ML_SCHEMA,
    SparkJobError,
    double_decimals,
    spark_reader,
    write_frame,
)
from leakproof.spark._train import train_on_spark

__all__ = ["JOB_TABLES", "JobSettings", "approved_on_spark", "run_ml_job"]

# The tables the job writes (schema ml), in the order it writes them.
JOB_TABLES = ("ml_trained_models", "ml_scores", "ml_psi_reference_bins", "ml_recommendations")


@dataclass(frozen=True)
class JobSettings:
    """Where the job reads and writes, and the dbt vars it honours."""

    project_dir: Path
    target_path: Path  # dbt-spark's target/ of the SQL layer's build (manifest + compiled SQL)
    artifact_dir: Path
    raw_dir: str | None = None
    psi_bins: int = 10
    num_workers: int = 1


def _feature_frame(spark: Any, tables: steps.UseCaseTables, columns: list[str]) -> Any:
    frame = spark.table(tables.features).select(*(f"`{c}`" for c in columns))
    return double_decimals(frame)


def _write(spark: Any, frame: Any, table: str) -> int:
    spark.sql(f"create database if not exists {ML_SCHEMA}")
    frame.write.mode("overwrite").format("parquet").saveAsTable(f"{ML_SCHEMA}.{table}")
    return int(spark.table(f"{ML_SCHEMA}.{table}").count())


def approved_on_spark(lineage: pd.DataFrame, feature_table: str, columns: list[str]) -> list[str]:
    """The feature columns of `feature_table` the job trains on. The lineage guard (sqlglot)
    reads DuckDB's SQL dialect, so over dbt-spark's compiled SQL most paths come back
    'unresolved': those features are used (the declared roles and the SQL layer's leakage data
    tests have passed them on Spark), and named on stderr; a feature the guard traced to a
    blocked column ('leak') stops the job as it stops the DuckDB build. `columns`: the feature
    table's (the guard's row for an unexpanded `*` is not a column)."""
    rows = lineage[
        (lineage["model"] == feature_table)
        & (lineage["feature_role"] == "feature")
        & lineage["feature"].isin(columns)
    ]
    if rows.empty:
        raise SparkJobError(f"the leakage guard has no lineage for {feature_table}")
    leaks = sorted(set(rows.loc[rows["status"] == "leak", "feature"]))
    if leaks:
        raise SparkJobError(f"{feature_table}: the leakage guard rejected {', '.join(leaks)}")
    unresolved = sorted(set(rows.loc[~rows["status"].isin(steps.APPROVED_STATUSES), "feature"]))
    if unresolved:
        print(
            f"warning: {feature_table}: lineage not traced on Spark SQL for "
            f"{len(unresolved)} feature(s): {', '.join(unresolved)}",
            file=sys.stderr,
        )
    return sorted(set(rows["feature"]))


def run_ml_job(spark: Any, settings: JobSettings) -> dict[str, int]:
    """Run the job; return the rows written per table."""
    read = spark_reader(spark)
    use_cases = steps.use_case_tables(read(f"{ML_SCHEMA}.ml_use_cases"), settings.project_dir)
    if not use_cases:
        raise SparkJobError("ml.ml_use_cases has no use case: build the SQL layer first")
    lineage = feature_lineage_from_target(settings.target_path, settings.project_dir)
    artifact_dir = str(Path(settings.artifact_dir).resolve())
    written: dict[str, int] = {}

    trained = {}
    for tables in use_cases:
        declaration = tables.declaration
        table_columns = spark.table(tables.features).columns
        approved = approved_on_spark(lineage, declaration.feature_table, table_columns)
        keys = [*steps.FEATURE_TABLE_KEYS, declaration.target]
        base = _feature_frame(spark, tables, list(dict.fromkeys([*keys, *approved])))
        base = base.filter("split in ('train', 'test')").cache()
        sample = base.limit(200).toPandas()
        spec = steps.model_spec(declaration, sample, approved, artifact_dir)
        trained[tables.name] = train_on_spark(base, spec, num_workers=settings.num_workers)
        base.unpersist()
    registry = pd.concat([t.registry for t in trained.values()], ignore_index=True)
    write_frame(spark, registry, "ml_trained_models")
    written["ml_trained_models"] = len(registry)

    scored = None
    for tables in use_cases:
        bundle = trained[tables.name].primary
        columns = [*steps.FEATURE_TABLE_KEYS, tables.declaration.target, *bundle.spec.features]
        features = _feature_frame(spark, tables, list(dict.fromkeys(columns)))
        part = score_frame(features, bundle, features.limit(50).toPandas())
        scored = part if scored is None else scored.unionByName(part)
    written["ml_scores"] = _write(spark, scored, "ml_scores")

    training_scores = read(
        f"{ML_SCHEMA}.ml_scores",
        ["use_case", "entity_key", "split", "calibrated_probability"],
        "split = 'train'",
    )
    bins = steps.reference_bins(
        read,
        use_cases,
        registry,
        training_scores=training_scores,
        lineage=lineage,
        artifact_dir=artifact_dir,
        retrain=True,
        n_bins=settings.psi_bins,
    )
    write_frame(spark, bins, "ml_psi_reference_bins")
    written["ml_psi_reference_bins"] = len(bins)

    recommended = None
    for tables in use_cases:
        what_if = tables.declaration.what_if
        if what_if is None:
            continue
        bundle = trained[tables.name].primary
        per_arm, columns = steps.what_if_inputs(tables, bundle)
        arm_columns = [
            "split",
            *what_if.treatments,
            *what_if.follows,
            *what_if.support_segments,
            *(f.name for f in per_arm),
        ]
        arms = read(tables.features, list(dict.fromkeys(arm_columns)))
        features = _feature_frame(spark, tables, columns)
        part = recommendation_frame(features, tables, bundle, arms, settings.raw_dir)
        recommended = part if recommended is None else recommended.unionByName(part)
    if recommended is None:
        write_frame(spark, steps.empty_frame(steps.RECOMMENDATION_SCHEMA), "ml_recommendations")
        written["ml_recommendations"] = 0
    else:
        written["ml_recommendations"] = _write(spark, recommended, "ml_recommendations")
    return written
