"""Too good to be true: a model's held-out AUC against the oracle's (layer 4 of the leakage guard).

Where a use case's data has a ground truth (the generator's sidecar, `truth:` in the
declaration), the true probability of each row is the best any honest model can rank by: its AUC
on the test rows is the oracle's. A model whose test AUC is above the oracle's beyond the
sampling interval of the difference has learnt something the truth does not contain - a leak.
The interval is DeLong's, paired (both AUCs on the same rows). On real data without a truth, a
declared plausibility ceiling (`gates: {max_auc: ...}`) does the same job.

    delong(labels, [scores_a, scores_b])   -> DeLong(aucs, covariance)
    oracle_comparisons(scores, use_cases, raw_dir, z)   -> ml_oracle_comparison
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm, rankdata

from leakproof import whatif

# the columns of ml_oracle_comparison, in order, typed (the table exists, empty, without scores)
ORACLE_SCHEMA = {
    "use_case": "string",
    "model_id": "string",
    "evaluated_split": "string",
    "rows_evaluated": "int64",
    "positives": "int64",
    "rows_without_truth": "int64",
    "model_auc": "float64",
    "model_auc_ci_lower": "float64",
    "model_auc_ci_upper": "float64",
    "has_truth": "bool",
    "oracle_auc": "float64",
    "auc_difference": "float64",
    "difference_se": "float64",
    "difference_ci_lower": "float64",
    "difference_ci_upper": "float64",
    "difference_p_value": "float64",
    "max_auc": "float64",
    "is_above_oracle": "bool",
    "is_above_ceiling": "bool",
    "verdict": "string",
    "message": "string",
}


@dataclass(frozen=True)
class DeLong:
    """AUCs of k scores on the same rows and DeLong's k x k covariance of them."""

    aucs: np.ndarray
    covariance: np.ndarray

    def difference(self, a: int = 0, b: int = 1) -> tuple[float, float]:
        """AUC[a] - AUC[b] and its standard error (paired)."""
        c = self.covariance
        variance = c[a, a] + c[b, b] - 2.0 * c[a, b]
        return float(self.aucs[a] - self.aucs[b]), float(np.sqrt(max(variance, 0.0)))


def delong(labels: Sequence[int] | np.ndarray, scores: Sequence[np.ndarray]) -> DeLong:
    """DeLong, DeLong & Clarke-Pearson (1988), computed with midranks (Sun & Xu 2014) in
    O(n log n): each positive's placement is the share of negatives it outranks (ties half), each
    negative's the share of positives that outrank it; the AUC is their mean and its variance
    var(positive placements) / m + var(negative placements) / n."""
    y = np.asarray(labels).astype(bool)
    matrix = np.vstack([np.asarray(s, dtype=np.float64) for s in scores])
    m, n = int(y.sum()), int((~y).sum())
    if m < 2 or n < 2:
        raise ValueError(f"DeLong needs at least two positives and two negatives ({m}, {n})")
    positives, negatives = matrix[:, y], matrix[:, ~y]
    overall = np.vstack([rankdata(row) for row in matrix])
    within_positives = np.vstack([rankdata(row) for row in positives])
    within_negatives = np.vstack([rankdata(row) for row in negatives])
    # placements: negatives below each positive; positives above each negative
    positive_placements = (overall[:, y] - within_positives) / n
    negative_placements = 1.0 - (overall[:, ~y] - within_negatives) / m
    aucs = positive_placements.mean(axis=1)
    covariance = np.atleast_2d(np.cov(positive_placements)) / m + (
        np.atleast_2d(np.cov(negative_placements)) / n
    )
    return DeLong(aucs, covariance)


