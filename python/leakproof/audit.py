"""Layer 4 of the leakage guard: the marketing document's scenario testing (A-F), automated.

A deliberately leaky variant of the features is scored by a quick classifier; while the held-out
AUC is too good to be true (>= `alarm_auc`), a culprit is found and dropped and the next scenario
is scored:
- the strongest single column, when one alone separates the target that well on the held-out
  rows (ConversionRate; ROI_Proxy, which carries it) - a category ranked by its training rate;
- otherwise the leak lives in an interaction (CPA_Proxy = AdSpend / (Conversion + 1) is harmless
  alone), and drop-one-out among the most important columns finds it: the column whose removal
  lowers the held-out AUC most.
Nothing here knows which columns leak: the table shows the AUC of ~1.0 collapsing to the honest
value, and which columns had to go for it. The audit is only as sharp as `alarm_auc`: a leak that
keeps the held-out AUC below it is not found (lineage, layer 2, is what names such a column); on
data with a ground truth, set it just above the oracle's AUC.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.metrics import roc_auc_score

AUDIT_COLUMNS = [
    "scenario",
    "step",
    "dropped_column",
    "columns_dropped",
    "features_used",
    "test_auc",
    "is_leak",
]


@dataclass(frozen=True)
class AuditSettings:
    alarm_auc: float = 0.9  # a held-out AUC at or above this is treated as a leak
    candidates: int = 3  # drop-one-out among this many most important columns
    max_steps: int = 10
    max_training_rows: int = 10_000  # a seeded sample beyond this keeps the audit fast
    max_test_rows: int = 200_000  # likewise for the held-out rows (AUC se ~0.01 at 1 % positives)
    seed: int = 0
    trees: int = 40


def _prepared(frame: pd.DataFrame, features: Sequence[str]) -> pd.DataFrame:
    data = frame[list(features)].copy()
    for column in data.columns:
        if data[column].dtype == bool:
            data[column] = data[column].astype("int8")
        elif not pd.api.types.is_numeric_dtype(data[column]):
            data[column] = data[column].astype("category")
    return data


def _single_column_aucs(
    train: pd.DataFrame, test: pd.DataFrame, target: str, features: Sequence[str]
) -> pd.Series:
    """Direction-free held-out AUC of each column alone: its values on the test rows, a
    category by its training rate (unseen categories at the training rate overall). A category
    is never scored by rates measured on the rows it is scored on: on high-cardinality columns
    that in-sample rate is a target encoding, and would make an honest column look like a leak."""
    labels = test[target].to_numpy()
    prior = float(train[target].mean())
    aucs = {}
    for column in features:
        values = test[column]
        if values.dtype == bool:
            values = values.astype("int8")
        elif not pd.api.types.is_numeric_dtype(values):
            rates = train.groupby(column, observed=True)[target].mean()
            values = values.map(rates).astype(float).fillna(prior)
        known = values.notna().to_numpy()
        if known.sum() == 0 or len(np.unique(labels[known])) < 2:
            continue
        auc = roc_auc_score(labels[known], values.to_numpy(dtype=float)[known])
        aucs[column] = max(auc, 1 - auc)
    return pd.Series(aucs, dtype=float)


def _fit_auc(
    train: pd.DataFrame,
    test: pd.DataFrame,
    target: str,
    features: Sequence[str],
    settings: AuditSettings,
) -> tuple[float, dict[str, float]]:
    """Held-out AUC of a quick gradient-boosted model, and its gain importance per feature."""
    model = xgb.XGBClassifier(
        n_estimators=settings.trees,
        max_depth=4,
        learning_rate=0.3,
        tree_method="hist",
        enable_categorical=True,
        max_cat_to_onehot=16,
        n_jobs=2,
        random_state=settings.seed,
        eval_metric="auc",
    )
    model.fit(_prepared(train, features), train[target].to_numpy())
    scores = model.predict_proba(_prepared(test, features))[:, 1]
    importance = model.get_booster().get_score(importance_type="total_gain")
    return float(roc_auc_score(test[target].to_numpy(), scores)), importance


def leakage_audit(
    frame: pd.DataFrame,
    target: str,
    features: Sequence[str],
    split_column: str = "split",
    settings: AuditSettings | None = None,
) -> pd.DataFrame:
    """One row per scenario: the column dropped to reach it, all columns dropped so far, the
    held-out AUC, and whether it is still too good to be true. Trains on `split == 'train'` rows
    (a seeded sample of at most `max_training_rows`), scores `split == 'test'` rows (a seeded
    sample of at most `max_test_rows`)."""
    settings = settings or AuditSettings()
    labelled = frame[frame[target].notna()]
    train = labelled[labelled[split_column] == "train"]
    test = labelled[labelled[split_column] == "test"]
    if len(train) > settings.max_training_rows:
        train = train.sample(settings.max_training_rows, random_state=settings.seed)
    if len(test) > settings.max_test_rows:
        test = test.sample(settings.max_test_rows, random_state=settings.seed)
    if train[target].nunique() < 2 or test[target].nunique() < 2:
        raise ValueError("the leakage audit needs both outcomes in the train and test rows")

    remaining = list(features)
    dropped: list[str] = []
    rows = []
    auc, importance = _fit_auc(train, test, target, remaining, settings)
    for step in range(settings.max_steps + 1):
        rows.append(
            {
                "scenario": string.ascii_uppercase[step],
                "step": step,
                "dropped_column": dropped[-1] if dropped else None,
                "columns_dropped": ", ".join(dropped),
                "features_used": len(remaining),
                "test_auc": auc,
                "is_leak": auc >= settings.alarm_auc,
            }
        )
        if auc < settings.alarm_auc or step == settings.max_steps or len(remaining) < 2:
            break
        single = _single_column_aucs(train, test, target, remaining)
        if len(single) and single.max() >= settings.alarm_auc:
            culprit = str(single.idxmax())
            remaining.remove(culprit)
            auc, importance = _fit_auc(train, test, target, remaining, settings)
        else:
            ranked = sorted(remaining, key=lambda c: importance.get(c, 0.0), reverse=True)
            trials = []
            for rank, candidate in enumerate(ranked[: settings.candidates]):
                kept = [c for c in remaining if c != candidate]
                candidate_auc, candidate_importance = _fit_auc(train, test, target, kept, settings)
                trials.append((candidate_auc, rank, candidate, candidate_importance))
            # the largest fall in AUC wins; among equal AUCs the more important column
            auc, _, culprit, importance = min(trials, key=lambda t: (t[0], t[1]))
            remaining.remove(culprit)
        dropped.append(culprit)
    return pd.DataFrame(rows, columns=AUDIT_COLUMNS)
