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
    "BUILD_KEYS",
    "CALIBRATION_METHODS",
    "DEFAULT_THRESHOLD_GRID",
    "DEFAULT_XGBOOST_PARAMS",
    "FAMILIES",
    "MISSING_CATEGORY",
    "SCORE_CHUNK_ROWS",
    "SELECTION_RULES",
    "SIMPLICITY",
    "SPLITS",
    "THRESHOLD_OBJECTIVES",
    "TREATMENTS",
    "ModelSpec",
    "ModelSpecError",
    "TrainingDataError",
    "declared_model_problems",
]


FAMILIES = ("xgboost", "logistic")
ALGORITHMS = {"xgboost": "xgboost", "logistic": "logistic_l2"}
TREATMENTS = ("none", "class_weight", "smote")
CALIBRATION_METHODS = ("sigmoid", "isotonic")
THRESHOLD_OBJECTIVES = ("f1", "cost")
# How the model of record is chosen: the best candidate by cross-validated AUC across families and
# treatments, or the best candidate of the family a declaration pins (``primary_family``).
SELECTION_RULES = ("best_cv_auc", "pinned_family")
# Simpler first: CV AUC ties go to the earlier family, then the earlier treatment.
SIMPLICITY = {"logistic": 0, "xgboost": 1}
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
    - Models: ``families`` x ``imbalance_treatments`` are the candidates, all cross-validated;
      the model of record is the best by mean CV AUC (``selection_rule`` 'best_cv_auc'; CV AUCs
      within ``selection_tolerance`` are ties, won by the simpler model, ``SIMPLICITY``), or the
      best of ``primary_family`` when one is pinned ('pinned_family'); ``xgboost_params``
      (merged over ``DEFAULT_XGBOOST_PARAMS``) and ``logistic_c`` (L2). ``max_auc_gap``: a
      train-test AUC gap above it warns.
    - Tuning (XGBoost, inside the rows each model is fitted on; ``leakproof.train._tuning``):
      ``xgboost_search`` seeded configurations (0 = the fixed ``xgboost_params``), each boosted
      for at most ``xgboost_max_rounds`` rounds with early stopping after
      ``xgboost_early_stopping`` rounds without gain, on at most ``tuning_max_rows`` rows: the
      declared budget, in boosting rounds.
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
    primary_family: str | None = None
    families: tuple[str, ...] = FAMILIES
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
    xgboost_search: int = 3
    xgboost_max_rounds: int = 150
    xgboost_early_stopping: int = 20
    tuning_max_rows: int = 10_000
    logistic_c: float = 1.0
    logistic_max_iter: int = 100
    n_reason_codes: int = 3
    max_training_rows: int | None = 200_000
    explain_max_rows: int = 50_000
    max_auc_gap: float = 0.1
    selection_tolerance: float = 0.005
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
        if self.primary_family is not None and self.primary_family not in self.families:
            problems.append(f"primary_family {self.primary_family!r} not in {self.families}")
        if not 0.0 <= self.selection_tolerance < 0.5:
            problems.append("selection_tolerance must be in [0, 0.5)")
        if not 0.0 < self.max_auc_gap <= 1.0:
            problems.append("max_auc_gap must be in (0, 1]")
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
        if self.xgboost_search < 0:
            problems.append("xgboost_search must be >= 0 (0: no tuning)")
        if min(self.xgboost_max_rounds, self.xgboost_early_stopping) < 1:
            problems.append("xgboost_max_rounds and xgboost_early_stopping must be at least 1")
        if self.tuning_max_rows < 100:
            problems.append("tuning_max_rows must be at least 100")
        if self.explain_max_rows < 1:
            problems.append("explain_max_rows must be at least 1")
        if problems:
            raise ModelSpecError(f"invalid ModelSpec for {self.use_case!r}: " + "; ".join(problems))

    @property
    def selection_rule(self) -> str:
        """How the model of record is chosen: 'pinned_family' or 'best_cv_auc'."""
        return "best_cv_auc" if self.primary_family is None else "pinned_family"

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


# The ModelSpec fields the build sets (from the feature table and the project); a declaration's
# `model:` block may set every other field.
BUILD_KEYS = frozenset(
    {
        "use_case",
        "id_columns",
        "target",
        "numeric_features",
        "categorical_features",
        "split_column",
        "cv_fold_column",
        "cv_group_column",
        "artifact_dir",
    }
)


def declared_model_problems(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(key, problem) for each problem of a declaration's `model:` block, found before any data
    is read: unknown keys, unknown families / treatments / calibration methods / objectives, and
    whatever ``ModelSpec`` itself refuses (key '' when it names no single key)."""
    known = {f.name for f in fields(ModelSpec)} - BUILD_KEYS
    problems = [
        (key, f"unknown key (known: {', '.join(sorted(known))})")
        for key in sorted(set(values) - known)
    ]
    choices = {
        "families": FAMILIES,
        "imbalance_treatments": TREATMENTS,
        "calibration_methods": CALIBRATION_METHODS,
        "primary_family": FAMILIES,
        "threshold_objective": THRESHOLD_OBJECTIVES,
    }
    for key, allowed in choices.items():
        unknown = [v for v in _as_tuple(values.get(key)) if v not in allowed]
        if unknown:
            problems.append((key, f"unknown value(s) {unknown} (known: {', '.join(allowed)})"))
    if "xgboost_params" in values and not isinstance(values["xgboost_params"], Mapping):
        problems.append(("xgboost_params", "must be a mapping of XGBoost parameters"))
    if not problems:
        try:
            ModelSpec(
                use_case="-", id_columns=("id",), target="y", numeric_features=("x",), **values
            )
        except (ModelSpecError, TypeError, ValueError) as error:
            problems.append(("", str(error)))
    return problems
