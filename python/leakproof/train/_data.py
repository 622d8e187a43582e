"""Input validation and preparation: labels, splits, the design frame, ids, the training sample
and the training data's canonical hash."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from leakproof._text import string_array
from leakproof.model_spec import MISSING_CATEGORY, SPLITS, ModelSpec, TrainingDataError

__all__ = ["design_frame", "training_data_sha256", "training_sample"]


def _examples(frame: pd.DataFrame, mask: np.ndarray, spec: ModelSpec, limit: int = 5) -> str:
    """A short description of the first offending rows: by id, or by index without ids."""
    mask = np.asarray(mask, dtype=bool)
    keys = [c for c in spec.id_columns if c in frame.columns]
    if keys:
        rows = frame.loc[mask, keys].head(limit)
        shown = [
            ", ".join(f"{c}={v}" for c, v in zip(keys, r, strict=True))
            for r in rows.itertuples(index=False)
        ]
    else:
        shown = [f"index={i}" for i in frame.index[mask][:limit]]
    return f"{int(mask.sum())} row(s), e.g. " + "; ".join(f"({i})" for i in shown)


def _require_columns(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise TrainingDataError(f"{what}: missing column(s) {missing}; found {list(frame.columns)}")


def _numeric_values(frame: pd.DataFrame, column: str, spec: ModelSpec) -> np.ndarray:
    """A numeric feature as float64 with NaN for missing; text or infinities are an error."""
    series = frame[column]
    if pd.api.types.is_bool_dtype(series.dtype):
        series = series.astype("Float64")
    values = pd.to_numeric(series, errors="coerce")
    out = values.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.isnan(out) & series.notna().to_numpy()
    if bad.any():
        raise TrainingDataError(
            f"numeric feature {column!r} has non-numeric values in " + _examples(frame, bad, spec)
        )
    if np.isinf(out).any():
        raise TrainingDataError(
            f"numeric feature {column!r} has infinite values in "
            + _examples(frame, np.isinf(out), spec)
        )
    return out


def design_frame(frame: pd.DataFrame, spec: ModelSpec) -> pd.DataFrame:
    """The features as the pipelines see them: float64 numerics, text categories.

    A missing category becomes the category ``'(missing)'`` (a value like any other).
    """
    _require_columns(frame, spec.features, f"use case {spec.use_case!r} features")
    data: dict[str, Any] = {c: _numeric_values(frame, c, spec) for c in spec.numeric_features}
    for column in spec.categorical_features:
        filled = pc.fill_null(string_array(frame[column]), MISSING_CATEGORY)
        data[column] = filled.to_numpy(zero_copy_only=False)
    return pd.DataFrame(data, index=frame.index)


def _split_labels(frame: pd.DataFrame, spec: ModelSpec) -> np.ndarray:
    if spec.split_column not in frame.columns:
        return np.full(len(frame), "score", dtype=object)
    values = pc.fill_null(string_array(frame[spec.split_column]), "").to_numpy(zero_copy_only=False)
    bad = ~np.isin(values, SPLITS)
    if bad.any():
        raise TrainingDataError(
            f"column {spec.split_column!r} must be one of {SPLITS}; other values in "
            + _examples(frame, bad, spec)
        )
    return values


def _labels(frame: pd.DataFrame, spec: ModelSpec, required: np.ndarray) -> np.ndarray:
    """The target as int8 (0/1), -1 where absent; required rows must be 0 or 1."""
    if spec.target not in frame.columns:
        if required.any():
            raise TrainingDataError(f"target column {spec.target!r} is missing")
        return np.full(len(frame), -1, dtype=np.int8)
    series = frame[spec.target]
    if pd.api.types.is_bool_dtype(series.dtype):
        series = series.astype("Float64")
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    valid = (values == 0) | (values == 1)
    bad = required & ~valid
    if bad.any():
        raise TrainingDataError(
            f"target {spec.target!r} must be 0 or 1 on train/test rows; missing or other values "
            "in " + _examples(frame, bad, spec)
        )
    return np.where(valid, values, -1).astype(np.int8)


def _check_unique_ids(frame: pd.DataFrame, splits: np.ndarray, spec: ModelSpec) -> None:
    keys = frame[list(spec.id_columns)].assign(_split=splits)
    duplicated = keys.duplicated(keep=False).to_numpy()
    if duplicated.any():
        raise TrainingDataError(
            f"id column(s) {list(spec.id_columns)} are not unique within a split: "
            + _examples(frame, duplicated, spec)
        )


def _id_text(frame: pd.DataFrame, spec: ModelSpec) -> pd.DataFrame:
    return pd.DataFrame(
        {
            c: pc.fill_null(string_array(frame[c]), "\x00").to_numpy(zero_copy_only=False)
            for c in spec.id_columns
        },
        index=frame.index,
    )


def training_data_sha256(frame: pd.DataFrame, spec: ModelSpec) -> str:
    """sha256 of the canonical training frame: 'train' rows, ids + features + target, by id.

    Canonical means independent of row order, column order beyond the spec, pandas dtypes
    (int vs float vs nullable) and string storage: numerics as little-endian float64 (one NaN,
    no negative zero), everything else as UTF-8 text.
    """
    splits = _split_labels(frame, spec)
    train = frame.loc[splits == "train"].reset_index(drop=True)
    ids = _id_text(train, spec)
    order = ids.sort_values(list(spec.id_columns), kind="mergesort").index.to_numpy()
    train, ids = train.iloc[order], ids.iloc[order]
    digest = hashlib.sha256()
    digest.update(f"rows={len(train)}\n".encode())

    def add_text(name: str, values: np.ndarray) -> None:
        digest.update(f"{name}:text\n".encode())
        digest.update("\x1f".join(values.tolist()).encode("utf-8"))
        digest.update(b"\n")

    for column in spec.id_columns:
        add_text(column, ids[column].to_numpy())
    for column in spec.numeric_features:
        values = _numeric_values(train, column, spec) + 0.0  # -0.0 -> 0.0
        values[np.isnan(values)] = np.nan
        digest.update(f"{column}:float64\n".encode())
        digest.update(values.astype("<f8").tobytes())
        digest.update(b"\n")
    for column in spec.categorical_features:
        add_text(column, pc.fill_null(string_array(train[column]), "\x00").to_numpy(False))
    labels = _labels(train, spec, np.ones(len(train), dtype=bool))
    digest.update(f"{spec.target}:int8\n".encode())
    digest.update(labels.tobytes())
    return digest.hexdigest()


def _hash_key(seed: int) -> str:
    """pandas' row hash takes a 16-character key; one per seed."""
    return f"leakproof{abs(int(seed)) % 10**7:07d}"


