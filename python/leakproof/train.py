"""Train, calibrate, threshold and score binary conversion / propensity classifiers.

Two calls serve the dbt Python models:

- ``train(frame, spec)`` cross-validates every model family x imbalance treatment on the training
  rows, calibrates, picks thresholds, fits the chosen candidates, saves them (sha256-registered)
  and returns every table (registry, comparison, threshold sweep, scores, importance,
  coefficients).
- ``score(frame, registry_row)`` loads the registered model after verifying its sha256 and scores a
  frame without retraining; ``predict_proba_frame`` is the fast path for millions of rows.

The input frame has one row per entity with its id column(s), the features, the target and a
``split`` column ('train' | 'test' | 'score'); only 'train' rows are ever used to fit, select,
calibrate or choose a threshold. 'test' rows are scored and reported, never looked at for choices.

How a model is built, in order (all seeded; no wall-clock or thread-order dependence):

1. Folds: stratified K-fold (K = ``n_folds``, lowered to the minority-class count when that is
   smaller); stratified *group* K-fold when ``cv_group_column`` is set (e.g. one account over
   several B2B waves stays in one fold); or the folds given by ``cv_fold_column`` (e.g. the
   feature mart's ``cv_fold``, so the CV matches the folds its out-of-fold encodings used).
2. Candidates: each family ('xgboost', 'logistic') x each imbalance treatment ('none',
   'class_weight', 'smote') is an imblearn Pipeline ``prep -> [SMOTE] -> model``, so imputation,
   scaling, encoding and SMOTE are fitted on training-fold rows only, and validation rows are never
   resampled (the fitted ``prep`` of a fold, and of the final fit, is shared by the three
   treatments; so is XGBoost's quantile sketch of the real rows, see ``fit_treatments``). Per
   family, the candidate with the highest mean fold AUC is chosen; ties go to the lower fold-AUC
   sd, then to the earlier treatment in ``imbalance_treatments`` (the simpler one).
3. Calibration: Platt ('sigmoid') vs isotonic, compared by the Brier score of *cross-fitted*
   calibration of the out-of-fold (OOF) scores (calibrator fitted on the other folds' OOF scores);
   ties go to the earlier method. The chosen calibrator is then fitted on all OOF scores, never on
   in-sample predictions. Raw and calibrated probabilities are both kept.
4. Thresholds: the sweep grid (default: the marketing document's 60 thresholds 0.01-0.60) over the
   cross-fitted calibrated OOF probabilities of the training rows; F1-optimal and cost-optimal
   (max ``conversion_value * tp - contact_cost * (tp + fp)``), lowest threshold on ties. The
   model's ``threshold`` is the one named by ``threshold_objective``. Test rows only report.
5. Final fit: the chosen pipeline refitted on all training rows.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import xgboost
from imblearn.over_sampling import SMOTE
from imblearn.pipeline import Pipeline as ImbPipeline
from joblib import Parallel, delayed
from scipy.special import expit, log_expit
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits
from xgboost import XGBClassifier

from leakproof import artifacts, explain

FAMILIES = ("xgboost", "logistic")
ALGORITHMS = {"xgboost": "xgboost", "logistic": "logistic_l2"}
TREATMENTS = ("none", "class_weight", "smote")
CALIBRATION_METHODS = ("sigmoid", "isotonic")
THRESHOLD_OBJECTIVES = ("f1", "cost")
MODEL_SELECTIONS = ("primary_family", "best_cv_auc")
SPLITS = ("train", "test", "score")
MISSING_CATEGORY = "(missing)"
# The marketing document's sweep: 60 thresholds, 0.01 to 0.60 in steps of 0.01 (exact decimals).
DEFAULT_THRESHOLD_GRID = tuple(round(0.01 * step, 2) for step in range(1, 61))
# Histogram trees, one thread per fit (fits run in parallel instead: no OpenMP spinning on a busy
# 2-core machine). Depth 3 x 100 trees at 0.05 beat depth 4 x 150-200 trees in 5-fold CV on the
# generated 48K-customer marketing data (AUC 0.72 vs 0.68-0.70: a weak signal overfits quickly)
# and cost ~0.6 s CPU per fit on 30K rows x 81 columns.
DEFAULT_XGBOOST_PARAMS: dict[str, Any] = {
    "n_estimators": 100,
    "max_depth": 3,
    "learning_rate": 0.05,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "min_child_weight": 1.0,
    "reg_lambda": 1.0,
    "max_bin": 64,
    "tree_method": "hist",
    "n_jobs": 1,
}
SCORE_CHUNK_ROWS = 131_072


class TrainingDataError(ValueError):
    """The input frame cannot be trained on or scored; the message names the column and rows."""


# --------------------------------------------------------------------------------------------
# Specification
# --------------------------------------------------------------------------------------------


def _as_tuple(value: Any) -> tuple:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


@dataclass(frozen=True)
class ModelSpec:
    """Everything that defines how one use case's models are trained and scored.

    - Data: ``id_columns`` (unique within a split), ``target`` (0/1), ``split_column``,
      ``numeric_features`` / ``categorical_features``; folds from ``cv_fold_column`` or grouped by
      ``cv_group_column`` when set.
    - Models: ``families`` all trained; ``primary_family`` is the model of record unless
      ``model_selection='best_cv_auc'``; ``imbalance_treatments`` compared by CV; ``xgboost_params``
      (merged over ``DEFAULT_XGBOOST_PARAMS``) and ``logistic_c`` (L2).
    - Decisions: ``calibration_methods``; ``threshold_grid``; ``threshold_objective`` ('f1' or
      'cost', using ``contact_cost`` per contact and ``conversion_value`` per conversion).
    - Scale: ``max_training_rows`` caps the rows a model is fitted on (a seeded sample of the
      training split beyond it, ``training_sample``; null = no cap); ``explain_max_rows`` caps
      the training rows behind mean |SHAP| in the importance table (a seeded sample beyond it).
    - Running: ``seed``; ``n_jobs`` threads (never changes a result); ``artifact_dir``.
    """

    use_case: str
    id_columns: tuple[str, ...]
    target: str
    numeric_features: tuple[str, ...] = ()
    categorical_features: tuple[str, ...] = ()
    split_column: str = "split"
    primary_family: str = "xgboost"
    families: tuple[str, ...] = FAMILIES
    model_selection: str = "primary_family"
    seed: int = 42
    n_folds: int = 5
    cv_group_column: str | None = None
    cv_fold_column: str | None = None
    imbalance_treatments: tuple[str, ...] = TREATMENTS
    smote_k_neighbors: int = 5
    calibration_methods: tuple[str, ...] = CALIBRATION_METHODS
    threshold_grid: tuple[float, ...] = DEFAULT_THRESHOLD_GRID
    threshold_objective: str = "f1"
    contact_cost: float = 1.0
    conversion_value: float = 50.0
    artifact_dir: str = "artifacts"
    xgboost_params: Mapping[str, Any] = field(default_factory=dict)
    logistic_c: float = 1.0
    logistic_max_iter: int = 100
    n_reason_codes: int = 3
    max_training_rows: int | None = 200_000
    explain_max_rows: int = 50_000
    n_jobs: int = 2

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        for name in (
            "id_columns",
            "numeric_features",
            "categorical_features",
            "families",
            "imbalance_treatments",
            "calibration_methods",
        ):
            set_(self, name, tuple(str(v) for v in _as_tuple(getattr(self, name))))
        set_(self, "threshold_grid", tuple(float(t) for t in self.threshold_grid))
        set_(self, "xgboost_params", {**DEFAULT_XGBOOST_PARAMS, **dict(self.xgboost_params)})
        set_(self, "artifact_dir", str(self.artifact_dir))
        self._validate()

    def _validate(self) -> None:
        problems: list[str] = []
        if not self.id_columns:
            problems.append("id_columns is empty")
        if not self.features:
            problems.append("no numeric_features or categorical_features")
        duplicated = sorted({c for c in self.features if self.features.count(c) > 1})
        if duplicated:
            problems.append(f"features listed twice: {duplicated}")
        reserved = {self.target, self.split_column, *self.id_columns}
        reserved.update(c for c in (self.cv_group_column, self.cv_fold_column) if c)
        clash = sorted(reserved.intersection(self.features))
        if clash:
            problems.append(f"id/target/split/group columns used as features: {clash}")
        if not self.families or set(self.families) - set(FAMILIES):
            problems.append(f"families must be a non-empty subset of {FAMILIES}")
        if self.primary_family not in self.families:
            problems.append(f"primary_family {self.primary_family!r} not in {self.families}")
        if self.model_selection not in MODEL_SELECTIONS:
            problems.append(f"model_selection must be one of {MODEL_SELECTIONS}")
        if not self.imbalance_treatments or set(self.imbalance_treatments) - set(TREATMENTS):
            problems.append(f"imbalance_treatments must be a non-empty subset of {TREATMENTS}")
        if not self.calibration_methods or set(self.calibration_methods) - set(CALIBRATION_METHODS):
            problems.append(
                f"calibration_methods must be a non-empty subset of {CALIBRATION_METHODS}"
            )
        if self.threshold_objective not in THRESHOLD_OBJECTIVES:
            problems.append(f"threshold_objective must be one of {THRESHOLD_OBJECTIVES}")
        grid = self.threshold_grid
        if not grid or any(not 0.0 < t < 1.0 for t in grid) or list(grid) != sorted(set(grid)):
            problems.append("threshold_grid must be strictly increasing values in (0, 1)")
        if self.n_folds < 2:
            problems.append("n_folds must be at least 2")
        if self.smote_k_neighbors < 1:
            problems.append("smote_k_neighbors must be at least 1")
        if not (self.contact_cost >= 0 and self.conversion_value > 0):
            problems.append("contact_cost must be >= 0 and conversion_value > 0")
        if self.n_jobs < 1:
            problems.append("n_jobs must be at least 1")
        if self.n_reason_codes < 1:
            problems.append("n_reason_codes must be at least 1")
        if self.max_training_rows is not None and self.max_training_rows < 100:
            problems.append("max_training_rows must be at least 100 (or null: no cap)")
        if self.explain_max_rows < 1:
            problems.append("explain_max_rows must be at least 1")
        if problems:
            raise ValueError(f"invalid ModelSpec for {self.use_case!r}: " + "; ".join(problems))

    @property
    def features(self) -> tuple[str, ...]:
        """Numeric then categorical features: the order of every per-feature output."""
        return self.numeric_features + self.categorical_features

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples as lists)."""
        out = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ModelSpec:
        """Build from a mapping (e.g. dbt vars); unknown keys are an error, not ignored."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown ModelSpec keys: {unknown}; known keys: {sorted(known)}")
        return cls(**dict(values))

    def model_defining(self) -> dict[str, Any]:
        """The fields that change a trained model (not where it is stored, nor thread counts)."""
        out = self.to_dict()
        out.pop("artifact_dir")
        out.pop("n_jobs")
        out["xgboost_params"] = {
            k: v for k, v in out["xgboost_params"].items() if k not in ("n_jobs", "nthread")
        }
        return out


# --------------------------------------------------------------------------------------------
# Input validation and preparation
# --------------------------------------------------------------------------------------------


def _examples(frame: pd.DataFrame, mask: np.ndarray, spec: ModelSpec, limit: int = 5) -> str:
    """A short description of the first offending rows: by id, or by index without ids."""
    mask = np.asarray(mask, dtype=bool)
    keys = [c for c in spec.id_columns if c in frame.columns]
    if keys:
        rows = frame.loc[mask, keys].head(limit)
        shown = [
            ", ".join(f"{c}={v}" for c, v in zip(keys, r, strict=True))
            for r in rows.itertuples(index=False)
        ]
    else:
        shown = [f"index={i}" for i in frame.index[mask][:limit]]
    return f"{int(mask.sum())} row(s), e.g. " + "; ".join(f"({i})" for i in shown)


def _require_columns(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise TrainingDataError(f"{what}: missing column(s) {missing}; found {list(frame.columns)}")


def string_array(series: pd.Series) -> pa.Array:
    """A column as an Arrow large_string array with nulls (the one way categories are spelt).

    Numbers become their shortest decimal text (1 -> '1', 2.5 -> '2.5'), booleans 'true'/'false'.
    Used by training, scoring and hashing alike, so a category is spelt the same everywhere.
    """
    try:
        array = pa.array(series, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        array = pa.array(series.astype("string"), from_pandas=True)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if not pa.types.is_large_string(array.type):
        array = array.cast(pa.large_string())
    return array


def _numeric_values(frame: pd.DataFrame, column: str, spec: ModelSpec) -> np.ndarray:
    """A numeric feature as float64 with NaN for missing; text or infinities are an error."""
    series = frame[column]
    if pd.api.types.is_bool_dtype(series.dtype):
        series = series.astype("Float64")
    values = pd.to_numeric(series, errors="coerce")
    out = values.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.isnan(out) & series.notna().to_numpy()
    if bad.any():
        raise TrainingDataError(
            f"numeric feature {column!r} has non-numeric values in " + _examples(frame, bad, spec)
        )
    if np.isinf(out).any():
        raise TrainingDataError(
            f"numeric feature {column!r} has infinite values in "
            + _examples(frame, np.isinf(out), spec)
        )
    return out


def design_frame(frame: pd.DataFrame, spec: ModelSpec) -> pd.DataFrame:
    """The features as the pipelines see them: float64 numerics, text categories.

    A missing category becomes the category ``'(missing)'`` (a value like any other).
    """
    _require_columns(frame, spec.features, f"use case {spec.use_case!r} features")
    data: dict[str, Any] = {c: _numeric_values(frame, c, spec) for c in spec.numeric_features}
    for column in spec.categorical_features:
        filled = pc.fill_null(string_array(frame[column]), MISSING_CATEGORY)
        data[column] = filled.to_numpy(zero_copy_only=False)
    return pd.DataFrame(data, index=frame.index)


def _split_labels(frame: pd.DataFrame, spec: ModelSpec) -> np.ndarray:
    if spec.split_column not in frame.columns:
        return np.full(len(frame), "score", dtype=object)
    values = pc.fill_null(string_array(frame[spec.split_column]), "").to_numpy(zero_copy_only=False)
    bad = ~np.isin(values, SPLITS)
    if bad.any():
        raise TrainingDataError(
            f"column {spec.split_column!r} must be one of {SPLITS}; other values in "
            + _examples(frame, bad, spec)
        )
    return values


def _labels(frame: pd.DataFrame, spec: ModelSpec, required: np.ndarray) -> np.ndarray:
    """The target as int8 (0/1), -1 where absent; required rows must be 0 or 1."""
    if spec.target not in frame.columns:
        if required.any():
            raise TrainingDataError(f"target column {spec.target!r} is missing")
        return np.full(len(frame), -1, dtype=np.int8)
    series = frame[spec.target]
    if pd.api.types.is_bool_dtype(series.dtype):
        series = series.astype("Float64")
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    valid = (values == 0) | (values == 1)
    bad = required & ~valid
    if bad.any():
        raise TrainingDataError(
            f"target {spec.target!r} must be 0 or 1 on train/test rows; missing or other values "
            "in " + _examples(frame, bad, spec)
        )
    return np.where(valid, values, -1).astype(np.int8)


def _check_unique_ids(frame: pd.DataFrame, splits: np.ndarray, spec: ModelSpec) -> None:
    keys = frame[list(spec.id_columns)].assign(_split=splits)
    duplicated = keys.duplicated(keep=False).to_numpy()
    if duplicated.any():
        raise TrainingDataError(
            f"id column(s) {list(spec.id_columns)} are not unique within a split: "
            + _examples(frame, duplicated, spec)
        )


def _id_text(frame: pd.DataFrame, spec: ModelSpec) -> pd.DataFrame:
    return pd.DataFrame(
        {
            c: pc.fill_null(string_array(frame[c]), "\x00").to_numpy(zero_copy_only=False)
            for c in spec.id_columns
        },
        index=frame.index,
    )


def training_data_sha256(frame: pd.DataFrame, spec: ModelSpec) -> str:
    """sha256 of the canonical training frame: 'train' rows, ids + features + target, by id.

    Canonical means independent of row order, column order beyond the spec, pandas dtypes
    (int vs float vs nullable) and string storage: numerics as little-endian float64 (one NaN,
    no negative zero), everything else as UTF-8 text.
    """
    splits = _split_labels(frame, spec)
    train = frame.loc[splits == "train"].reset_index(drop=True)
    ids = _id_text(train, spec)
    order = ids.sort_values(list(spec.id_columns), kind="mergesort").index.to_numpy()
    train, ids = train.iloc[order], ids.iloc[order]
    digest = hashlib.sha256()
    digest.update(f"rows={len(train)}\n".encode())

    def add_text(name: str, values: np.ndarray) -> None:
        digest.update(f"{name}:text\n".encode())
        digest.update("\x1f".join(values.tolist()).encode("utf-8"))
        digest.update(b"\n")

    for column in spec.id_columns:
        add_text(column, ids[column].to_numpy())
    for column in spec.numeric_features:
        values = _numeric_values(train, column, spec) + 0.0  # -0.0 -> 0.0
        values[np.isnan(values)] = np.nan
        digest.update(f"{column}:float64\n".encode())
        digest.update(values.astype("<f8").tobytes())
        digest.update(b"\n")
    for column in spec.categorical_features:
        add_text(column, pc.fill_null(string_array(train[column]), "\x00").to_numpy(False))
    labels = _labels(train, spec, np.ones(len(train), dtype=bool))
    digest.update(f"{spec.target}:int8\n".encode())
    digest.update(labels.tobytes())
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------
# Preprocessing: the ColumnTransformer (fitted in the pipelines) and its compiled fast path
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Models, margins and calibration
# --------------------------------------------------------------------------------------------


def _family_params(family: str, spec: ModelSpec) -> dict[str, Any]:
    if family == "xgboost":
        return {
            **dict(spec.xgboost_params),
            "objective": "binary:logistic",
            "random_state": spec.seed,
        }
    # Newton-Cholesky: exact Newton steps, converges in ~10 iterations on these shapes (many
    # rows, tens of columns) where lbfgs at its default tolerance stops far from the optimum.
    return {
        "C": spec.logistic_c,
        "l1_ratio": 0.0,
        "solver": "newton-cholesky",
        "tol": 1e-6,
        "max_iter": spec.logistic_max_iter,
    }


def _estimator_params(
    family: str, treatment: str, spec: ModelSpec, y_fit: np.ndarray
) -> dict[str, Any]:
    """The estimator's parameters; class weights derive from the rows it is fitted on."""
    params = _family_params(family, spec)
    if treatment == "class_weight":
        if family == "xgboost":
            positives = int(y_fit.sum())
            params["scale_pos_weight"] = (len(y_fit) - positives) / max(positives, 1)
        else:
            params["class_weight"] = "balanced"
    return params


