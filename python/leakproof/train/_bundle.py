"""The trained model: everything needed to score, explain and audit it (pickled whole)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from leakproof import artifacts
from leakproof.model_spec import ALGORITHMS, ModelSpec
from leakproof.train._calibration import Calibrator
from leakproof.train._candidates import Candidate
from leakproof.train._encoding import DesignEncoder
from leakproof.train._families import _estimator_params, _family_params, model_margin

__all__ = ["ModelBundle"]


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
    params = _estimator_params(
        candidate.family, candidate.treatment, spec, y_train, candidate.tuned
    )
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
