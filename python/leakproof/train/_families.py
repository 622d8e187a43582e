"""Model families and imbalance treatments: estimators, shared XGBoost sketches, margins."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xgboost
from imblearn.over_sampling import SMOTE
from imblearn.pipeline import Pipeline as ImbPipeline
from sklearn.linear_model import LogisticRegression
from xgboost import XGBClassifier

from leakproof.model_spec import ModelSpec

__all__ = ["fit_treatments", "model_margin"]


def _family_params(
    family: str, spec: ModelSpec, tuned: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The family's parameters: the spec's, with XGBoost's tuned ones (``_tuning``) over them."""
    if family == "xgboost":
        return {
            **dict(spec.xgboost_params),
            **dict(tuned or {}),
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
    family: str,
    treatment: str,
    spec: ModelSpec,
    y_fit: np.ndarray,
    tuned: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The estimator's parameters; class weights derive from the rows it is fitted on."""
    params = _family_params(family, spec, tuned)
    if treatment == "class_weight":
        if family == "xgboost":
            positives = int(y_fit.sum())
            params["scale_pos_weight"] = (len(y_fit) - positives) / max(positives, 1)
        else:
            params["class_weight"] = "balanced"
    return params


def _estimator(
    family: str,
    treatment: str,
    spec: ModelSpec,
    y_fit: np.ndarray,
    tuned: Mapping[str, Any] | None = None,
) -> Any:
    params = _estimator_params(family, treatment, spec, y_fit, tuned)
    return XGBClassifier(**params) if family == "xgboost" else LogisticRegression(**params)


def _resampling_model(
    family: str,
    treatment: str,
    spec: ModelSpec,
    y_fit: np.ndarray,
    smote_k: int | None,
    tuned: Mapping[str, Any] | None = None,
) -> ImbPipeline:
    """``[SMOTE ->] model``: the part of a pipeline that follows preprocessing."""
    steps: list[tuple[str, Any]] = []
    if treatment == "smote":
        steps.append(("smote", SMOTE(k_neighbors=smote_k, random_state=spec.seed)))
    steps.append(("model", _estimator(family, treatment, spec, y_fit, tuned)))
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
    candidates: Sequence[Any],
    spec: ModelSpec,
    design: np.ndarray,
    y: np.ndarray,
    tuned: Mapping[str, Any] | None = None,
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
        tail = _resampling_model(family, candidate.treatment, spec, y, candidate.smote_k, tuned)
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
