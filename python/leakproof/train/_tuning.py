"""XGBoost tuned inside the training rows it is given: a small seeded search with early stopping.

``tune_xgboost`` is called with the preprocessed design of the rows a model is about to be fitted
on - one outer CV fold's training rows, or all training rows for the final fit - and never sees
any other row, so the cross-validated AUC of a tuned candidate includes its tuning (nested, not
optimistic). Those rows are split once more (stratified, seeded) into an inner training part and
an inner validation part; each configuration of the search is boosted on the inner training part
with early stopping on the inner validation log loss, and the configuration with the lowest inner
log loss wins (ties to the earlier one; the first is always ``spec.xgboost_params``). Its number
of trees is the best iteration's. Log loss, not AUC: with ~1 % positives an inner validation part
holds a few dozen positives, and the AUC of so few is too noisy to stop on.

Bounded by a declared budget: ``spec.xgboost_search`` configurations of at most
``spec.xgboost_max_rounds`` rounds each on at most ``spec.tuning_max_rows`` rows - a budget in
boosting rounds, so the result never depends on the machine's speed or load. 0 configurations
turns tuning off (the fixed ``xgboost_params``).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import xgboost
from sklearn.model_selection import train_test_split

from leakproof.model_spec import ModelSpec

__all__ = ["SEARCH_SPACE", "TUNED_KEYS", "search_configurations", "tune_xgboost"]

# The search space: tree depth, learning rate, min child weight and L2 / L1 regularisation. One
# learning rate, and a fast one: early stopping picks the number of trees, and at 0.1 it stops
# after about half the rounds 0.05 needs (the budget of issue 19: the 48K build may grow 20 %).
SEARCH_SPACE: dict[str, tuple[float, ...]] = {
    "max_depth": (2, 3, 4, 5),
    "learning_rate": (0.1,),
    "min_child_weight": (1.0, 5.0, 20.0),
    "reg_lambda": (1.0, 10.0),
    "reg_alpha": (0.0, 1.0),
}
TUNED_KEYS = (*SEARCH_SPACE, "n_estimators")
INNER_VALID_FRACTION = 0.2


def search_configurations(spec: ModelSpec) -> list[dict[str, Any]]:
    """The configurations tried, in order: the declared ``xgboost_params`` first, then a seeded
    sample (without replacement) of the grid ``SEARCH_SPACE``."""
    base = {k: spec.xgboost_params.get(k, 0.0) for k in SEARCH_SPACE}
    grid = [
        dict(zip(SEARCH_SPACE, values, strict=True))
        for values in itertools.product(*SEARCH_SPACE.values())
    ]
    grid = [g for g in grid if g != base]
    rng = np.random.default_rng(spec.seed)
    picked = rng.choice(len(grid), size=min(len(grid), spec.xgboost_search - 1), replace=False)
    return [base, *(grid[i] for i in sorted(picked))]


def _booster_params(spec: ModelSpec, config: dict[str, Any]) -> dict[str, Any]:
    fixed = {k: v for k, v in spec.xgboost_params.items() if k not in (*TUNED_KEYS, "n_jobs")}
    return {
        **fixed,
        **config,
        "objective": "binary:logistic",
        "eval_metric": "logloss",
        "seed": spec.seed,
        "nthread": 1,
    }


def tune_xgboost(spec: ModelSpec, design: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """The tuned parameters (``TUNED_KEYS``) for rows ``design``/``y``; {} when tuning is off or
    the rows are too few to hold out an inner validation part with both classes."""
    if spec.xgboost_search < 1 or min(np.bincount(y, minlength=2)) < 10:
        return {}
    rows = np.arange(len(y))
    if len(rows) > spec.tuning_max_rows:
        rows, _ = train_test_split(
            rows, train_size=spec.tuning_max_rows, stratify=y, random_state=spec.seed
        )
    inner_fit, inner_valid = train_test_split(
        rows, test_size=INNER_VALID_FRACTION, stratify=y[rows], random_state=spec.seed
    )
    max_bin = int(spec.xgboost_params.get("max_bin", 256))
    fit = xgboost.QuantileDMatrix(design[inner_fit], label=y[inner_fit], max_bin=max_bin, nthread=1)
    valid = xgboost.QuantileDMatrix(
        design[inner_valid], label=y[inner_valid], ref=fit, max_bin=max_bin, nthread=1
    )
    best: tuple[float, dict[str, Any]] | None = None
    for config in search_configurations(spec):
        booster = xgboost.train(
            _booster_params(spec, config),
            fit,
            num_boost_round=spec.xgboost_max_rounds,
            evals=[(valid, "valid")],
            early_stopping_rounds=spec.xgboost_early_stopping,
            verbose_eval=False,
        )
        score = -float(booster.best_score)  # the inner validation log loss, negated
        if best is None or score > best[0]:
            best = (score, {**config, "n_estimators": int(booster.best_iteration) + 1})
    return best[1]
