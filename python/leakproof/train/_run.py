"""Training: one call, every table."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from leakproof import artifacts, explain
from leakproof.model_spec import ModelSpec, TrainingDataError
from leakproof.train._bundle import ModelBundle, _bundle
from leakproof.train._candidates import (
    Candidate,
    calibrate_like_the_refit,
    evaluate_candidates,
    select_candidate,
)
from leakproof.train._cv import _training_folds
from leakproof.train._data import (
    _check_unique_ids,
    _labels,
    _require_columns,
    _split_labels,
    design_frame,
    training_data_sha256,
    training_sample,
)
from leakproof.train._scoring import score_frame
from leakproof.train._threshold import _sweep

__all__ = ["TrainResult", "train"]


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
        "train_auc",
        "test_auc",
        "train_test_auc_gap",
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
                "calibration_fitted_on": c.calibration_oof if c.calibrator else None,
                "calibration_cv_brier": json.dumps(c.calibration_brier, sort_keys=True)
                if c.calibration_brier
                else None,
                "threshold_objective": spec.threshold_objective,
                "threshold": c.threshold,
                "threshold_f1": c.thresholds.get("f1", math.nan),
                "threshold_cost": c.thresholds.get("cost", math.nan),
                "is_chosen_for_family": is_chosen,
                "is_primary": is_chosen and c.family == primary_family,
                "selection_rule": spec.selection_rule,
                "max_auc_gap": spec.max_auc_gap,
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
    # A tuned chosen candidate's calibrator is refitted on logits of fold models with its own
    # parameters (the fold models of the nested CV were tuned differently).
    for candidate in chosen.values():
        calibrate_like_the_refit(candidate, spec, x_train, y_train, y_test, folds)
    # The model of record: the best candidate by CV AUC across families and treatments, unless
    # the spec pins a family (then the best of that family).
    primary_family = spec.primary_family or select_candidate(list(chosen.values()), spec).family

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
