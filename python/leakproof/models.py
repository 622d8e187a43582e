"""The use cases as dbt runs them: which feature table, target and ids each one has, and the
steps the thin dbt Python models call - train (or load) the registered models, score a feature
table with them, and read the training tables saved with them.

Only the columns the leakage guard approved (`ml_feature_lineage`: status clean or allowed, role
feature) are ever given to a model.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from leakproof import artifacts, train

APPROVED_STATUSES = ("clean", "allowed")

# dbt runs two threads, so SQL models and tests overlap the Python models. Two Python models that
# each hold a whole feature table at once would add up, though: scores and recommendations side by
# side took the 5M-customer build to 13.4 GB (issue 9). Every Python model that reads a feature
# table whole takes its turn under this lock; the others (and all SQL) run alongside.
_LARGE_MODEL_TURN = threading.Lock()
# When set, each turn appends {"model", "waited_seconds"} to this file (JSON lines): the benchmark
# subtracts the wait from the node's time, which dbt reports including it.
TURNS_LOG_ENV = "LEAKPROOF_TURNS_LOG"


@contextmanager
def one_large_model_at_a_time(model: str) -> Iterator[None]:
    """Hold the process-wide turn of the large Python models (dbt runs them in one process);
    ``model`` names the waiting model (``dbt.this.identifier``) in the turns log."""
    started = time.perf_counter()
    with _LARGE_MODEL_TURN:
        log = os.environ.get(TURNS_LOG_ENV)
        if log:
            waited = time.perf_counter() - started
            with open(log, "a") as handle:
                handle.write(json.dumps({"model": model, "waited_seconds": waited}) + "\n")
        yield


@dataclass(frozen=True)
class UseCase:
    name: str
    feature_table: str
    id_columns: tuple[str, ...]
    target: str
    cv_fold_column: str | None = None  # reuse the feature table's folds (out-of-fold encodings)
    cv_group_column: str | None = None  # keep an entity in one fold (repeated accounts)


USE_CASES = {
    "marketing": UseCase(
        name="marketing",
        feature_table="ml_customer_features",
        id_columns=("customer_id",),
        target="conversion",
        cv_fold_column="cv_fold",
    ),
    "b2b": UseCase(
        name="b2b",
        feature_table="ml_account_features",
        id_columns=("account_id", "campaign_wave"),
        target="response_flag",
        cv_group_column="account_id",
    ),
}


def as_bool(value: Any) -> bool:
    """A dbt config value (bool, or its text after Jinja rendering) as a bool."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def approved_features(lineage: pd.DataFrame, feature_table: str) -> list[str]:
    """Feature columns of `feature_table` whose every lineage row the guard approved."""
    rows = lineage[(lineage["model"] == feature_table) & (lineage["feature_role"] == "feature")]
    if rows.empty:
        raise ValueError(f"the leakage guard has no lineage for {feature_table}; nothing to train")
    verdict = rows.groupby("feature")["status"].agg(lambda s: bool(s.isin(APPROVED_STATUSES).all()))
    rejected = sorted(verdict.index[~verdict])
    if rejected:
        raise ValueError(f"{feature_table}: the leakage guard rejected {', '.join(rejected)}")
    return sorted(verdict.index)


def model_spec(
    use_case: UseCase,
    features: pd.DataFrame,
    approved: list[str],
    settings: Mapping[str, Any],
    artifact_dir: str,
) -> train.ModelSpec:
    """The ModelSpec of a use case: the approved features split by type, plus `settings` (the
    use case's dbt var, e.g. primary_family, seed, contact_cost; see dbt_project.yml)."""
    categorical = [c for c in approved if _is_categorical(features[c])]
    numeric = [c for c in approved if c not in categorical]
    return train.ModelSpec.from_dict(
        {
            **dict(settings),
            "use_case": use_case.name,
            "id_columns": use_case.id_columns,
            "target": use_case.target,
            "numeric_features": tuple(numeric),
            "categorical_features": tuple(categorical),
            "cv_fold_column": use_case.cv_fold_column,
            "cv_group_column": use_case.cv_group_column,
            "artifact_dir": artifact_dir,
        }
    )


def _is_categorical(values: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values))


def registered_models(
    use_case_name: str,
    features: pd.DataFrame,
    lineage: pd.DataFrame,
    settings: Mapping[str, Any],
    artifact_dir: str,
    retrain: bool,
) -> pd.DataFrame:
    """The registry rows of a use case: train and register its models (`retrain`), or read the
    ones registered by the last training run - verified by sha256 when they are loaded."""
    use_case = USE_CASES[use_case_name]
    if not retrain:
        return artifacts.read_current(artifact_dir, use_case.name)
    approved = approved_features(lineage, use_case.feature_table)
    spec = model_spec(use_case, features, approved, settings, artifact_dir)
    # Also records <use_case>/current.json; the rows are scored by the use case's scores model.
    return train.train(features, spec, save=True, score_rows=False).registry


def scores(features: pd.DataFrame, registry: pd.DataFrame) -> pd.DataFrame:
    """Every row of a feature table scored by the use case's primary registered model."""
    return train.score(features, registry)


def training_table(registry: pd.DataFrame, name: str) -> pd.DataFrame:
    """One training table (e.g. ml_model_comparison) of every use case's primary model, read
    from the artifacts and verified, stacked."""
    frames = []
    for _, rows in registry.groupby("use_case", sort=True):
        tables = artifacts.load_training_tables(rows)
        frames.append(tables[name])
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def resolve(artifact_dir: str | Path) -> str:
    """The artifact directory as an absolute path (dbt runs from the project directory)."""
    return str(Path(artifact_dir).resolve())
