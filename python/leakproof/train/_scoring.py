"""Scoring: probabilities, deciles, labels and reason codes of a registered model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.compute as pc
from joblib import Parallel, delayed
from scipy.special import expit

from leakproof import artifacts, explain
from leakproof._text import string_array
from leakproof.model_spec import MISSING_CATEGORY, SCORE_CHUNK_ROWS
from leakproof.train._bundle import ModelBundle
from leakproof.train._data import _id_text, _labels, _require_columns, _split_labels

__all__ = ["predict_proba_frame", "score", "score_frame", "unseen_categories"]


def predict_proba_frame(
    bundle: ModelBundle, frame: pd.DataFrame, *, n_jobs: int | None = None
) -> pd.DataFrame:
    """Score a whole frame in one call: raw logit, raw and calibrated probability per row.

    Vectorised end to end (Arrow category lookup, numpy design matrix, one booster call per
    chunk of ``SCORE_CHUNK_ROWS`` rows to bound memory), chunks spread over ``n_jobs`` threads
    (default ``spec.n_jobs``). Every row's score is independent of the chunking and the thread
    count, bit for bit. The index is the frame's.
    """
    chunks = [
        frame.iloc[start : start + SCORE_CHUNK_ROWS]
        for start in range(0, len(frame), SCORE_CHUNK_ROWS)
    ]

    def margin_of(chunk: pd.DataFrame) -> np.ndarray:
        return bundle.margin(bundle.design_matrix(chunk))

    jobs = min(n_jobs or bundle.spec.n_jobs, max(len(chunks), 1))
    if jobs > 1:
        parts = Parallel(n_jobs=jobs, backend="threading")(delayed(margin_of)(c) for c in chunks)
    else:
        parts = [margin_of(c) for c in chunks]
    margins = np.concatenate(parts) if parts else np.zeros(0)
    return pd.DataFrame(
        {
            "raw_logit": margins,
            "raw_probability": expit(margins),
            "calibrated_probability": bundle.calibrator.predict(margins),
        },
        index=frame.index,
    )


def _deciles(score: np.ndarray, order_key: pd.DataFrame, groups: np.ndarray) -> np.ndarray:
    """Decile 1 = the highest-scoring 10% within each group; ties broken by id (stable)."""
    deciles = np.zeros(len(score), dtype=np.int64)
    base = order_key.reset_index(drop=True).sort_values(list(order_key.columns), kind="mergesort")
    by_id = base.index.to_numpy()
    for group in np.unique(groups):
        members = by_id[groups[by_id] == group]
        ranked = members[np.argsort(-score[members], kind="stable")]
        n = len(ranked)
        deciles[ranked] = (np.arange(n) * 10) // n + 1
    return deciles


def score_frame(bundle: ModelBundle, frame: pd.DataFrame) -> pd.DataFrame:
    """One scores row per input row: probabilities, decile, label, and top reason codes.

    ``predicted_label`` is ``calibrated_probability >= threshold``; deciles are within each split
    (1 = top 10% by raw score, ties by id); ``oof_calibrated_probability`` is the out-of-fold
    estimate for a training row the model was fitted on (null elsewhere) - the honest score for
    the training population. Rows are scored and explained in chunks of ``SCORE_CHUNK_ROWS``
    (every row gets its exact SHAP reason codes; memory stays bounded by the chunk, ~0.6 GB);
    a row's values do not depend on the chunking.
    """
    spec = bundle.spec
    _require_columns(frame, spec.id_columns, f"scoring {spec.use_case!r}")
    splits = _split_labels(frame, spec)
    labels = _labels(frame, spec, np.zeros(len(frame), dtype=bool))
    margins, bases, reasons = [], [], []
    for start in range(0, len(frame), SCORE_CHUNK_ROWS):
        chunk = frame.iloc[start : start + SCORE_CHUNK_ROWS]
        design = bundle.design_matrix(chunk)
        margins.append(bundle.margin(design))
        contributions, base = explain.feature_contributions_from_design(bundle, design)
        del design
        bases.append(base)
        reasons.append(
            explain.reason_codes_from_contributions(
                bundle, chunk, contributions, n=spec.n_reason_codes
            ).reset_index(drop=True)
        )
    margin = np.concatenate(margins) if margins else np.zeros(0)
    calibrated = bundle.calibrator.predict(margin)

    out = frame[list(spec.id_columns)].reset_index(drop=True)
    out.insert(0, "use_case", spec.use_case)
    out.insert(0, "model_id", bundle.model_id)
    out["split"] = splits
    out["actual_label"] = pd.Series(labels).where(labels >= 0).astype("Int64")
    out["raw_logit"] = margin
    out["raw_probability"] = expit(margin)
    out["calibrated_probability"] = calibrated
    out["oof_calibrated_probability"] = _lookup_oof(bundle, frame, splits)
    out["decile"] = _deciles(margin, _id_text(frame, spec), splits)
    out["predicted_label"] = (calibrated >= bundle.threshold).astype(np.int64)
    out["base_value"] = np.concatenate(bases) if bases else np.zeros(0)
    if reasons:
        reason_frame = pd.concat(reasons, ignore_index=True)
        for column in reason_frame.columns:
            out[column] = reason_frame[column].array  # Arrow-backed text stays Arrow
    else:
        empty = explain.reason_codes_from_contributions(
            bundle, frame, np.zeros((0, len(spec.features))), n=spec.n_reason_codes
        )
        for column in empty.columns:
            out[column] = empty[column].array
    return out


def _lookup_oof(bundle: ModelBundle, frame: pd.DataFrame, splits: np.ndarray) -> np.ndarray:
    keys = list(bundle.spec.id_columns)
    ids = _id_text(frame, bundle.spec).reset_index(drop=True)
    stored = _id_text(bundle.oof, bundle.spec).assign(
        _oof=bundle.oof["oof_calibrated_probability"].to_numpy()
    )
    merged = ids.merge(stored, on=keys, how="left", sort=False)
    values = merged["_oof"].to_numpy(dtype=np.float64, na_value=np.nan)
    return np.where(splits == "train", values, np.nan)


def unseen_categories(bundle: ModelBundle, frame: pd.DataFrame) -> pd.DataFrame:
    """Category values in ``frame`` that training never saw (reported, not fatal)."""
    rows = []
    for i, feature in enumerate(bundle.encoder.categorical_features):
        codes = bundle.encoder.category_codes(frame[feature], i)
        if (codes < 0).any():
            text = pc.fill_null(string_array(frame[feature]), MISSING_CATEGORY)
            values = pd.Series(text.to_numpy(zero_copy_only=False)[codes < 0])
            for value, count in values.value_counts(sort=False).sort_index().items():
                rows.append({"feature": feature, "value": value, "n_rows": int(count)})
    return pd.DataFrame(rows, columns=["feature", "value", "n_rows"])


def score(
    frame: pd.DataFrame, registry_row: Any, *, artifact_root: Path | str | None = None
) -> pd.DataFrame:
    """Score ``frame`` with a registered model, without retraining.

    ``registry_row`` is a registry dict/Series, or the registry frame (its 'primary' row is used).
    The artifact's sha256 is verified before it is unpickled (``ArtifactIntegrityError``).
    """
    bundle = artifacts.load_registered(registry_row, artifact_root=artifact_root)
    return score_frame(bundle, frame)