def _estimator(family: str, treatment: str, spec: ModelSpec, y_fit: np.ndarray) -> Any:
    params = _estimator_params(family, treatment, spec, y_fit)
    return XGBClassifier(**params) if family == "xgboost" else LogisticRegression(**params)


def _resampling_model(
    family: str, treatment: str, spec: ModelSpec, y_fit: np.ndarray, smote_k: int | None
) -> ImbPipeline:
    """``[SMOTE ->] model``: the part of a pipeline that follows preprocessing."""
    steps: list[tuple[str, Any]] = []
    if treatment == "smote":
        steps.append(("smote", SMOTE(k_neighbors=smote_k, random_state=spec.seed)))
    steps.append(("model", _estimator(family, treatment, spec, y_fit)))
    return ImbPipeline(steps)


def _fit_xgboost(model: XGBClassifier, matrix: xgboost.QuantileDMatrix) -> None:
    """Fit an (unfitted) XGBClassifier on a prepared quantile matrix: exactly what
    ``model.fit(X, y)`` does with the matrix it would build from X itself (the tests check it
    bit for bit), but the matrix - the quantile sketch, half of a fit's cost - can be shared."""
    booster = xgboost.train(model.get_xgb_params(), matrix, model.get_num_boosting_rounds())
    model.load_model(booster.save_raw(raw_format="ubj"))


