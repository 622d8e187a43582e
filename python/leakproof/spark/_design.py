"""The design matrix on Spark: the encoder is fitted from Spark aggregates over the training rows
(median imputation, standard scaling, one-hot categories - what leakproof.train fits with
scikit-learn), and each partition is encoded by that same DesignEncoder in pandas, so the rows
the Spark models are fitted on and the rows the pandas code scores are encoded identically."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from leakproof.model_spec import MISSING_CATEGORY
from leakproof.train import DesignEncoder, ModelSpec

__all__ = ["DESIGN_COLUMN", "design_frame", "fit_encoder"]

DESIGN_COLUMN = "design"
# What every design frame carries beside the design vector.
_KEY_SCHEMA = "entity_key string, split string, cv_fold int, label double"


def _numeric(name: str) -> Any:
    from pyspark.sql import functions as F

    return F.col(f"`{name}`").cast("double")


def _category(name: str) -> Any:
    from pyspark.sql import functions as F

    return F.coalesce(F.col(f"`{name}`").cast("string"), F.lit(MISSING_CATEGORY))


def fit_encoder(train: Any, spec: ModelSpec, *, drop_first: bool) -> DesignEncoder:
    """The DesignEncoder of `spec`'s features fitted on the Spark frame `train` (training rows):
    numerics imputed with their median (0 when a column has no value, as scikit-learn's
    keep_empty_features) and scaled by the mean and population standard deviation of the imputed
    values (a zero deviation scales by 1); categoricals one-hot over their sorted training values
    ('(missing)' for null), the first dropped for the logistic model (drop='first')."""
    from pyspark.sql import functions as F

    numeric, categorical = list(spec.numeric_features), list(spec.categorical_features)
    first = train.agg(
        *(F.percentile(_numeric(c), 0.5).alias(f"m{i}") for i, c in enumerate(numeric)),
        *(F.collect_set(_category(c)).alias(f"c{i}") for i, c in enumerate(categorical)),
        F.count(F.lit(1)).alias("rows"),
    ).first()
    fill = np.array(
        [0.0 if first[f"m{i}"] is None else float(first[f"m{i}"]) for i in range(len(numeric))]
    )
    means = scales = np.zeros(0)
    if numeric:
        imputed = [F.coalesce(_numeric(c), F.lit(fill[i])) for i, c in enumerate(numeric)]
        second = train.agg(
            *(F.avg(x).alias(f"a{i}") for i, x in enumerate(imputed)),
            *(F.stddev_pop(x).alias(f"s{i}") for i, x in enumerate(imputed)),
        ).first()
        means = np.array([float(second[f"a{i}"] or 0.0) for i in range(len(numeric))])
        scales = np.array([float(second[f"s{i}"] or 0.0) for i in range(len(numeric))])
        scales[~(scales > 10 * np.finfo(np.float64).eps * np.maximum(np.abs(means), 1))] = 1.0
    columns: list[tuple[str, str | None]] = [(c, None) for c in numeric]
    categories, output_index = [], []
    for i, feature in enumerate(categorical):
        values = np.array(sorted(first[f"c{i}"]), dtype=object)
        index = np.full(len(values), -1, dtype=np.int64)
        for j, value in enumerate(values):
            if not (drop_first and j == 0):
                index[j] = len(columns)
                columns.append((feature, str(value)))
        categories.append(values)
        output_index.append(index)
    return DesignEncoder(
        numeric_features=tuple(numeric),
        categorical_features=tuple(categorical),
        fill_values=fill,
        means=means,
        scales=scales,
        categories=tuple(categories),
        output_index=tuple(output_index),
        columns=tuple(columns),
    )


def design_frame(frame: Any, encoder: DesignEncoder, spec: ModelSpec) -> Any:
    """The Spark frame (entity_key, split, cv_fold, label, design vector) of `frame`'s rows,
    each partition encoded by `encoder` in pandas (mapInPandas)."""
    from pyspark.ml.functions import array_to_vector
    from pyspark.sql import functions as F

    target = spec.target

    def encode(parts: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for part in parts:
            design = encoder.transform(part, spec)
            yield pd.DataFrame(
                {
                    "entity_key": part["entity_key"].astype(str).to_numpy(),
                    "split": part["split"].astype(str).to_numpy(),
                    "cv_fold": pd.array(part["cv_fold"], dtype="Int32"),
                    "label": pd.to_numeric(part[target]).astype("float64").to_numpy(),
                    DESIGN_COLUMN: list(design),
                }
            )

    encoded = frame.mapInPandas(encode, f"{_KEY_SCHEMA}, {DESIGN_COLUMN} array<double>")
    return encoded.withColumn(DESIGN_COLUMN, array_to_vector(F.col(DESIGN_COLUMN)))
