"""Candidates: every family x imbalance treatment cross-validated, calibrated and refitted."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from imblearn.pipeline import Pipeline as ImbPipeline
from joblib import Parallel, delayed
from scipy.special import expit
from threadpoolctl import threadpool_limits

from leakproof.model_spec import (
    ALGORITHMS,
    SCORE_CHUNK_ROWS,
    SIMPLICITY,
    ModelSpec,
    TrainingDataError,
)
from leakproof.train._calibration import Calibrator, fit_calibrator
from leakproof.train._cv import _auc, _brier, _f1_at, _pr_auc
from leakproof.train._encoding import DesignEncoder, make_preprocessor
from leakproof.train._families import fit_treatments, model_margin
from leakproof.train._threshold import _sweep, choose_thresholds
from leakproof.train._tuning import tune_xgboost

__all__ = [
    "Candidate",
    "calibrate_like_the_refit",
    "candidate_from_margins",
    "evaluate_candidates",
    "select_candidate",
]


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
    tuned: dict[str, Any] = field(default_factory=dict)
    fold_aucs: list[float] = field(default_factory=list)
    # Which OOF logits the calibrator was fitted on: the nested CV's fold models, or fold models
    # with the refit's parameters (``calibrate_like_the_refit``).
    calibration_oof: str = "cv_models"
    train_margin: np.ndarray | None = None
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
) -> list[tuple[np.ndarray, int, dict[str, Any]]]:
    """One fold of one family, for each of its candidates: (validation logits, synthetic rows,
    tuned parameters).

    The preprocessor is fitted once on the fold's training rows and shared by the treatments
    (it does not depend on them); XGBoost is tuned on those rows only (``tune_xgboost``), once
    for the treatments; each treatment's ``[SMOTE ->] model`` is then fitted on those rows only.
    Validation rows are transformed and predicted, never resampled.
    """
    preprocessor = make_preprocessor(family, spec)
    design_fit = preprocessor.fit_transform(x_fit)
    # The compiled encoder: the same numbers, faster, and an unseen category is all zeros
    # without the warning sklearn raises (warning filters are process-wide, not per thread).
    design_valid = DesignEncoder.from_preprocessor(preprocessor, spec).transform(x_valid, spec)
    tuned = tune_xgboost(spec, design_fit, y_fit) if family == "xgboost" else {}
    tails = fit_treatments(family, candidates, spec, design_fit, y_fit, tuned)
    return [
        (model_margin(tail.named_steps["model"], design_valid), _synthetic_rows(tail), tuned)
        for tail in tails
    ]


def _final_fit(
    family: str,
    candidates: Sequence[Candidate],
    spec: ModelSpec,
    x_train: pd.DataFrame,
    y_train: np.ndarray,
    x_test: pd.DataFrame,
) -> list[tuple[ImbPipeline, np.ndarray, np.ndarray, dict[str, Any]]]:
    """Each candidate's full pipeline ``prep -> [SMOTE ->] model`` fitted on all training rows
    (one preprocessor, shared: it does not depend on the treatment; XGBoost tuned on these rows),
    its in-sample logits of the training rows (for the train-test AUC gap), its test logits
    (through the compiled encoder, in chunks: the test split can have millions of rows) and the
    tuned parameters."""
    preprocessor = make_preprocessor(family, spec)
    design = preprocessor.fit_transform(x_train)
    tuned = tune_xgboost(spec, design, y_train) if family == "xgboost" else {}
    tails = fit_treatments(family, candidates, spec, design, y_train, tuned)
    in_sample = [model_margin(tail.named_steps["model"], design) for tail in tails]
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
            train_margin,
            np.concatenate(out) if out else np.zeros(0),
            tuned,
        )
        for tail, train_margin, out in zip(tails, in_sample, margins, strict=True)
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
            candidate.pipeline, candidate.train_margin, candidate.test_margin, candidate.tuned = (
                final[i]
            )
            _finish_candidate(
                candidate, spec, [fold[i] for fold in per_fold], y_train, y_test, folds
            )
    return candidates


def _finish_candidate(
    candidate: Candidate,
    spec: ModelSpec,
    outputs: list[tuple[np.ndarray, int, dict[str, Any]]],
    y_train: np.ndarray,
    y_test: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
) -> None:
    """OOF logits -> fold AUCs, calibration, thresholds and test metrics of one candidate."""
    oof = np.zeros(len(y_train))
    fold_aucs = []
    for number, ((fit_rows, valid_rows), (margin, synthetic, tuned)) in enumerate(
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
                "tuned_params": json.dumps(tuned, sort_keys=True) if tuned else None,
            }
        )
    candidate.oof_margin = oof

    candidate.fold_aucs = fold_aucs
    _calibrate(candidate, spec, oof, y_train, y_test, folds)


def candidate_from_margins(
    candidate: Candidate,
    spec: ModelSpec,
    fold_margins: Sequence[np.ndarray],
    y_train: np.ndarray,
    y_test: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
) -> None:
    """Fold AUCs, calibration, thresholds and metrics of a candidate fitted elsewhere (the Spark
    job): ``fold_margins[i]`` are the logits of fold i's model on its validation rows
    ``folds[i][1]``; ``candidate.train_margin`` / ``test_margin`` must be set (the refit's)."""
    outputs = [(np.asarray(m, dtype=np.float64), 0, {}) for m in fold_margins]
    _finish_candidate(candidate, spec, outputs, y_train, y_test, folds)


def _calibrate(
    candidate: Candidate,
    spec: ModelSpec,
    oof: np.ndarray,
    y_train: np.ndarray,
    y_test: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
) -> None:
    """Calibration, thresholds and metrics of a candidate from OOF logits ``oof``.

    Calibration is cross-fitted on the OOF logits (each fold calibrated by the other folds) to
    choose the method and the thresholds; the chosen method is then fitted on all OOF logits.
    """
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

    aucs = np.asarray(candidate.fold_aucs)
    valid = aucs[~np.isnan(aucs)]
    candidate.metrics = {
        "cv_auc_mean": float(valid.mean()) if len(valid) else math.nan,
        "cv_auc_sd": float(valid.std(ddof=1)) if len(valid) > 1 else math.nan,
        "cv_pr_auc": _pr_auc(y_train, candidate.oof_margin),
        "cv_brier_raw": _brier(y_train, expit(candidate.oof_margin)),
        "cv_brier_calibrated": _brier(y_train, candidate.oof_calibrated),
        "cv_f1": _f1_at(y_train, candidate.oof_calibrated, candidate.threshold),
        "train_auc": _auc(y_train, candidate.train_margin),
        "test_auc": _auc(y_test, candidate.test_margin),
        "test_pr_auc": _pr_auc(y_test, candidate.test_margin),
        "test_brier_raw": _brier(y_test, expit(candidate.test_margin)),
        "test_brier_calibrated": _brier(y_test, test_calibrated),
        "test_f1": _f1_at(y_test, test_calibrated, candidate.threshold),
    }
    # In-sample AUC of the refit minus its test AUC: how much the model memorised.
    candidate.metrics["train_test_auc_gap"] = (
        candidate.metrics["train_auc"] - candidate.metrics["test_auc"]
    )


def _refit_params_fold(
    candidate: Candidate,
    spec: ModelSpec,
    x_fit: pd.DataFrame,
    y_fit: np.ndarray,
    x_valid: pd.DataFrame,
) -> np.ndarray:
    """Validation logits of one fold's model fitted with the refit's own (tuned) parameters."""
    preprocessor = make_preprocessor(candidate.family, spec)
    design_fit = preprocessor.fit_transform(x_fit)
    design_valid = DesignEncoder.from_preprocessor(preprocessor, spec).transform(x_valid, spec)
    (tail,) = fit_treatments(
        candidate.family, [candidate], spec, design_fit, y_fit, candidate.tuned
    )
    return model_margin(tail.named_steps["model"], design_valid)


def calibrate_like_the_refit(
    candidate: Candidate,
    spec: ModelSpec,
    x_train: pd.DataFrame,
    y_train: np.ndarray,
    y_test: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
) -> None:
    """Refit a tuned candidate's calibrator on scores distributed like the ones it is applied to.

    Each CV fold's model was tuned on its own rows, so its parameters (trees, depth, ...) differ
    from the final refit's, and so does the spread of its logits. The calibrator, thresholds and
    OOF probabilities are therefore recomputed from OOF logits of fold models fitted with the
    refit's parameters (no tuning): the same model, on 1 - 1/K of the rows. The CV AUC that chose
    the candidate stays the nested one. A candidate without tuned parameters is left as it is.
    """
    if not candidate.tuned:
        return
    work = [
        delayed(_refit_params_fold)(
            candidate, spec, x_train.iloc[fit], y_train[fit], x_train.iloc[valid]
        )
        for fit, valid in folds
    ]
    with threadpool_limits(limits=1, user_api="blas"):
        margins = Parallel(n_jobs=spec.n_jobs, backend="threading")(work)
    oof = np.zeros(len(y_train))
    for (_, valid), margin in zip(folds, margins, strict=True):
        oof[valid] = margin
    candidate.calibration_oof = "refit_params"
    _calibrate(candidate, spec, oof, y_train, y_test, folds)


def select_candidate(candidates: Sequence[Candidate], spec: ModelSpec) -> Candidate:
    """Highest mean CV AUC; ties go to the simpler model: the simpler family (``SIMPLICITY``:
    logistic before XGBoost), then the earlier treatment in ``spec.imbalance_treatments``.

    A tie is a mean CV AUC within ``spec.selection_tolerance`` of the best (a few thousandths
    of AUC is fold noise, not a better model); among ties the simplest wins, then the higher
    CV AUC.
    """
    usable = [
        c for c in candidates if c.status == "ok" and not math.isnan(c.metrics["cv_auc_mean"])
    ]
    if not usable:
        raise TrainingDataError("no candidate could be cross-validated")
    best = max(c.metrics["cv_auc_mean"] for c in usable)
    tied = [c for c in usable if c.metrics["cv_auc_mean"] >= best - spec.selection_tolerance]

    def key(c: Candidate) -> tuple[int, int, float]:
        return (
            SIMPLICITY[c.family],
            spec.imbalance_treatments.index(c.treatment),
            -c.metrics["cv_auc_mean"],
        )

    return min(tied, key=key)
