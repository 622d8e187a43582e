"""Cross-fitted nuisance models of off-policy evaluation: every labelled row gets its outcome
model q(x, a) for every arm and its propensities e(a | x) from models fitted on the OTHER folds,
so no row is ever scored by a model that saw it.

- outcome: a histogram gradient-boosted classifier of the outcome on the covariates and the arm
  (a categorical feature, so arm x covariate interactions are learned), scored under every arm;
- propensity: a multinomial logit of the logged arm on the covariates (numeric columns, their
  log1p when non-negative, one-hot categoricals), floored and renormalised - or the declared
  assignment probabilities of a randomised use case, which are used as they are.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from leakproof.exceptions import LeakproofError

DEFAULT_FOLDS = 5
PROPENSITY_FLOOR = 0.001
# The propensity logit of one fold is fitted on at most this many rows (a seeded sample beyond it):
# its memory is ~ rows x classes x 3 float64, ~1.2 GB per million rows at 49 arms.
PROPENSITY_MAX_ROWS = 1_000_000


def fold_ids(n: int, folds: int, seed: int) -> np.ndarray:
    """A seeded, balanced fold number (0..folds-1) for each of n rows."""
    if folds < 2:
        raise LeakproofError(f"cross-fitting needs at least 2 folds, got {folds}")
    return np.random.default_rng(seed).permutation(np.arange(n) % folds)


def covariate_design(
    frame: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str]
) -> np.ndarray:
    """Numeric covariates (missing -> median) with log1p of the non-negative ones (incomes and
    counts act on a log scale as often as not), and one-hot categoricals (missing is a level)."""
    parts = []
    for column in numeric:
        values = pd.to_numeric(frame[column], errors="coerce").astype(float)
        values = values.fillna(values.median() if values.notna().any() else 0.0).to_numpy()
        parts.append(values[:, None])
        if len(values) and values.min() >= 0:
            parts.append(np.log1p(values)[:, None])
    for column in categorical:
        parts.append(pd.get_dummies(frame[column].astype(str), dtype=float).to_numpy())
    return np.hstack(parts) if parts else np.zeros((len(frame), 1))


def _outcome_model(arm_column: int, seed: int) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(
        learning_rate=0.05,
        max_iter=200,
        max_leaf_nodes=15,
        min_samples_leaf=40,
        l2_regularization=1.0,
        categorical_features=[arm_column],
        early_stopping=True,
        validation_fraction=0.15,
        n_iter_no_change=15,
        random_state=seed,
    )


def cross_fit_outcome(
    covariates: np.ndarray,
    action: np.ndarray,
    outcome: np.ndarray,
    n_arms: int,
    folds: np.ndarray,
    seed: int = 0,
) -> np.ndarray:
    """(rows x arms) q(x_i, a): fold f's rows scored under every arm by a model fitted on the
    other folds' rows with a known arm (action >= 0)."""
    q = np.empty((len(outcome), n_arms))
    known = action >= 0
    for fold in np.unique(folds):
        fit = known & (folds != fold)
        held = np.flatnonzero(folds == fold)
        y_fit = outcome[fit]
        if y_fit.min() == y_fit.max():  # one class only: the constant is the model
            q[held] = y_fit.mean()
            continue
        model = _outcome_model(covariates.shape[1], seed).fit(
            np.column_stack([covariates[fit], action[fit]]), y_fit.astype(int)
        )
        q[held] = predict_every_arm(model, covariates[held], n_arms)
    return q


def predict_every_arm(
    model: HistGradientBoostingClassifier, x: np.ndarray, n_arms: int
) -> np.ndarray:
    """(rows x arms) P(y = 1 | x, arm) in one call on the stacked design (arm as last column)."""
    n = len(x)
    design = np.column_stack([np.tile(x, (n_arms, 1)), np.repeat(np.arange(n_arms), n)])
    return model.predict_proba(design)[:, 1].reshape(n_arms, n).T


def cross_fit_propensity(
    covariates: np.ndarray,
    action: np.ndarray,
    n_arms: int,
    folds: np.ndarray,
    *,
    seed: int = 0,
    floor: float = PROPENSITY_FLOOR,
    max_rows: int | None = PROPENSITY_MAX_ROWS,
) -> np.ndarray:
    """(rows x arms) e(a | x_i) from a multinomial logit fitted on the other folds (an arm a
    fold's training rows never received gets ``floor``); floored, rows renormalised to 1."""
    e = np.empty((len(action), n_arms))
    rng = np.random.default_rng(seed)
    for fold in np.unique(folds):
        fit = np.flatnonzero((action >= 0) & (folds != fold))
        if max_rows is not None and len(fit) > max_rows:
            fit = np.sort(rng.choice(fit, int(max_rows), replace=False))
        held = np.flatnonzero(folds == fold)
        scaler = StandardScaler().fit(covariates[fit])
        model = LogisticRegression(max_iter=1000, random_state=seed)
        model.fit(scaler.transform(covariates[fit]), action[fit])
        raw = model.predict_proba(scaler.transform(covariates[held]))
        out = np.full((len(held), n_arms), floor)
        out[:, model.classes_.astype(int)] = np.maximum(raw, floor)
        e[held] = out / out.sum(axis=1, keepdims=True)
    return e


__all__ = [
    "DEFAULT_FOLDS",
    "PROPENSITY_FLOOR",
    "PROPENSITY_MAX_ROWS",
    "covariate_design",
    "cross_fit_outcome",
    "cross_fit_propensity",
    "fold_ids",
    "predict_every_arm",
]
