"""Scoring on Spark: every feature row scored by a use case's primary bundle, with reason codes,
and every what-if row scored under every arm - the DuckDB steps' own per-row code
(train.score_frame, whatif.recommend) run per partition (mapInPandas). What needs every row at
once is done by Spark (deciles) or on the driver before the partitions run (the arm space and
the training support of each segment x arm)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import pyarrow as pa

from leakproof import steps, train, whatif
from leakproof.spark._session import arrow_schema

__all__ = ["recommendation_frame", "score_frame"]


def _spark_schema(schema: pa.Schema) -> Any:
    """A Spark schema from an Arrow one (text as string, null-typed columns as string)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(pa.schema([pa.field(f.name, _plain(f.type)) for f in schema]))


def _plain(kind: pa.DataType) -> pa.DataType:
    """Text (large or untyped-null) as string; anything else as it is."""
    if pa.types.is_null(kind) or pa.types.is_large_string(kind):
        return pa.string()
    return kind


def _typed(frame: pd.DataFrame, schema: pa.Schema) -> pd.DataFrame:
    """`frame` with the dtypes its first partition had (an all-null partition keeps them)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    return pa.table({f.name: table.column(f.name).cast(_plain(f.type)) for f in schema}).to_pandas()


def score_frame(features: Any, bundle: train.ModelBundle, sample: pd.DataFrame) -> Any:
    """ml_scores' rows of one use case: the Spark frame `features` (its feature table: keys,
    target, the model's features) scored per partition by train.score_frame; the decile (1 =
    top 10 % by raw logit within a split, ties by entity_key) is computed over all rows by Spark.
    `sample`: a few of its rows (pandas), to type the output."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    schema = arrow_schema(train.score_frame(bundle, sample))

    def run(parts: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for part in parts:
            if len(part):
                yield _typed(train.score_frame(bundle, part), schema)

    scored = features.mapInPandas(run, _spark_schema(schema))
    order = Window.partitionBy("split").orderBy(F.col("raw_logit").desc(), F.col("entity_key"))
    rows = F.count(F.lit(1)).over(Window.partitionBy("split"))
    decile = (F.floor((F.row_number().over(order) - 1) * 10 / rows) + 1).cast("long")
    return scored.withColumn("decile", decile).select(*schema.names)


def recommendation_frame(
    features: Any,
    tables: steps.UseCaseTables,
    bundle: train.ModelBundle,
    arms: pd.DataFrame,
    raw_dir: str | None,
) -> Any:
    """ml_recommendations' rows of one what-if use case: `features` (Spark) scored under every arm
    per partition by whatif.recommend. The arm space and the support counts come from `arms`
    (pandas: split, the treatments, followed, segment and per-arm columns of every row), once,
    on the driver."""
    what_if = tables.declaration.what_if
    assert what_if is not None
    per_arm, _ = steps.what_if_inputs(tables, bundle)
    space = whatif.arm_space(arms, what_if.treatments, per_arm, what_if.follows)
    support = whatif.segment_support(arms, space, what_if.support_segments)

    columns = list(steps.RECOMMENDATION_SCHEMA)
    schema = arrow_schema(steps.empty_frame(steps.RECOMMENDATION_SCHEMA))

    def run(parts: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for part in parts:
            if len(part):
                rows = steps.recommendation_rows(
                    part.reset_index(drop=True), space, tables, bundle, raw_dir, support
                )
                yield _typed(rows[columns], schema)

    return features.mapInPandas(run, _spark_schema(schema))
