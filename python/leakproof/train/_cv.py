"""Metrics and cross-validation folds (stratified, grouped, or given by a column)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow.compute as pc
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold

from leakproof._text import string_array
from leakproof.model_spec import ModelSpec, TrainingDataError
from leakproof.train._data import _examples, _hash_key, _require_columns

__all__ = ["make_folds"]


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    return float(roc_auc_score(y, score)) if len(np.unique(y)) == 2 else math.nan


def _pr_auc(y: np.ndarray, score: np.ndarray) -> float:
    return float(average_precision_score(y, score)) if len(np.unique(y)) == 2 else math.nan


def _brier(y: np.ndarray, probability: np.ndarray) -> float:
    return float(brier_score_loss(y, probability)) if len(y) else math.nan


def _f1_at(y: np.ndarray, probability: np.ndarray, threshold: float) -> float:
    if not len(y):
        return math.nan
    predicted = probability >= threshold
    tp = int(np.sum(predicted & (y == 1)))
    denominator = int(predicted.sum() + y.sum())
    return 2.0 * tp / denominator if denominator else 0.0


def make_folds(
    y: np.ndarray, groups: np.ndarray | None, n_folds: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Seeded stratified (group) K-fold; K shrinks to the minority-class or group count."""
    minority = int(min(np.sum(y == 0), np.sum(y == 1)))
    if minority < 2:
        raise TrainingDataError(
            f"training rows need at least 2 of each class for cross-validation; found "
            f"{int(np.sum(y == 1))} positive and {int(np.sum(y == 0))} negative"
        )
    k = min(n_folds, minority)
    if groups is None:
        return list(StratifiedKFold(k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))
    return _stratified_group_folds(y, groups, k, seed)


def _stratified_group_folds(
    y: np.ndarray, groups: np.ndarray, k: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Group K-fold stratified by each group's positive share, vectorised.

    Groups are ordered by their positive share, then their size, then a seeded hash of their
    id, and dealt to the folds in turn, so every fold gets groups from across the range of
    outcome rates and sizes. Depends on the ids and the seed, not on row order; O(G log G)
    where sklearn's StratifiedGroupKFold loops over the groups in Python (minutes at 100K+
    accounts).
    """
    codes, uniques = pd.factorize(pd.Series(groups), sort=False)
    k = min(k, len(uniques))
    size = np.bincount(codes, minlength=len(uniques))
    share = np.bincount(codes, weights=y, minlength=len(uniques)) / size
    tie = pd.util.hash_pandas_object(
        pd.Series(uniques), index=False, hash_key=_hash_key(seed)
    ).to_numpy()
    order = np.lexsort((tie, size, share))
    fold_of_group = np.empty(len(uniques), dtype=np.int64)
    fold_of_group[order] = np.arange(len(uniques)) % k
    fold = fold_of_group[codes]
    positions = np.arange(len(y))
    return [(positions[fold != f], positions[fold == f]) for f in range(k)]


def _training_folds(
    train: pd.DataFrame, y: np.ndarray, spec: ModelSpec
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The CV folds of the training rows: given by a column, grouped, or stratified."""
    if spec.cv_fold_column:
        _require_columns(train, [spec.cv_fold_column], "cv_fold_column")
        fold = train[spec.cv_fold_column]
        if fold.isna().any():
            raise TrainingDataError(
                f"cv_fold_column {spec.cv_fold_column!r} is null on training rows: "
                + _examples(train, fold.isna().to_numpy(), spec)
            )
        values = fold.to_numpy()
        labels = np.unique(values)
        if len(labels) < 2:
            raise TrainingDataError(f"cv_fold_column {spec.cv_fold_column!r} has one fold")
        positions = np.arange(len(values))
        return [(positions[values != k], positions[values == k]) for k in labels]
    groups = None
    if spec.cv_group_column:
        _require_columns(train, [spec.cv_group_column], "cv_group_column")
        groups = pc.fill_null(string_array(train[spec.cv_group_column]), "")
        groups = groups.to_numpy(zero_copy_only=False)
    return make_folds(y, groups, spec.n_folds, spec.seed)