def training_sample(
    train: pd.DataFrame, y: np.ndarray, spec: ModelSpec, cap: int | None = None
) -> np.ndarray:
    """Positions (ascending) of the training rows a model is fitted on.

    Every row up to ``cap`` (default ``spec.max_training_rows``). Beyond it, a seeded sample of
    that size: within
    each class the rows with the smallest seeded hash of their id (so the class balance is kept
    to a row), or whole groups in hash order when ``cv_group_column`` is set (an account's waves
    stay together). It depends on the ids and the seed only - not on row order - so two builds on
    the same data fit the same rows. Why a cap: the fit time of the CV grid grows with the rows
    while the held-out AUC stops improving long before millions of rows (README, Benchmark);
    every row is still scored and every test row still evaluated.
    """
    n = len(y)
    cap = spec.max_training_rows if cap is None else cap
    if cap is None or n <= cap:
        return np.arange(n)
    key = _hash_key(spec.seed)
    if spec.cv_group_column:
        _require_columns(train, [spec.cv_group_column], "cv_group_column")
        group = pd.Series(
            pc.fill_null(string_array(train[spec.cv_group_column]), "").to_numpy(False)
        )
        codes, uniques = pd.factorize(group, sort=False)
        group_hash = pd.util.hash_pandas_object(
            pd.Series(uniques), index=False, hash_key=key
        ).to_numpy()
        order = np.argsort(group_hash, kind="stable")
        sizes = np.bincount(codes, minlength=len(uniques))[order]
        kept = order[: int(np.searchsorted(np.cumsum(sizes), cap, side="right"))]
        return np.flatnonzero(np.isin(codes, kept))
    row_hash = pd.util.hash_pandas_object(
        _id_text(train, spec), index=False, hash_key=key
    ).to_numpy()
    keep = np.zeros(n, dtype=bool)
    for label in (0, 1):
        members = np.flatnonzero(y == label)
        quota = max(min(len(members), 2), round(len(members) * cap / n))
        keep[members[np.argsort(row_hash[members], kind="stable")[:quota]]] = True
    return np.flatnonzero(keep)
