"""Training on Spark: each family fitted with Spark ML on the cross-validation folds and on every
training row, then brought into a leakproof ModelBundle, so scoring, reason codes, the what-if
engine and PSI use the same code as on DuckDB.

What differs from leakproof.train (the DuckDB trainer):
- one imbalance treatment ('none'): no class weights, no SMOTE;
- XGBoost is not tuned: the declaration's xgboost_params over the defaults, fitted by
  xgboost.spark.SparkXGBClassifier (distributed over ``num_workers`` tasks);
- logistic regression is pyspark.ml's (L2, regParam = 1 / (C x rows): scikit-learn's objective);
- every training row is fitted (no max_training_rows sample);
- the training data's hash is an order-free Spark hash (sum of xxhash64 per row), not the sha256
  of the canonical frame.
Folds (the feature table's cv_fold), calibration (sigmoid vs isotonic, cross-fitted on the OOF
logits), thresholds, metrics and the selection (best CV AUC, ties within selection_tolerance to
the simpler model) are the DuckDB trainer's own functions, run on the driver over the logits.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from xgboost import XGBClassifier

from leakproof import artifacts
from leakproof.model_spec import DEFAULT_XGBOOST_PARAMS
from leakproof.spark._design import DESIGN_COLUMN, design_frame, fit_encoder
from leakproof.spark._session import SparkJobError
from leakproof.train import (
    Candidate,
    DesignEncoder,
    ModelBundle,
    ModelSpec,
    candidate_from_margins,
    model_margin,
    select_candidate,
)

__all__ = ["SparkTraining", "train_on_spark"]

TREATMENT = "none"


@dataclass
class SparkTraining:
    """The bundles of one use case trained on Spark (primary first) and their registry rows."""

    bundles: list[ModelBundle]
    registry: pd.DataFrame

    @property
    def primary(self) -> ModelBundle:
        return self.bundles[0]


def _fit_logistic(train: Any, spec: ModelSpec, rows: int, _: int) -> tuple[Any, dict[str, Any]]:
    from pyspark.ml.classification import LogisticRegression as SparkLogisticRegression

    params = {
        "regParam": 1.0 / (spec.logistic_c * rows),
        "elasticNetParam": 0.0,
        "standardization": False,
        "fitIntercept": True,
        "maxIter": spec.logistic_max_iter,
        "tol": 1e-6,
    }
    fitted = SparkLogisticRegression(featuresCol=DESIGN_COLUMN, labelCol="label", **params).fit(
        train
    )
    local = LogisticRegression(C=spec.logistic_c)
    local.coef_ = np.asarray(fitted.coefficients.toArray(), dtype=np.float64)[None, :]
    local.intercept_ = np.array([float(fitted.intercept)])
    local.classes_ = np.array([0, 1])
    return local, {"estimator": "pyspark.ml.classification.LogisticRegression", **params}


def _fit_xgboost(
    train: Any, spec: ModelSpec, _: int, num_workers: int
) -> tuple[Any, dict[str, Any]]:
    from xgboost.spark import SparkXGBClassifier

    params = {
        k: v for k, v in {**DEFAULT_XGBOOST_PARAMS, **spec.xgboost_params}.items() if k != "n_jobs"
    }
    params["random_state"] = spec.seed
    fitted = SparkXGBClassifier(
        features_col=DESIGN_COLUMN, label_col="label", num_workers=num_workers, **params
    ).fit(train)
    local = XGBClassifier(**params, objective="binary:logistic", n_jobs=1)
    local.load_model(bytearray(fitted.get_booster().save_raw(raw_format="ubj")))
    return local, {"estimator": "xgboost.spark.SparkXGBClassifier", **params}


# family -> fit(training design frame, spec, rows, num_workers) -> (local estimator, params)
FITTERS: dict[str, Callable[[Any, ModelSpec, int, int], tuple[Any, dict[str, Any]]]] = {
    "logistic": _fit_logistic,
    "xgboost": _fit_xgboost,
}


def _margins(frame: Any, encoder: DesignEncoder, estimator: Any, spec: ModelSpec) -> pd.Series:
    """The raw logit of every row of the Spark frame, by entity_key (computed per partition by
    the local model: the numbers scoring will give)."""

    def run(parts: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for part in parts:
            yield pd.DataFrame(
                {
                    "entity_key": part["entity_key"].astype(str).to_numpy(),
                    "margin": model_margin(estimator, encoder.transform(part, spec)),
                }
            )

    out = frame.mapInPandas(run, "entity_key string, margin double").toPandas()
    return out.set_index("entity_key")["margin"]


def _keys(base: Any, spec: ModelSpec) -> pd.DataFrame:
    from pyspark.sql import functions as F

    keys = base.select(
        F.col("entity_key").cast("string").alias("entity_key"),
        "split",
        F.col("cv_fold").cast("int").alias("cv_fold"),
        F.col(f"`{spec.target}`").cast("int").alias("label"),
    ).toPandas()
    keys = keys.sort_values(["split", "entity_key"], kind="mergesort").reset_index(drop=True)
    duplicated = keys.duplicated(["split", "entity_key"])
    if duplicated.any():
        raise SparkJobError(
            f"{spec.use_case}: entity_key is not unique within a split, e.g. "
            f"{keys.loc[duplicated, 'entity_key'].head(5).tolist()}"
        )
    if keys["label"].isna().any():
        raise SparkJobError(f"{spec.use_case}: labelled rows without a target {spec.target!r}")
    return keys


def _data_hash(train: Any, spec: ModelSpec) -> str:
    """An order-free hash of the training rows (ids, features, target) computed in Spark."""
    from pyspark.sql import functions as F

    columns = [F.col(f"`{c}`") for c in ("entity_key", *spec.features, spec.target)]
    row = train.agg(
        F.count(F.lit(1)).alias("rows"),
        F.sum(F.xxhash64(*columns).cast("decimal(38,0)")).alias("hash_sum"),
    ).first()
    return hashlib.sha256(f"rows={row['rows']};xxhash64_sum={row['hash_sum']}".encode()).hexdigest()


def _model_id(spec: ModelSpec, family: str, params: dict[str, Any], data_sha: str) -> str:
    payload = {
        "engine": "spark",
        "use_case": spec.use_case,
        "family": family,
        "imbalance_treatment": TREATMENT,
        "params": {k: v for k, v in params.items() if k != "regParam"},
        "spec": spec.model_defining(),
        "training_data_sha256": data_sha,
    }
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
    return f"{spec.use_case}-{family}-{digest[:12]}"


def _candidate(
    family: str, base: Any, keys: pd.DataFrame, spec: ModelSpec, num_workers: int
) -> tuple[Candidate, DesignEncoder, Any, dict[str, Any]]:
    """One family cross-validated on the folds and refitted on every training row."""
    from pyspark.sql import functions as F

    train_keys = keys[keys["split"] == "train"].reset_index(drop=True)
    test_keys = keys[keys["split"] == "test"].reset_index(drop=True)
    train = base.filter(F.col("split") == "train")
    encoder = fit_encoder(train, spec, drop_first=family == "logistic")
    design = design_frame(train, encoder, spec).cache()
    fit = FITTERS[family]
    fold_values = sorted(train_keys["cv_fold"].dropna().unique())
    if train_keys["cv_fold"].isna().any() or len(fold_values) < 2:
        raise SparkJobError(f"{spec.use_case}: training rows need a cv_fold (2 folds or more)")
    folds, fold_margins = [], []
    for fold in fold_values:
        fit_rows = np.flatnonzero(train_keys["cv_fold"].to_numpy() != fold)
        valid_rows = np.flatnonzero(train_keys["cv_fold"].to_numpy() == fold)
        model, _ = fit(
            design.filter(F.col("cv_fold") != int(fold)), spec, len(fit_rows), num_workers
        )
        margin = _margins(train.filter(F.col("cv_fold") == int(fold)), encoder, model, spec)
        folds.append((fit_rows, valid_rows))
        fold_margins.append(margin.reindex(train_keys["entity_key"].iloc[valid_rows]).to_numpy())
    model, params = fit(design, spec, len(train_keys), num_workers)
    design.unpersist()
    margin = _margins(base, encoder, model, spec)
    candidate = Candidate(family=family, treatment=TREATMENT)
    candidate.train_margin = margin.reindex(train_keys["entity_key"]).to_numpy()
    candidate.test_margin = margin.reindex(test_keys["entity_key"]).to_numpy()
    candidate_from_margins(
        candidate,
        spec,
        fold_margins,
        train_keys["label"].to_numpy(np.int64),
        test_keys["label"].to_numpy(np.int64),
        folds,
    )
    return candidate, encoder, model, params


def train_on_spark(
    base: Any, spec: ModelSpec, *, num_workers: int = 1, trained_at: Any = None
) -> SparkTraining:
    """Train, select, save and register a use case's models on the Spark frame `base` (its
    labelled feature rows: entity_key, split, cv_fold, the target and the features)."""
    from pyspark import __version__ as pyspark_version

    keys = _keys(base, spec)
    train_keys = keys[keys["split"] == "train"].reset_index(drop=True)
    y_train = train_keys["label"].to_numpy(np.int64)
    if not len(y_train) or y_train.min() == y_train.max():
        raise SparkJobError(f"{spec.use_case}: the training split needs both labels")
    fitted = {f: _candidate(f, base, keys, spec, num_workers) for f in spec.families}
    chosen = {f: fitted[f][0] for f in spec.families}
    primary_family = spec.primary_family or select_candidate(list(chosen.values()), spec).family
    data_sha = _data_hash(base.filter("split = 'train'"), spec)
    positives = int(y_train.sum())
    training = {
        "rows": len(y_train),
        "split_rows": len(y_train),
        "positives": positives,
        "negatives": len(y_train) - positives,
        "base_rate": positives / len(y_train),
        "test_rows": int((keys["split"] == "test").sum()),
        "cv_folds": len(chosen[primary_family].fold_aucs),
        "data_sha256": data_sha,
    }
    versions = {**artifacts.library_versions(), "pyspark": pyspark_version}
    bundles = []
    for family in sorted(spec.families, key=lambda f: f != primary_family):
        candidate, encoder, model, params = fitted[family]
        bundles.append(
            ModelBundle(
                model_id=_model_id(spec, family, params, data_sha),
                use_case=spec.use_case,
                family=family,
                role="primary" if family == primary_family else "comparison",
                imbalance_treatment=TREATMENT,
                smote_k_neighbors=None,
                spec=spec,
                pipeline=Pipeline([("prep", "passthrough"), ("model", model)]),
                encoder=encoder,
                calibrator=candidate.calibrator,
                threshold=candidate.threshold,
                thresholds=dict(candidate.thresholds),
                params=params,
                metrics=dict(candidate.metrics),
                training=dict(training),
                oof=train_keys[["entity_key"]].assign(
                    oof_calibrated_probability=candidate.oof_calibrated
                ),
                library_versions=versions,
            )
        )
    trained_at = trained_at or artifacts.utc_now()
    rows = []
    for bundle in bundles:
        saved = artifacts.save_model(bundle, spec.artifact_dir, trained_at=trained_at)
        rows.append(artifacts.registry_row(bundle, saved, trained_at=trained_at))
    registry = artifacts.registry_frame(rows)
    artifacts.write_current(spec.artifact_dir, spec.use_case, registry)
    return SparkTraining(bundles, registry)
