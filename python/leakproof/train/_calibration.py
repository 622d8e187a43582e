"""Calibration: Platt scaling and isotonic regression of raw logits."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import expit, log_expit
from sklearn.isotonic import IsotonicRegression

__all__ = ["Calibrator", "fit_calibrator"]


@dataclass(frozen=True)
class Calibrator:
    """Maps a raw logit to a calibrated probability (Platt: ``expit(a*logit + b)``; isotonic)."""

    method: str
    slope: float = 1.0
    intercept: float = 0.0
    isotonic: IsotonicRegression | None = None

    def predict(self, margin: np.ndarray) -> np.ndarray:
        margin = np.asarray(margin, dtype=np.float64)
        if self.method == "sigmoid":
            return expit(self.slope * margin + self.intercept)
        if not len(margin):
            return np.zeros(0)
        return np.asarray(self.isotonic.predict(margin), dtype=np.float64)


def _platt(margin: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt scaling: ``p = expit(a * logit + b)`` by Newton's method with backtracking.

    Uses Platt's smoothed targets, so perfectly separated scores give a finite slope
    (Lin, Lin & Weng 2007, "A note on Platt's probabilistic outputs").
    """
    positives = float(y.sum())
    negatives = float(len(y) - positives)
    target = np.where(y == 1, (positives + 1.0) / (positives + 2.0), 1.0 / (negatives + 2.0))

    def loss(a: float, b: float) -> float:
        z = a * margin + b
        return float(-np.sum(target * log_expit(z) + (1.0 - target) * log_expit(-z)))

    a, b = 1.0, math.log((positives + 1.0) / (negatives + 1.0))
    value = loss(a, b)
    for _ in range(100):
        p = expit(a * margin + b)
        residual = p - target
        g_a, g_b = float(np.dot(residual, margin)), float(residual.sum())
        if abs(g_a) < 1e-9 * len(y) and abs(g_b) < 1e-9 * len(y):
            break
        w = p * (1.0 - p)
        h_aa = float(np.dot(w, margin * margin)) + 1e-12
        h_ab = float(np.dot(w, margin))
        h_bb = float(w.sum()) + 1e-12
        det = h_aa * h_bb - h_ab * h_ab
        d_a = -(h_bb * g_a - h_ab * g_b) / det
        d_b = -(h_aa * g_b - h_ab * g_a) / det
        slope = g_a * d_a + g_b * d_b
        step = 1.0
        while step >= 1e-10:
            new_a, new_b = a + step * d_a, b + step * d_b
            new_value = loss(new_a, new_b)
            if new_value <= value + 1e-4 * step * slope:
                break
            step /= 2.0
        else:
            break
        a, b, value = new_a, new_b, new_value
    return a, b


def _end_block_rate(fitted: np.ndarray, end: float) -> float:
    """Jeffreys estimate 0.5 / (n + 1) of the rate of the n rows fitted at ``end`` (0), at most
    the lowest other fitted value; 0 when no row is fitted at ``end``."""
    at_end = fitted <= end
    n = int(at_end.sum())
    if not n:
        return 0.0
    rest = fitted[~at_end]
    return min(0.5 / (n + 1), float(rest.min())) if len(rest) else 0.5 / (n + 1)


def fit_calibrator(method: str, margin: np.ndarray, y: np.ndarray) -> Calibrator:
    """Fit a calibrator on (out-of-fold) raw logits and their labels."""
    if method == "sigmoid":
        slope, intercept = _platt(margin, y)
        return Calibrator("sigmoid", slope=slope, intercept=intercept)
    isotonic = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0, increasing=True)
    isotonic.fit(margin, y.astype(np.float64))
    # Never exactly 0 or 1: an end block of n rows without a positive (or a negative) says the
    # rate is low, not that the outcome is impossible - its Jeffreys estimate is 0.5 / (n + 1),
    # kept within the next block's rate so the map stays monotone. (A calibrated 0 that
    # converted, its logit clipped at 1e-12, took the 20K-customer seed-2 B2B test calibration
    # slope to 0.04.)
    fitted = isotonic.predict(margin)
    floor, ceiling = _end_block_rate(fitted, 0.0), 1.0 - _end_block_rate(1.0 - fitted, 0.0)
    if floor > 0.0 or ceiling < 1.0:
        isotonic = IsotonicRegression(
            out_of_bounds="clip", y_min=floor, y_max=ceiling, increasing=True
        )
        isotonic.fit(margin, y.astype(np.float64))
    return Calibrator("isotonic", isotonic=isotonic)
