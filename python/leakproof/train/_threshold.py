"""Threshold sweeps: confusion counts, F1 and expected value per threshold."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from leakproof.model_spec import ModelSpec

__all__ = ["choose_thresholds", "threshold_sweep"]


def threshold_sweep(
    y_true: np.ndarray,
    probability: np.ndarray,
    grid: Sequence[float],
    *,
    contact_cost: float,
    conversion_value: float,
) -> pd.DataFrame:
    """Confusion counts and metrics at each threshold (a row is positive when p >= threshold).

    ``expected_value = conversion_value * tp - contact_cost * (tp + fp)``: contact everyone
    predicted positive, earn the value of each conversion among them. ``expected_cost`` is its
    negative (net cost of the campaign). Precision, recall and F1 are 0 where undefined.
    """
    y = np.asarray(y_true) == 1
    p = np.asarray(probability, dtype=np.float64)
    thresholds = np.asarray(grid, dtype=np.float64)
    predicted = p[:, None] >= thresholds[None, :]
    tp = (predicted & y[:, None]).sum(axis=0)
    flagged = predicted.sum(axis=0)
    fp = flagged - tp
    fn = int(y.sum()) - tp
    tn = len(y) - tp - fp - fn

    def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
        return np.divide(num, den, out=np.zeros(len(thresholds)), where=den > 0)

    value = conversion_value * tp - contact_cost * flagged
    return pd.DataFrame(
        {
            "threshold": thresholds,
            "n_rows": len(y),
            "tp": tp.astype(np.int64),
            "fp": fp.astype(np.int64),
            "tn": tn.astype(np.int64),
            "fn": fn.astype(np.int64),
            "precision": ratio(tp, tp + fp),
            "recall": ratio(tp, tp + fn),
            "f1": ratio(2.0 * tp, 2.0 * tp + fp + fn),
            "expected_value": value.astype(np.float64),
            "expected_cost": (contact_cost * flagged - conversion_value * tp).astype(np.float64),
        }
    )


def choose_thresholds(sweep: pd.DataFrame) -> dict[str, float]:
    """F1-optimal and cost-optimal thresholds of a sweep (lowest threshold on ties)."""
    f1 = sweep["f1"].to_numpy()
    value = sweep["expected_value"].to_numpy()
    thresholds = sweep["threshold"].to_numpy()
    return {
        "f1": float(thresholds[int(np.argmax(f1))]),
        "cost": float(thresholds[int(np.argmax(value))]),
    }


def _sweep(spec: ModelSpec, y: np.ndarray, probability: np.ndarray) -> pd.DataFrame:
    return threshold_sweep(
        y,
        probability,
        spec.threshold_grid,
        contact_cost=spec.contact_cost,
        conversion_value=spec.conversion_value,
    )