def compare_with_oracle(
    labels: np.ndarray,
    model: np.ndarray,
    oracle: np.ndarray | None,
    max_auc: float | None,
    z: float,
) -> dict[str, Any]:
    """One use case x model: the model's AUC with its interval, and, with an oracle, the paired
    difference with its interval and a one-sided p-value of 'model above oracle'."""
    out: dict[str, Any] = {"max_auc": max_auc, "has_truth": oracle is not None}
    result = delong(labels, [model] if oracle is None else [model, oracle])
    auc, se = float(result.aucs[0]), float(np.sqrt(max(result.covariance[0, 0], 0.0)))
    out |= {"model_auc": auc, "model_auc_ci_lower": auc - z * se}
    out["model_auc_ci_upper"] = auc + z * se
    out["is_above_ceiling"] = max_auc is not None and auc > max_auc
    out["is_above_oracle"] = False
    if oracle is not None:
        difference, se = result.difference(0, 1)
        lower, upper = difference - z * se, difference + z * se
        out |= {
            "oracle_auc": float(result.aucs[1]),
            "auc_difference": difference,
            "difference_se": se,
            "difference_ci_lower": lower,
            "difference_ci_upper": upper,
            "difference_p_value": float(norm.sf(difference / se)) if se > 0 else float("nan"),
            "is_above_oracle": bool(lower > 0),
        }
    return out


def _message(use_case: str, model_id: str, row: dict[str, Any]) -> str | None:
    name = f"ml_oracle_comparison: {use_case} model {model_id}"
    reasons = []
    if row["is_above_oracle"]:
        reasons.append(
            f"test AUC {row['model_auc']:.3f} is above the oracle's {row['oracle_auc']:.3f} on "
            f"the same {row['rows_evaluated']} rows (difference {row['auc_difference']:+.3f}, "
            f"interval {row['difference_ci_lower']:+.3f} .. {row['difference_ci_upper']:+.3f})"
        )
    if row["is_above_ceiling"]:
        reasons.append(
            f"test AUC {row['model_auc']:.3f} is above the declared ceiling gates.max_auc "
            f"{row['max_auc']:g}"
        )
    if not reasons:
        return None
    return f"{name}: {'; '.join(reasons)} - too good to be true: a feature leaks the target"


def oracle_comparisons(
    scores: pd.DataFrame,
    use_cases: Sequence[Any],
    raw_dir: str | None,
    z: float,
) -> pd.DataFrame:
    """ml_oracle_comparison: one row per use case x scored model on its labelled test rows.

    `scores`: use_case, model_id, entity_key, actual_label, calibrated_probability of the test
    rows; `use_cases`: steps.UseCaseTables. Rows the sidecar lacks are left out of both AUCs."""
    rows = []
    for tables in use_cases:
        declaration = tables.declaration
        source = whatif.truth_source(declaration, raw_dir)
        max_auc = declaration.gates.get("max_auc")
        mine = scores[(scores["use_case"] == tables.name) & scores["actual_label"].notna()]
        for model_id, group in mine.groupby("model_id", sort=True):
            labels = group["actual_label"].to_numpy().astype(int)
            model = group["calibrated_probability"].to_numpy(dtype=np.float64)
            oracle = None
            keep = np.ones(len(group), dtype=bool)
            if source is not None:
                wanted = {"p": (np.zeros(len(group), dtype=int), [source.probability])}
                oracle = whatif.truth_values(source, group["entity_key"], wanted)["p"]
                keep = ~np.isnan(oracle)
                oracle = oracle[keep]
            row: dict[str, Any] = {
                "use_case": tables.name,
                "model_id": str(model_id),
                "evaluated_split": "test",
                "rows_evaluated": int(keep.sum()),
                "positives": int(labels[keep].sum()),
                "rows_without_truth": int((~keep).sum()) if source is not None else 0,
            }
            try:
                row |= compare_with_oracle(
                    labels[keep],
                    model[keep],
                    oracle,
                    None if max_auc is None else float(max_auc),
                    z,
                )
                row["verdict"] = (
                    "too_good" if row["is_above_oracle"] or row["is_above_ceiling"] else "plausible"
                )
            except ValueError as error:
                row |= {"has_truth": source is not None, "max_auc": max_auc}
                row["verdict"] = "not_evaluated"
                row["message"] = f"ml_oracle_comparison: {tables.name} model {model_id}: {error}"
            row.setdefault("message", _message(tables.name, str(model_id), row))
            rows.append(row)
    frame = pd.DataFrame(rows, columns=list(ORACLE_SCHEMA))
    return frame.astype(ORACLE_SCHEMA)


__all__ = ["ORACLE_SCHEMA", "DeLong", "compare_with_oracle", "delong", "oracle_comparisons"]
