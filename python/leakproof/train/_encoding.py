"""Preprocessing: the ColumnTransformer fitted in the pipelines and its compiled fast path."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from leakproof._text import string_array
from leakproof.model_spec import MISSING_CATEGORY, ModelSpec
from leakproof.train._data import _numeric_values

__all__ = ["DesignEncoder", "make_preprocessor"]


def make_preprocessor(family: str, spec: ModelSpec) -> ColumnTransformer:
    """Median imputation + standard scaling for numerics; one-hot for categoricals.

    Logistic: ``OneHotEncoder(drop='first')`` (the B2B document's choice: no collinear dummy).
    XGBoost: every category gets a column (trees need no reference level, and a reason code can
    then point at any category). Scaling does not change trees but puts every dimension on one
    scale for SMOTE's nearest-neighbour search. Unknown categories encode as all zeros.
    """
    transformers: list[tuple[str, Any, list[str]]] = []
    if spec.numeric_features:
        numeric = Pipeline(
            [
                ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                ("scale", StandardScaler()),
            ]
        )
        transformers.append(("num", numeric, list(spec.numeric_features)))
    if spec.categorical_features:
        encoder = OneHotEncoder(
            drop="first" if family == "logistic" else None,
            handle_unknown="ignore",
            sparse_output=False,
            dtype=np.float64,
        )
        transformers.append(("cat", encoder, list(spec.categorical_features)))
    return ColumnTransformer(
        transformers, remainder="drop", sparse_threshold=0.0, verbose_feature_names_out=False
    )


@dataclass(frozen=True)
class DesignEncoder:
    """The fitted preprocessor compiled to numpy/Arrow: same numbers, ~50x faster on big frames.

    Built from a fitted ``make_preprocessor`` ColumnTransformer; ``transform`` reproduces its
    output bit for bit (same operations in the same order), which the tests check.
    ``columns`` names each output column as (feature, category or None).
    """

    numeric_features: tuple[str, ...]
    categorical_features: tuple[str, ...]
    fill_values: np.ndarray
    means: np.ndarray
    scales: np.ndarray
    categories: tuple[np.ndarray, ...]
    output_index: tuple[np.ndarray, ...]
    columns: tuple[tuple[str, str | None], ...]

    @classmethod
    def from_preprocessor(cls, preprocessor: ColumnTransformer, spec: ModelSpec) -> DesignEncoder:
        fill = means = scales = np.zeros(0)
        columns: list[tuple[str, str | None]] = []
        if spec.numeric_features:
            numeric = preprocessor.named_transformers_["num"]
            fill = numeric.named_steps["impute"].statistics_.astype(np.float64)
            means = numeric.named_steps["scale"].mean_.astype(np.float64)
            scales = numeric.named_steps["scale"].scale_.astype(np.float64)
            columns.extend((c, None) for c in spec.numeric_features)
        categories: list[np.ndarray] = []
        output_index: list[np.ndarray] = []
        if spec.categorical_features:
            encoder = preprocessor.named_transformers_["cat"]
            drop = encoder.drop_idx_
            for i, feature in enumerate(spec.categorical_features):
                cats = np.asarray(encoder.categories_[i], dtype=object)
                dropped = None if drop is None or drop[i] is None else int(drop[i])
                index = np.full(len(cats), -1, dtype=np.int64)
                for j, category in enumerate(cats):
                    if j != dropped:
                        index[j] = len(columns)
                        columns.append((feature, str(category)))
                categories.append(cats)
                output_index.append(index)
        return cls(
            numeric_features=spec.numeric_features,
            categorical_features=spec.categorical_features,
            fill_values=fill,
            means=means,
            scales=scales,
            categories=tuple(categories),
            output_index=tuple(output_index),
            columns=tuple(columns),
        )

    @property
    def width(self) -> int:
        return len(self.columns)

    def category_codes(self, series: pd.Series, i: int) -> np.ndarray:
        """Index of each value in the i-th feature's training categories; -1 if unseen."""
        text = pc.fill_null(string_array(series), MISSING_CATEGORY)
        value_set = pa.array(self.categories[i].tolist(), type=pa.large_string())
        codes = pc.index_in(text, value_set=value_set)
        return pc.fill_null(codes, -1).to_numpy(zero_copy_only=False).astype(np.int64)

    def transform(self, frame: pd.DataFrame, spec: ModelSpec) -> np.ndarray:
        """The design matrix (float64, rows x ``width``) of a raw feature frame."""
        n = len(frame)
        out = np.zeros((n, self.width), dtype=np.float64)
        k = len(self.numeric_features)
        if k:
            numeric = np.column_stack(
                [_numeric_values(frame, c, spec) for c in self.numeric_features]
            )
            missing = np.isnan(numeric)
            if missing.any():
                numeric[missing] = np.take(self.fill_values, np.nonzero(missing)[1])
            numeric -= self.means
            numeric /= self.scales
            out[:, :k] = numeric
        rows = np.arange(n)
        for i, feature in enumerate(self.categorical_features):
            codes = self.category_codes(frame[feature], i)
            target = np.append(self.output_index[i], -1)[codes]
            hit = target >= 0
            out[rows[hit], target[hit]] = 1.0
        return out