def _quantile_matrix(
    model: XGBClassifier,
    design: np.ndarray,
    y: np.ndarray,
    ref: xgboost.QuantileDMatrix | None = None,
) -> xgboost.QuantileDMatrix:
    """The matrix ``XGBClassifier.fit`` builds from (design, y); with ``ref``, its bin cuts."""
    return xgboost.QuantileDMatrix(
        design, label=y, missing=model.missing, nthread=model.n_jobs, max_bin=model.max_bin, ref=ref
    )


def fit_treatments(
    family: str,
    candidates: Sequence[Candidate],
    spec: ModelSpec,
    design: np.ndarray,
    y: np.ndarray,
) -> list[ImbPipeline]:
    """Each candidate's ``[SMOTE ->] model`` fitted on one preprocessed design (a fold's training
    rows, or all training rows for the final fit). SMOTE resamples these rows only.

    XGBoost: the treatments share one quantile sketch of the real rows. 'none' and
    'class_weight' are fitted on the same matrix (``scale_pos_weight`` does not change it), and
    SMOTE's synthetic rows are binned with the real rows' cuts (``ref``), so bin edges never
    come from interpolated rows and the sketch is not recomputed on twice the rows.
    """
    fitted = []
    shared: xgboost.QuantileDMatrix | None = None
    for candidate in candidates:
        tail = _resampling_model(family, candidate.treatment, spec, y, candidate.smote_k)
        if family != "xgboost":
            fitted.append(tail.fit(design, y))
            continue
        model = tail.named_steps["model"]
        if shared is None:
            shared = _quantile_matrix(model, design, y)
        matrix = shared
        if "smote" in tail.named_steps:
            rows, labels = tail.named_steps["smote"].fit_resample(design, y)
            matrix = _quantile_matrix(model, rows, labels, ref=shared)
        _fit_xgboost(model, matrix)
        fitted.append(tail)
    return fitted


def model_margin(estimator: Any, design: np.ndarray) -> np.ndarray:
    """The model's raw log-odds (uncalibrated logit) for a design matrix, as float64.

    Row-wise and independent of how many rows are scored together (bit for bit): XGBoost's own
    margin, and for the logistic model an ``einsum`` dot product per row (BLAS ``gemv``, which
    ``decision_function`` uses, can round a row differently depending on the batch it is in).
    """
    if isinstance(estimator, XGBClassifier):
        booster = estimator.get_booster()
        margin = booster.inplace_predict(design, predict_type="margin", validate_features=False)
        return np.asarray(margin, dtype=np.float64)
    coefficients = np.asarray(estimator.coef_[0], dtype=np.float64)
    return np.einsum("ij,j->i", design, coefficients) + float(estimator.intercept_[0])


@dataclass(frozen=True)
class Calibrator:
    """Maps a raw logit to a calibrated probability (Platt: ``expit(a*logit + b)``; isotonic)."""

    method: str
    slope: float = 1.0
    intercept: float = 0.0
    isotonic: IsotonicRegression | None = None

    def predict(self, margin: np.ndarray) -> np.ndarray:
        margin = np.asarray(margin, dtype=np.float64)
        if self.method == "sigmoid":
            return expit(self.slope * margin + self.intercept)
        if not len(margin):
            return np.zeros(0)
        return np.asarray(self.isotonic.predict(margin), dtype=np.float64)


