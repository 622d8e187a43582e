"""The model specification: what defines how one use case's models are trained and scored.

Light on purpose (no scikit-learn or XGBoost import): declarations validate their `model:` keys
against it before a build starts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from leakproof.exceptions import LeakproofError

__all__ = [
    "ALGORITHMS",
    "CALIBRATION_METHODS",
    "DEFAULT_THRESHOLD_GRID",
    "DEFAULT_XGBOOST_PARAMS",
    "FAMILIES",
    "MISSING_CATEGORY",
    "MODEL_SELECTIONS",
    "SCORE_CHUNK_ROWS",
    "SPLITS",
    "THRESHOLD_OBJECTIVES",
    "TREATMENTS",
    "ModelSpec",
    "ModelSpecError",
    "TrainingDataError",
]


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


class TrainingDataError(LeakproofError, ValueError):
    """The input frame cannot be trained on or scored; the message names the column and rows."""


class ModelSpecError(LeakproofError, ValueError):
    """A model specification is invalid; the message names the use case and the keys."""


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
            raise ModelSpecError(f"invalid ModelSpec for {self.use_case!r}: " + "; ".join(problems))

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
            raise ModelSpecError(f"unknown ModelSpec keys: {unknown}; known keys: {sorted(known)}")
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
