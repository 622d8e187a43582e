"""Yardsticks for a use case's model of record, on its own held-out test split.

- ``oracle``: the AUC of the generator's true probabilities (the ceiling no model can pass on
  average), where the declaration names a ground-truth sidecar and the file exists;
- ``plain_logistic``: a plain standardised logistic regression (median imputation, standard
  scaling, one-hot categories with the first level as the reference, scikit-learn's L2 logistic
  regression at C = 1 solved to convergence) fitted on the same training rows and the same
  approved features as the registered models, built from scikit-learn alone (not leakproof's
  training code), so the model of record is checked against an independent baseline.

  It is the same model as the simplest candidate of the selection (logistic_l2 / none: the
  same specification, fitted by leakproof's own pipeline), so when that candidate is the model
  of record the two test AUCs agree (to the solvers' tolerance), and the model of record is
  below the baseline only where cross-validation preferred another candidate by more than
  ``selection_tolerance``. (Solved only to scikit-learn's default tolerance and with every
  category a column, the baseline was a slightly different fit, whose test AUC differed from
  the same model's by up to 0.003 on the 48K demo data, either way: solver noise, not a better
  model.)

Both are evaluation only: training never reads them, and the truth never reaches a model.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from leakproof import whatif
from leakproof.model_spec import ModelSpec
from leakproof.train import design_frame, training_sample

__all__ = ["YARDSTICK_SCHEMA", "model_yardsticks", "oracle_auc", "plain_logistic_auc"]

YARDSTICK_SCHEMA = {
    "use_case": "object",
    "yardstick": "object",
    "test_rows": "int64",
    "test_auc": "float64",
}


def plain_logistic_auc(features: pd.DataFrame, spec: ModelSpec) -> float:
    """Test AUC of a plain standardised logistic regression on ``spec``'s features, fitted on
    the training rows a registered model is fitted on (``training_sample``)."""
    train = features[features[spec.split_column] == "train"]
    test = features[features[spec.split_column] == "test"]
    y_train = train[spec.target].astype(np.int64).to_numpy()
    train = train.iloc[training_sample(train, y_train, spec)]
    y_train = train[spec.target].astype(np.int64).to_numpy()
    parts: list[tuple[str, Any, list[str]]] = []
    if spec.numeric_features:
        numeric = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
        parts.append(("num", numeric, list(spec.numeric_features)))
    if spec.categorical_features:
        encoder = OneHotEncoder(drop="first", handle_unknown="ignore")
        parts.append(("cat", encoder, list(spec.categorical_features)))
    # C = 1 (scikit-learn's default), to convergence: the L2 optimum is unique, so any solver
    # that converges gives this model.
    model = LogisticRegression(solver="newton-cholesky", tol=1e-8, max_iter=1000)
    pipeline = make_pipeline(ColumnTransformer(parts), model)
    pipeline.fit(design_frame(train, spec), y_train)
    score = pipeline.decision_function(design_frame(test, spec))
    return float(roc_auc_score(test[spec.target].astype(np.int64), score))


def oracle_auc(source: whatif.TruthSource, test: pd.DataFrame, target: str) -> float:
    """Test AUC of the true probabilities of the test rows (by ``entity_key``); NaN when the
    sidecar lacks a row."""
    wanted = {"p": (np.zeros(len(test), dtype=np.int64), [source.probability])}
    truth = whatif.truth_values(source, test["entity_key"], wanted)["p"]
    if np.isnan(truth).any():
        return float("nan")
    return float(roc_auc_score(test[target].astype(np.int64), truth))


def model_yardsticks(
    read: Callable[..., pd.DataFrame],
    use_cases: Sequence[Any],
    registry: pd.DataFrame,
    raw_dir: str | None,
) -> pd.DataFrame:
    """One row per use case and yardstick (oracle only where a sidecar exists)."""
    rows = []
    for tables in use_cases:
        declaration = tables.declaration
        primary = registry[(registry["use_case"] == tables.name) & (registry["role"] == "primary")]
        if primary.empty:
            continue
        record = primary.iloc[0]
        spec = ModelSpec(
            use_case=tables.name,
            id_columns=("entity_key",),
            target=declaration.target,
            numeric_features=tuple(json.loads(record["numeric_features"])),
            categorical_features=tuple(json.loads(record["categorical_features"])),
            seed=int(record["seed"]),
            cv_group_column=declaration.split.fold_group,
            max_training_rows=declaration.model.get("max_training_rows", 200_000),
        )
        group = [spec.cv_group_column] if spec.cv_group_column else []
        columns = ["entity_key", "split", declaration.target, *group, *spec.features]
        features = read(
            tables.features,
            list(dict.fromkeys(columns)),
            "split in ('train', 'test')",
            "entity_key",
        )
        test = features[features["split"] == "test"]
        rows.append(
            {
                "use_case": tables.name,
                "yardstick": "plain_logistic",
                "test_rows": len(test),
                "test_auc": plain_logistic_auc(features, spec),
            }
        )
        source = whatif.truth_source(declaration, raw_dir)
        if source is not None:
            rows.append(
                {
                    "use_case": tables.name,
                    "yardstick": "oracle",
                    "test_rows": len(test),
                    "test_auc": oracle_auc(source, test, declaration.target),
                }
            )
        del features
    frame = pd.DataFrame(rows, columns=list(YARDSTICK_SCHEMA))
    return frame.astype(YARDSTICK_SCHEMA)