def _platt(margin: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt scaling: ``p = expit(a * logit + b)`` by Newton's method with backtracking.

    Uses Platt's smoothed targets, so perfectly separated scores give a finite slope
    (Lin, Lin & Weng 2007, "A note on Platt's probabilistic outputs").
    """
    positives = float(y.sum())
    negatives = float(len(y) - positives)
    target = np.where(y == 1, (positives + 1.0) / (positives + 2.0), 1.0 / (negatives + 2.0))

    def loss(a: float, b: float) -> float:
        z = a * margin + b
        return float(-np.sum(target * log_expit(z) + (1.0 - target) * log_expit(-z)))

    a, b = 1.0, math.log((positives + 1.0) / (negatives + 1.0))
    value = loss(a, b)
    for _ in range(100):
        p = expit(a * margin + b)
        residual = p - target
        g_a, g_b = float(np.dot(residual, margin)), float(residual.sum())
        if abs(g_a) < 1e-9 * len(y) and abs(g_b) < 1e-9 * len(y):
            break
        w = p * (1.0 - p)
        h_aa = float(np.dot(w, margin * margin)) + 1e-12
        h_ab = float(np.dot(w, margin))
        h_bb = float(w.sum()) + 1e-12
        det = h_aa * h_bb - h_ab * h_ab
        d_a = -(h_bb * g_a - h_ab * g_b) / det
        d_b = -(h_aa * g_b - h_ab * g_a) / det
        slope = g_a * d_a + g_b * d_b
        step = 1.0
        while step >= 1e-10:
            new_a, new_b = a + step * d_a, b + step * d_b
            new_value = loss(new_a, new_b)
            if new_value <= value + 1e-4 * step * slope:
                break
            step /= 2.0
        else:
            break
        a, b, value = new_a, new_b, new_value
    return a, b


def fit_calibrator(method: str, margin: np.ndarray, y: np.ndarray) -> Calibrator:
    """Fit a calibrator on (out-of-fold) raw logits and their labels."""
    if method == "sigmoid":
        slope, intercept = _platt(margin, y)
        return Calibrator("sigmoid", slope=slope, intercept=intercept)
    isotonic = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0, increasing=True)
    isotonic.fit(margin, y.astype(np.float64))
    return Calibrator("isotonic", isotonic=isotonic)


# --------------------------------------------------------------------------------------------
# Metrics, folds and thresholds
# --------------------------------------------------------------------------------------------


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    return float(roc_auc_score(y, score)) if len(np.unique(y)) == 2 else math.nan


def _pr_auc(y: np.ndarray, score: np.ndarray) -> float:
    return float(average_precision_score(y, score)) if len(np.unique(y)) == 2 else math.nan


def _brier(y: np.ndarray, probability: np.ndarray) -> float:
    return float(brier_score_loss(y, probability)) if len(y) else math.nan


def _f1_at(y: np.ndarray, probability: np.ndarray, threshold: float) -> float:
    if not len(y):
        return math.nan
    predicted = probability >= threshold
    tp = int(np.sum(predicted & (y == 1)))
    denominator = int(predicted.sum() + y.sum())
    return 2.0 * tp / denominator if denominator else 0.0


def _hash_key(seed: int) -> str:
    """pandas' row hash takes a 16-character key; one per seed."""
    return f"leakproof{abs(int(seed)) % 10**7:07d}"


def training_sample(
    train: pd.DataFrame, y: np.ndarray, spec: ModelSpec, cap: int | None = None
) -> np.ndarray:
    """Positions (ascending) of the training rows a model is fitted on.

    Every row up to ``cap`` (default ``spec.max_training_rows``). Beyond it, a seeded sample of
    that size: within
    each class the rows with the smallest seeded hash of their id (so the class balance is kept
    to a row), or whole groups in hash order when ``cv_group_column`` is set (an account's waves
    stay together). It depends on the ids and the seed only - not on row order - so two builds on
    the same data fit the same rows. Why a cap: the fit time of the CV grid grows with the rows
    while the held-out AUC stops improving long before millions of rows (README, Benchmark);
    every row is still scored and every test row still evaluated.
    """
    n = len(y)
    cap = spec.max_training_rows if cap is None else cap
    if cap is None or n <= cap:
        return np.arange(n)
    key = _hash_key(spec.seed)
    if spec.cv_group_column:
        _require_columns(train, [spec.cv_group_column], "cv_group_column")
        group = pd.Series(
            pc.fill_null(string_array(train[spec.cv_group_column]), "").to_numpy(False)
        )
        codes, uniques = pd.factorize(group, sort=False)
        group_hash = pd.util.hash_pandas_object(
            pd.Series(uniques), index=False, hash_key=key
        ).to_numpy()
        order = np.argsort(group_hash, kind="stable")
        sizes = np.bincount(codes, minlength=len(uniques))[order]
        kept = order[: int(np.searchsorted(np.cumsum(sizes), cap, side="right"))]
        return np.flatnonzero(np.isin(codes, kept))
    row_hash = pd.util.hash_pandas_object(
        _id_text(train, spec), index=False, hash_key=key
    ).to_numpy()
    keep = np.zeros(n, dtype=bool)
    for label in (0, 1):
        members = np.flatnonzero(y == label)
        quota = max(min(len(members), 2), round(len(members) * cap / n))
        keep[members[np.argsort(row_hash[members], kind="stable")[:quota]]] = True
    return np.flatnonzero(keep)


def make_folds(
    y: np.ndarray, groups: np.ndarray | None, n_folds: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Seeded stratified (group) K-fold; K shrinks to the minority-class or group count."""
    minority = int(min(np.sum(y == 0), np.sum(y == 1)))
    if minority < 2:
        raise TrainingDataError(
            f"training rows need at least 2 of each class for cross-validation; found "
            f"{int(np.sum(y == 1))} positive and {int(np.sum(y == 0))} negative"
        )
    k = min(n_folds, minority)
    if groups is None:
        return list(StratifiedKFold(k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))
    return _stratified_group_folds(y, groups, k, seed)


def _stratified_group_folds(
    y: np.ndarray, groups: np.ndarray, k: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Group K-fold stratified by each group's positive share, vectorised.

    Groups are ordered by their positive share, then their size, then a seeded hash of their
    id, and dealt to the folds in turn, so every fold gets groups from across the range of
    outcome rates and sizes. Depends on the ids and the seed, not on row order; O(G log G)
    where sklearn's StratifiedGroupKFold loops over the groups in Python (minutes at 100K+
    accounts).
    """
    codes, uniques = pd.factorize(pd.Series(groups), sort=False)
    k = min(k, len(uniques))
    size = np.bincount(codes, minlength=len(uniques))
    share = np.bincount(codes, weights=y, minlength=len(uniques)) / size
    tie = pd.util.hash_pandas_object(
        pd.Series(uniques), index=False, hash_key=_hash_key(seed)
    ).to_numpy()
    order = np.lexsort((tie, size, share))
    fold_of_group = np.empty(len(uniques), dtype=np.int64)
    fold_of_group[order] = np.arange(len(uniques)) % k
    fold = fold_of_group[codes]
    positions = np.arange(len(y))
    return [(positions[fold != f], positions[fold == f]) for f in range(k)]


def _training_folds(
    train: pd.DataFrame, y: np.ndarray, spec: ModelSpec
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The CV folds of the training rows: given by a column, grouped, or stratified."""
    if spec.cv_fold_column:
        _require_columns(train, [spec.cv_fold_column], "cv_fold_column")
        fold = train[spec.cv_fold_column]
        if fold.isna().any():
            raise TrainingDataError(
                f"cv_fold_column {spec.cv_fold_column!r} is null on training rows: "
                + _examples(train, fold.isna().to_numpy(), spec)
            )
        values = fold.to_numpy()
        labels = np.unique(values)
        if len(labels) < 2:
            raise TrainingDataError(f"cv_fold_column {spec.cv_fold_column!r} has one fold")
        positions = np.arange(len(values))
        return [(positions[values != k], positions[values == k]) for k in labels]
    groups = None
    if spec.cv_group_column:
        _require_columns(train, [spec.cv_group_column], "cv_group_column")
        groups = pc.fill_null(string_array(train[spec.cv_group_column]), "")
        groups = groups.to_numpy(zero_copy_only=False)
    return make_folds(y, groups, spec.n_folds, spec.seed)


def threshold_sweep(
    y_true: np.ndarray,
    probability: np.ndarray,
    grid: Sequence[float],
    *,
    contact_cost: float,
    conversion_value: float,
) -> pd.DataFrame:
    """Confusion counts and metrics at each threshold (a row is positive when p >= threshold).

    ``expected_value = conversion_value * tp - contact_cost * (tp + fp)``: contact everyone
    predicted positive, earn the value of each conversion among them. ``expected_cost`` is its
    negative (net cost of the campaign). Precision, recall and F1 are 0 where undefined.
    """
    y = np.asarray(y_true) == 1
    p = np.asarray(probability, dtype=np.float64)
    thresholds = np.asarray(grid, dtype=np.float64)
    predicted = p[:, None] >= thresholds[None, :]
    tp = (predicted & y[:, None]).sum(axis=0)
    flagged = predicted.sum(axis=0)
    fp = flagged - tp
    fn = int(y.sum()) - tp
    tn = len(y) - tp - fp - fn

    def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
        return np.divide(num, den, out=np.zeros(len(thresholds)), where=den > 0)

    value = conversion_value * tp - contact_cost * flagged
    return pd.DataFrame(
        {
            "threshold": thresholds,
            "n_rows": len(y),
            "tp": tp.astype(np.int64),
            "fp": fp.astype(np.int64),
            "tn": tn.astype(np.int64),
            "fn": fn.astype(np.int64),
            "precision": ratio(tp, tp + fp),
            "recall": ratio(tp, tp + fn),
            "f1": ratio(2.0 * tp, 2.0 * tp + fp + fn),
            "expected_value": value.astype(np.float64),
            "expected_cost": (contact_cost * flagged - conversion_value * tp).astype(np.float64),
        }
    )


def choose_thresholds(sweep: pd.DataFrame) -> dict[str, float]:
    """F1-optimal and cost-optimal thresholds of a sweep (lowest threshold on ties)."""
    f1 = sweep["f1"].to_numpy()
    value = sweep["expected_value"].to_numpy()
    thresholds = sweep["threshold"].to_numpy()
    return {
        "f1": float(thresholds[int(np.argmax(f1))]),
        "cost": float(thresholds[int(np.argmax(value))]),
    }


# --------------------------------------------------------------------------------------------
# Candidates
# --------------------------------------------------------------------------------------------


@dataclass
class Candidate:
    """One family x imbalance treatment, cross-validated (and refitted unless skipped)."""

    family: str
    treatment: str
    status: str = "ok"
    status_reason: str | None = None
    smote_k: int | None = None
    fold_log: list[dict[str, Any]] = field(default_factory=list)
    oof_margin: np.ndarray | None = None
    oof_calibrated: np.ndarray | None = None
    calibration_brier: dict[str, float] = field(default_factory=dict)
    calibrator: Calibrator | None = None
    thresholds: dict[str, float] = field(default_factory=dict)
    threshold: float = math.nan
    pipeline: ImbPipeline | None = None
    test_margin: np.ndarray | None = None
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def algorithm(self) -> str:
        return ALGORITHMS[self.family]


def _smote_k(spec: ModelSpec, y: np.ndarray, folds: list) -> tuple[int | None, str | None]:
    """k_neighbors for SMOTE, lowered to fit the smallest minority class of any fitting set."""
    counts = [np.bincount(y[train], minlength=2) for train, _ in folds]
    counts.append(np.bincount(y, minlength=2))
    smallest = int(min(c.min() for c in counts))
    k = min(spec.smote_k_neighbors, smallest - 1)
    if k < 1:
        return None, (
            f"skipped: a training fold has only {smallest} minority-class row(s); "
            "SMOTE needs at least 2"
        )
    if k < spec.smote_k_neighbors:
        return k, (
            f"k_neighbors lowered from {spec.smote_k_neighbors} to {k}: the smallest training "
            f"fold has {smallest} minority-class rows"
        )
    return k, None


def _synthetic_rows(pipeline: ImbPipeline) -> int:
    if "smote" not in pipeline.named_steps:
        return 0
    return int(sum(pipeline.named_steps["smote"].sampling_strategy_.values()))


def _cross_validate_fold(
    family: str,
    candidates: Sequence[Candidate],
    spec: ModelSpec,
    x_fit: pd.DataFrame,
    y_fit: np.ndarray,
    x_valid: pd.DataFrame,
) -> list[tuple[np.ndarray, int]]:
    """One fold of one family, for each of its candidates: (validation logits, synthetic rows).

    The preprocessor is fitted once on the fold's training rows and shared by the treatments
    (it does not depend on them); each treatment's ``[SMOTE ->] model`` is then fitted on those
    rows only. Validation rows are transformed and predicted, never resampled.
    """
    preprocessor = make_preprocessor(family, spec)
    design_fit = preprocessor.fit_transform(x_fit)
    # The compiled encoder: the same numbers, faster, and an unseen category is all zeros
    # without the warning sklearn raises (warning filters are process-wide, not per thread).
    design_valid = DesignEncoder.from_preprocessor(preprocessor, spec).transform(x_valid, spec)
    tails = fit_treatments(family, candidates, spec, design_fit, y_fit)
    return [
        (model_margin(tail.named_steps["model"], design_valid), _synthetic_rows(tail))
        for tail in tails
    ]


def _final_fit(
    family: str,
    candidates: Sequence[Candidate],
    spec: ModelSpec,
    x_train: pd.DataFrame,
    y_train: np.ndarray,
    x_test: pd.DataFrame,
) -> list[tuple[ImbPipeline, np.ndarray]]:
    """Each candidate's full pipeline ``prep -> [SMOTE ->] model`` fitted on all training rows
    (one preprocessor, shared: it does not depend on the treatment), and its test logits
    (through the compiled encoder, in chunks: the test split can have millions of rows)."""
    preprocessor = make_preprocessor(family, spec)
    design = preprocessor.fit_transform(x_train)
    tails = fit_treatments(family, candidates, spec, design, y_train)
    del design
    encoder = DesignEncoder.from_preprocessor(preprocessor, spec)
    margins: list[list[np.ndarray]] = [[] for _ in tails]
    for start in range(0, len(x_test), SCORE_CHUNK_ROWS):
        chunk = encoder.transform(x_test.iloc[start : start + SCORE_CHUNK_ROWS], spec)
        for out, tail in zip(margins, tails, strict=True):
            out.append(model_margin(tail.named_steps["model"], chunk))
    return [
        (
            ImbPipeline([("prep", preprocessor), *tail.steps]),
            np.concatenate(out) if out else np.zeros(0),
        )
        for tail, out in zip(tails, margins, strict=True)
    ]


def evaluate_candidates(
    spec: ModelSpec,
    x_train: pd.DataFrame,
    y_train: np.ndarray,
    x_test: pd.DataFrame,
    y_test: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
) -> list[Candidate]:
    """Cross-validate, calibrate, choose thresholds for and refit every candidate.

    The fits (one task per family x fold, one per family's final fits) are independent, seeded
    tasks run on ``spec.n_jobs`` threads, with XGBoost and BLAS single-threaded inside each;
    results are gathered in task order, so nothing depends on the number of threads.
    """
    candidates = [Candidate(f, t) for f in spec.families for t in spec.imbalance_treatments]
    for candidate in candidates:
        if candidate.treatment == "smote":
            candidate.smote_k, candidate.status_reason = _smote_k(spec, y_train, folds)
            if candidate.smote_k is None:
                candidate.status = "skipped"
    by_family = {
        f: [c for c in candidates if c.family == f and c.status == "ok"] for f in spec.families
    }
    work = []
    for family in spec.families:
        for fit_rows, valid_rows in folds:
            work.append(
                delayed(_cross_validate_fold)(
                    family,
                    by_family[family],
                    spec,
                    x_train.iloc[fit_rows],
                    y_train[fit_rows],
                    x_train.iloc[valid_rows],
                )
            )
        work.append(delayed(_final_fit)(family, by_family[family], spec, x_train, y_train, x_test))
    with threadpool_limits(limits=1, user_api="blas"):
        results = iter(Parallel(n_jobs=spec.n_jobs, backend="threading")(work))
    for family in spec.families:
        per_fold = [next(results) for _ in folds]
        final = next(results)
        for i, candidate in enumerate(by_family[family]):
            candidate.pipeline, candidate.test_margin = final[i]
            _finish_candidate(
                candidate, spec, [fold[i] for fold in per_fold], y_train, y_test, folds
            )
    return candidates


def _finish_candidate(
    candidate: Candidate,
    spec: ModelSpec,
    outputs: list[tuple[np.ndarray, int]],
    y_train: np.ndarray,
    y_test: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
) -> None:
    """OOF logits -> fold AUCs, calibration, thresholds and test metrics of one candidate."""
    oof = np.zeros(len(y_train))
    fold_aucs = []
    for number, ((fit_rows, valid_rows), (margin, synthetic)) in enumerate(
        zip(folds, outputs, strict=True), start=1
    ):
        oof[valid_rows] = margin
        fold_aucs.append(_auc(y_train[valid_rows], margin))
        candidate.fold_log.append(
            {
                "fold": number,
                "n_train_rows": len(fit_rows),
                "n_synthetic_rows": synthetic,
                "n_fit_rows": len(fit_rows) + synthetic,
                "n_valid_rows": len(valid_rows),
                "valid_positives": int(y_train[valid_rows].sum()),
                "auc": fold_aucs[-1],
            }
        )
    candidate.oof_margin = oof

    # Calibration: cross-fitted on the OOF logits (each fold calibrated by the other folds).
    crossfit: dict[str, np.ndarray] = {}
    for method in spec.calibration_methods:
        calibrated = np.zeros(len(y_train))
        for fit_rows, valid_rows in folds:
            calibrator = fit_calibrator(method, oof[fit_rows], y_train[fit_rows])
            calibrated[valid_rows] = calibrator.predict(oof[valid_rows])
        crossfit[method] = calibrated
        candidate.calibration_brier[method] = _brier(y_train, calibrated)
    method = min(
        spec.calibration_methods,
        key=lambda m: (candidate.calibration_brier[m], spec.calibration_methods.index(m)),
    )
    candidate.calibrator = fit_calibrator(method, oof, y_train)
    candidate.oof_calibrated = crossfit[method]

    sweep = _sweep(spec, y_train, candidate.oof_calibrated)
    candidate.thresholds = choose_thresholds(sweep)
    candidate.threshold = candidate.thresholds[spec.threshold_objective]
    test_calibrated = candidate.calibrator.predict(candidate.test_margin)

    aucs = np.asarray(fold_aucs)
    valid = aucs[~np.isnan(aucs)]
    candidate.metrics = {
        "cv_auc_mean": float(valid.mean()) if len(valid) else math.nan,
        "cv_auc_sd": float(valid.std(ddof=1)) if len(valid) > 1 else math.nan,
        "cv_pr_auc": _pr_auc(y_train, oof),
        "cv_brier_raw": _brier(y_train, expit(oof)),
        "cv_brier_calibrated": _brier(y_train, candidate.oof_calibrated),
        "cv_f1": _f1_at(y_train, candidate.oof_calibrated, candidate.threshold),
        "test_auc": _auc(y_test, candidate.test_margin),
        "test_pr_auc": _pr_auc(y_test, candidate.test_margin),
        "test_brier_raw": _brier(y_test, expit(candidate.test_margin)),
        "test_brier_calibrated": _brier(y_test, test_calibrated),
        "test_f1": _f1_at(y_test, test_calibrated, candidate.threshold),
    }


def _sweep(spec: ModelSpec, y: np.ndarray, probability: np.ndarray) -> pd.DataFrame:
    return threshold_sweep(
        y,
        probability,
        spec.threshold_grid,
        contact_cost=spec.contact_cost,
        conversion_value=spec.conversion_value,
    )


def select_candidate(candidates: Sequence[Candidate], spec: ModelSpec) -> Candidate:
    """Highest mean CV AUC; ties: lower CV AUC sd, then earlier treatment in the spec."""
    usable = [
        c for c in candidates if c.status == "ok" and not math.isnan(c.metrics["cv_auc_mean"])
    ]
    if not usable:
        raise TrainingDataError("no candidate could be cross-validated")

    def key(c: Candidate) -> tuple[float, float, int]:
        sd = c.metrics["cv_auc_sd"]
        return (
            -c.metrics["cv_auc_mean"],
            math.inf if math.isnan(sd) else sd,
            spec.imbalance_treatments.index(c.treatment),
        )

    return min(usable, key=key)


# --------------------------------------------------------------------------------------------
# The trained model
# --------------------------------------------------------------------------------------------


@dataclass
class ModelBundle:
    """A trained model with everything needed to score, explain and audit it (pickled whole)."""

    model_id: str
    use_case: str
    family: str
    role: str
    imbalance_treatment: str
    smote_k_neighbors: int | None
    spec: ModelSpec
    pipeline: Pipeline
    encoder: DesignEncoder
    calibrator: Calibrator
    threshold: float
    thresholds: dict[str, float]
    params: dict[str, Any]
    metrics: dict[str, float]
    training: dict[str, Any]
    oof: pd.DataFrame
    library_versions: dict[str, str]
    tables_sha256: dict[str, str] = field(default_factory=dict)

    @property
    def algorithm(self) -> str:
        return ALGORITHMS[self.family]

    @property
    def estimator(self) -> Any:
        return self.pipeline.named_steps["model"]

    @property
    def booster(self) -> Any:
        """The XGBoost booster, or None for the logistic model."""
        if self.family == "xgboost":
            return self.estimator.get_booster()
        return None

    @property
    def columns(self) -> tuple[tuple[str, str | None], ...]:
        """(feature, category) of each design-matrix column."""
        return self.encoder.columns

    def design_matrix(self, frame: pd.DataFrame) -> np.ndarray:
        return self.encoder.transform(frame, self.spec)

    def margin(self, design: np.ndarray) -> np.ndarray:
        return model_margin(self.estimator, design)


def _model_id(spec: ModelSpec, family: str, treatment: str, data_sha256: str) -> str:
    """Deterministic: use case, family, treatment, parameters and the training data's hash."""
    payload = {
        "use_case": spec.use_case,
        "family": family,
        "imbalance_treatment": treatment,
        "params": {k: v for k, v in _family_params(family, spec).items() if k != "n_jobs"},
        "spec": spec.model_defining(),
        "training_data_sha256": data_sha256,
    }
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
    return f"{spec.use_case}-{family}-{digest[:12]}"


def _bundle(
    candidate: Candidate,
    spec: ModelSpec,
    role: str,
    training: dict[str, Any],
    train_ids: pd.DataFrame,
    y_train: np.ndarray,
) -> ModelBundle:
    fitted = candidate.pipeline
    pipeline = Pipeline(
        [("prep", fitted.named_steps["prep"]), ("model", fitted.named_steps["model"])]
    )
    params = _estimator_params(candidate.family, candidate.treatment, spec, y_train)
    oof = train_ids.reset_index(drop=True).assign(
        oof_calibrated_probability=candidate.oof_calibrated
    )
    return ModelBundle(
        model_id=_model_id(spec, candidate.family, candidate.treatment, training["data_sha256"]),
        use_case=spec.use_case,
        family=candidate.family,
        role=role,
        imbalance_treatment=candidate.treatment,
        smote_k_neighbors=candidate.smote_k,
        spec=spec,
        pipeline=pipeline,
        encoder=DesignEncoder.from_preprocessor(fitted.named_steps["prep"], spec),
        calibrator=candidate.calibrator,
        threshold=candidate.threshold,
        thresholds=dict(candidate.thresholds),
        params=params,
        metrics=dict(candidate.metrics),
        training=dict(training),
        oof=oof,
        library_versions=artifacts.library_versions(),
    )


# --------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------


def predict_proba_frame(
    bundle: ModelBundle, frame: pd.DataFrame, *, n_jobs: int | None = None
) -> pd.DataFrame:
    """Score a whole frame in one call: raw logit, raw and calibrated probability per row.

    Vectorised end to end (Arrow category lookup, numpy design matrix, one booster call per
    chunk of ``SCORE_CHUNK_ROWS`` rows to bound memory), chunks spread over ``n_jobs`` threads
    (default ``spec.n_jobs``). Every row's score is independent of the chunking and the thread
    count, bit for bit. The index is the frame's.
    """
    chunks = [
        frame.iloc[start : start + SCORE_CHUNK_ROWS]
        for start in range(0, len(frame), SCORE_CHUNK_ROWS)
    ]

    def margin_of(chunk: pd.DataFrame) -> np.ndarray:
        return bundle.margin(bundle.design_matrix(chunk))

    jobs = min(n_jobs or bundle.spec.n_jobs, max(len(chunks), 1))
    if jobs > 1:
        parts = Parallel(n_jobs=jobs, backend="threading")(delayed(margin_of)(c) for c in chunks)
    else:
        parts = [margin_of(c) for c in chunks]
    margins = np.concatenate(parts) if parts else np.zeros(0)
    return pd.DataFrame(
        {
            "raw_logit": margins,
            "raw_probability": expit(margins),
            "calibrated_probability": bundle.calibrator.predict(margins),
        },
        index=frame.index,
    )


def _deciles(score: np.ndarray, order_key: pd.DataFrame, groups: np.ndarray) -> np.ndarray:
    """Decile 1 = the highest-scoring 10% within each group; ties broken by id (stable)."""
    deciles = np.zeros(len(score), dtype=np.int64)
    base = order_key.reset_index(drop=True).sort_values(list(order_key.columns), kind="mergesort")
    by_id = base.index.to_numpy()
    for group in np.unique(groups):
        members = by_id[groups[by_id] == group]
        ranked = members[np.argsort(-score[members], kind="stable")]
        n = len(ranked)
        deciles[ranked] = (np.arange(n) * 10) // n + 1
    return deciles


def score_frame(bundle: ModelBundle, frame: pd.DataFrame) -> pd.DataFrame:
    """One scores row per input row: probabilities, decile, label, and top reason codes.

    ``predicted_label`` is ``calibrated_probability >= threshold``; deciles are within each split
    (1 = top 10% by raw score, ties by id); ``oof_calibrated_probability`` is the out-of-fold
    estimate for a training row the model was fitted on (null elsewhere) - the honest score for
    the training population. Rows are scored and explained in chunks of ``SCORE_CHUNK_ROWS``
    (every row gets its exact SHAP reason codes; memory stays bounded by the chunk, ~0.6 GB);
    a row's values do not depend on the chunking.
    """
    spec = bundle.spec
    _require_columns(frame, spec.id_columns, f"scoring {spec.use_case!r}")
    splits = _split_labels(frame, spec)
    labels = _labels(frame, spec, np.zeros(len(frame), dtype=bool))
    margins, bases, reasons = [], [], []
    for start in range(0, len(frame), SCORE_CHUNK_ROWS):
        chunk = frame.iloc[start : start + SCORE_CHUNK_ROWS]
        design = bundle.design_matrix(chunk)
        margins.append(bundle.margin(design))
        contributions, base = explain.feature_contributions_from_design(bundle, design)
        del design
        bases.append(base)
        reasons.append(
            explain.reason_codes_from_contributions(
                bundle, chunk, contributions, n=spec.n_reason_codes
            ).reset_index(drop=True)
        )
    margin = np.concatenate(margins) if margins else np.zeros(0)
    calibrated = bundle.calibrator.predict(margin)

    out = frame[list(spec.id_columns)].reset_index(drop=True)
    out.insert(0, "use_case", spec.use_case)
    out.insert(0, "model_id", bundle.model_id)
    out["split"] = splits
    out["actual_label"] = pd.Series(labels).where(labels >= 0).astype("Int64")
    out["raw_logit"] = margin
    out["raw_probability"] = expit(margin)
    out["calibrated_probability"] = calibrated
    out["oof_calibrated_probability"] = _lookup_oof(bundle, frame, splits)
    out["decile"] = _deciles(margin, _id_text(frame, spec), splits)
    out["predicted_label"] = (calibrated >= bundle.threshold).astype(np.int64)
    out["base_value"] = np.concatenate(bases) if bases else np.zeros(0)
    if reasons:
        reason_frame = pd.concat(reasons, ignore_index=True)
        for column in reason_frame.columns:
            out[column] = reason_frame[column].array  # Arrow-backed text stays Arrow
    else:
        empty = explain.reason_codes_from_contributions(
            bundle, frame, np.zeros((0, len(spec.features))), n=spec.n_reason_codes
        )
        for column in empty.columns:
            out[column] = empty[column].array
    return out


def _lookup_oof(bundle: ModelBundle, frame: pd.DataFrame, splits: np.ndarray) -> np.ndarray:
    keys = list(bundle.spec.id_columns)
    ids = _id_text(frame, bundle.spec).reset_index(drop=True)
    stored = _id_text(bundle.oof, bundle.spec).assign(
        _oof=bundle.oof["oof_calibrated_probability"].to_numpy()
    )
    merged = ids.merge(stored, on=keys, how="left", sort=False)
    values = merged["_oof"].to_numpy(dtype=np.float64, na_value=np.nan)
    return np.where(splits == "train", values, np.nan)


def unseen_categories(bundle: ModelBundle, frame: pd.DataFrame) -> pd.DataFrame:
    """Category values in ``frame`` that training never saw (reported, not fatal)."""
    rows = []
    for i, feature in enumerate(bundle.encoder.categorical_features):
        codes = bundle.encoder.category_codes(frame[feature], i)
        if (codes < 0).any():
            text = pc.fill_null(string_array(frame[feature]), MISSING_CATEGORY)
            values = pd.Series(text.to_numpy(zero_copy_only=False)[codes < 0])
            for value, count in values.value_counts(sort=False).sort_index().items():
                rows.append({"feature": feature, "value": value, "n_rows": int(count)})
    return pd.DataFrame(rows, columns=["feature", "value", "n_rows"])


def score(
    frame: pd.DataFrame, registry_row: Any, *, artifact_root: Path | str | None = None
) -> pd.DataFrame:
    """Score ``frame`` with a registered model, without retraining.

    ``registry_row`` is a registry dict/Series, or the registry frame (its 'primary' row is used).
    The artifact's sha256 is verified before it is unpickled (``ArtifactIntegrityError``).
    """
    bundle = artifacts.load_registered(registry_row, artifact_root=artifact_root)
    return score_frame(bundle, frame)


# --------------------------------------------------------------------------------------------
# Training: one call, every table
# --------------------------------------------------------------------------------------------


@dataclass
class TrainResult:
    """Every table of one training run, plus the fitted bundles."""

    registry: pd.DataFrame
    comparison: pd.DataFrame
    threshold_sweep: pd.DataFrame
    scores: pd.DataFrame | None
    feature_importance: pd.DataFrame
    coefficients: pd.DataFrame
    cv_folds: pd.DataFrame
    bundles: dict[str, ModelBundle]
    primary_model_id: str
    candidates: list[Candidate] = field(repr=False, default_factory=list)

    @property
    def primary(self) -> ModelBundle:
        return self.bundles[self.primary_model_id]

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables by their dbt model names."""
        return {
            "ml_model_registry": self.registry,
            "ml_model_comparison": self.comparison,
            "ml_threshold_sweep": self.threshold_sweep,
            "ml_scores": self.scores,
            "ml_feature_importance": self.feature_importance,
            "ml_model_coefficients": self.coefficients,
            "ml_model_cv_folds": self.cv_folds,
        }


def _comparison(
    candidates: Sequence[Candidate],
    chosen: Mapping[str, Candidate],
    ids: Mapping[tuple[str, str], str],
    primary_family: str,
    spec: ModelSpec,
) -> pd.DataFrame:
    rows = []
    metric_names = (
        "cv_auc_mean",
        "cv_auc_sd",
        "cv_pr_auc",
        "cv_brier_raw",
        "cv_brier_calibrated",
        "cv_f1",
        "test_auc",
        "test_pr_auc",
        "test_f1",
        "test_brier_raw",
        "test_brier_calibrated",
    )
    for c in candidates:
        is_chosen = chosen.get(c.family) is c
        rows.append(
            {
                "use_case": spec.use_case,
                "algorithm": c.algorithm,
                "imbalance_treatment": c.treatment,
                "status": c.status,
                "status_reason": c.status_reason,
                "smote_k_neighbors": c.smote_k,
                "cv_folds": len(c.fold_log) if c.status == "ok" else None,
                **{m: c.metrics.get(m, math.nan) for m in metric_names},
                "calibration_method": c.calibrator.method if c.calibrator else None,
                "calibration_cv_brier": json.dumps(c.calibration_brier, sort_keys=True)
                if c.calibration_brier
                else None,
                "threshold_objective": spec.threshold_objective,
                "threshold": c.threshold,
                "threshold_f1": c.thresholds.get("f1", math.nan),
                "threshold_cost": c.thresholds.get("cost", math.nan),
                "is_chosen_for_family": is_chosen,
                "is_primary": is_chosen and c.family == primary_family,
                "model_id": ids.get((c.family, c.treatment)) if is_chosen else None,
            }
        )
    frame = pd.DataFrame(rows)
    frame["smote_k_neighbors"] = frame["smote_k_neighbors"].astype("Int64")
    frame["cv_folds"] = frame["cv_folds"].astype("Int64")
    frame["cv_auc_rank"] = (
        frame["cv_auc_mean"].rank(ascending=False, method="min", na_option="keep").astype("Int64")
    )
    return frame


def _sweep_rows(
    bundle: ModelBundle, population: str, y: np.ndarray, probability: np.ndarray
) -> pd.DataFrame:
    sweep = _sweep(bundle.spec, y, probability)
    sweep.insert(0, "population", population)
    sweep.insert(0, "algorithm", bundle.algorithm)
    sweep.insert(0, "use_case", bundle.use_case)
    sweep.insert(0, "model_id", bundle.model_id)
    sweep.insert(4, "probability", "calibrated")
    sweep["is_f1_threshold"] = np.isclose(sweep["threshold"], bundle.thresholds["f1"])
    sweep["is_cost_threshold"] = np.isclose(sweep["threshold"], bundle.thresholds["cost"])
    sweep["is_model_threshold"] = np.isclose(sweep["threshold"], bundle.threshold)
    return sweep


def train(
    frame: pd.DataFrame,
    spec: ModelSpec,
    *,
    trained_at: datetime | None = None,
    save: bool = True,
    score_rows: bool = True,
) -> TrainResult:
    """Train and register a use case's models; return every table.

    Registers one model per family (the primary family's model is the model of record; the other
    is trained for comparison), writes artifacts under ``spec.artifact_dir`` when ``save`` and,
    when ``score_rows``, scores every input row with the primary model (``scores``; dbt scores
    in its own model, so it passes False and ``scores`` is None).
    """
    _require_columns(frame, [*spec.id_columns, spec.target], f"training {spec.use_case!r}")
    if spec.split_column not in frame.columns:
        raise TrainingDataError(f"training needs the split column {spec.split_column!r}")
    splits = _split_labels(frame, spec)
    labelled = np.isin(splits, ("train", "test"))
    labels = _labels(frame, spec, labelled)
    _check_unique_ids(frame, splits, spec)
    train_mask = splits == "train"
    test_mask = splits == "test"
    # The sample is drawn on the key columns only: copying the whole training split of a
    # multi-million-row frame would cost gigabytes for rows that are not fitted.
    train_positions = np.flatnonzero(train_mask)
    keys = [c for c in dict.fromkeys((*spec.id_columns, spec.cv_group_column)) if c in frame]
    sample = training_sample(
        frame[keys].iloc[train_positions], labels[train_mask].astype(np.int64), spec
    )
    fitted = frame.iloc[train_positions[sample]]  # every training row, or a seeded sample
    x_train = design_frame(fitted, spec)
    y_train = labels[train_mask].astype(np.int64)[sample]
    x_test, y_test = design_frame(frame.loc[test_mask], spec), labels[test_mask].astype(np.int64)
    folds = _training_folds(fitted, y_train, spec)

    candidates = evaluate_candidates(spec, x_train, y_train, x_test, y_test, folds)
    chosen = {
        f: select_candidate([c for c in candidates if c.family == f], spec) for f in spec.families
    }
    primary_family = spec.primary_family
    if spec.model_selection == "best_cv_auc":
        best = select_candidate(list(chosen.values()), spec)
        tied = [
            c for c in chosen.values() if c.metrics["cv_auc_mean"] == best.metrics["cv_auc_mean"]
        ]
        primary_family = spec.primary_family if chosen[spec.primary_family] in tied else best.family

    data_sha = training_data_sha256(fitted, spec)
    positives = int(y_train.sum())
    training = {
        "rows": len(y_train),
        "split_rows": int(train_mask.sum()),
        "positives": positives,
        "negatives": len(y_train) - positives,
        "base_rate": positives / len(y_train),
        "test_rows": int(test_mask.sum()),
        "cv_folds": len(folds),
        "data_sha256": data_sha,
    }
    train_ids = fitted[list(spec.id_columns)]
    bundles: dict[str, ModelBundle] = {}
    ids: dict[tuple[str, str], str] = {}
    for family in spec.families:
        role = "primary" if family == primary_family else "comparison"
        bundle = _bundle(chosen[family], spec, role, training, train_ids, y_train)
        bundles[bundle.model_id] = bundle
        ids[(family, chosen[family].treatment)] = bundle.model_id
    primary = next(b for b in bundles.values() if b.role == "primary")

    # Tables that do not depend on where the artifacts are. Mean |SHAP| over (a seeded sample
    # of at most explain_max_rows of) the fitted rows.
    scores = score_frame(primary, frame) if score_rows else None
    explained = fitted.iloc[training_sample(fitted, y_train, spec, cap=spec.explain_max_rows)]
    comparison = _comparison(candidates, chosen, ids, primary_family, spec)
    sweeps, importances = [], []
    for bundle in bundles.values():
        candidate = chosen[bundle.family]
        sweeps.append(_sweep_rows(bundle, "train_oof", y_train, candidate.oof_calibrated))
        if len(y_test):
            test_probability = bundle.calibrator.predict(candidate.test_margin)
            sweeps.append(_sweep_rows(bundle, "test", y_test, test_probability))
        importances.append(explain.feature_importance(bundle, explained))
    sweep = pd.concat(sweeps, ignore_index=True)
    importance = pd.concat(importances, ignore_index=True)
    logistic = [b for b in bundles.values() if b.family == "logistic"]
    coefficients = explain.coefficients(logistic[0]) if logistic else explain.empty_coefficients()
    cv_folds = pd.DataFrame(
        [
            {
                "use_case": spec.use_case,
                "algorithm": c.algorithm,
                "imbalance_treatment": c.treatment,
                **row,
            }
            for c in candidates
            for row in c.fold_log
        ]
    )

    trained_at = trained_at or artifacts.utc_now()
    rows = []
    saved_tables = {
        "ml_model_comparison": comparison,
        "ml_threshold_sweep": sweep,
        "ml_feature_importance": importance,
        "ml_model_coefficients": coefficients,
        "ml_model_cv_folds": cv_folds,
    }
    ordered = [primary, *(b for b in bundles.values() if b is not primary)]
    for bundle in ordered:
        saved = None
        if save:
            if bundle is primary:
                bundle.tables_sha256 = artifacts.save_tables(
                    saved_tables, spec.artifact_dir, spec.use_case, bundle.model_id
                )
            saved = artifacts.save_model(bundle, spec.artifact_dir, trained_at=trained_at)
        rows.append(artifacts.registry_row(bundle, saved, trained_at=trained_at))
    registry = artifacts.registry_frame(rows)
    if save:
        artifacts.write_current(spec.artifact_dir, spec.use_case, registry)

    return TrainResult(
        registry=registry,
        comparison=comparison,
        threshold_sweep=sweep,
        scores=scores,
        feature_importance=importance,
        coefficients=coefficients,
        cv_folds=cv_folds,
        bundles=bundles,
        primary_model_id=primary.model_id,
        candidates=candidates,
    )
