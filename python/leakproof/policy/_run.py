"""The whole off-policy evaluation of one recommendation over every labelled row: cross-fitted
nuisance models (or the declared propensities), the standard target policies, the estimates, and
the rows of the observed rate and the recommending model's own claim."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from leakproof.policy import _cross_fit as cf
from leakproof.policy._estimate import LoggedData, Thresholds, evaluate_policies
from leakproof.policy._targets import standard_policies

# The most labelled rows one evaluation reads (a seeded sample above it); the default demo's
# 48K customers are all read.
MAX_ROWS = 100_000
ORDER = ("observed", "model_claim", "direct_method", "ipw", "snipw", "doubly_robust")


@dataclass(frozen=True)
class Truth:
    """The generator's truth for the evaluated rows: every arm's true probability (rows x arms),
    the logged arm's, and the true propensity of the logged arm (None when unknown)."""

    arms: np.ndarray
    logged: np.ndarray
    propensity: np.ndarray | None = None


def evaluate_recommendation(
    covariates: np.ndarray,
    action: np.ndarray,
    outcome: np.ndarray,
    arms: Sequence[str],
    recommended: np.ndarray,
    *,
    held_out: np.ndarray | None = None,
    claim_current: np.ndarray | None = None,
    claim_recommended: np.ndarray | None = None,
    declared_propensity: np.ndarray | None = None,
    truth: Truth | None = None,
    thresholds: Thresholds | None = None,
    folds: int = cf.DEFAULT_FOLDS,
    seed: int = 0,
    soft_share: float = 0.5,
    propensity_max_rows: int | None = cf.PROPENSITY_MAX_ROWS,
    max_rows: int | None = MAX_ROWS,
) -> pd.DataFrame:
    """Rows with a known logged arm (action >= 0) only; ``recommended`` the arm index the model
    recommends per row, ``held_out`` the rows it was not trained on (the recommendation's
    policies are evaluated there; None: every row); ``claim_*`` the model's probabilities at the
    current / recommended arm. The nuisance models are cross-fitted over every row; above
    ``max_rows`` rows, over a seeded sample of that many (every policy is a rows x arms matrix:
    49 arms x 1M rows x 53 policies would not fit in memory); rows_evaluated says how many."""
    thresholds = thresholds or Thresholds()
    keep = np.flatnonzero(action >= 0)
    if max_rows is not None and len(keep) > max_rows:
        keep = np.sort(np.random.default_rng(seed).choice(keep, int(max_rows), replace=False))
    covariates, action, outcome = covariates[keep], action[keep], outcome.astype(float)[keep]
    recommended = recommended[keep]
    held = held_out[keep] if held_out is not None else None
    k = len(arms)
    fold = cf.fold_ids(len(outcome), folds, seed)
    q = cf.cross_fit_outcome(covariates, action, outcome, k, fold, seed)
    if declared_propensity is not None:
        e, source = declared_propensity[keep], "declared"
    else:
        e = cf.cross_fit_propensity(
            covariates, action, k, fold, seed=seed, max_rows=propensity_max_rows
        )
        source = "cross_fitted"
    data = LoggedData(outcome, action, e, q)
    policies = standard_policies(
        recommended,
        e,
        list(arms),
        min_propensity=thresholds.min_propensity,
        soft_share=soft_share,
        held_out=held,
    )
    truth_arms = truth.arms[keep] if truth is not None else None
    truth_logged = truth.logged[keep] if truth is not None else None
    table = evaluate_policies(
        data, policies, thresholds=thresholds, truth=truth_arms, truth_logged=truth_logged
    )
    table["arm"] = (
        table["policy"].where(table["policy_kind"] == "fixed_arm").str.removeprefix("always ")
    )
    extra = [_observed(outcome, thresholds.level, table)]
    if claim_current is not None and claim_recommended is not None:
        rows = held if held is not None else np.ones(len(outcome), dtype=bool)
        extra += _claims(claim_current[keep][rows], claim_recommended[keep][rows], table)
    table = pd.concat([table, pd.DataFrame(extra)], ignore_index=True)
    n = len(outcome)
    claimed = table["estimator"] == "model_claim"
    table.loc[claimed, "rows_evaluated"] = int(held.sum()) if held is not None else n
    table["rows_evaluated"] = table["rows_evaluated"].fillna(n).astype("int64")
    table["expected_positives"] = table["positive_rate"] * table["rows_evaluated"]
    table["is_model_claimed"] = table["estimator"] == "model_claim"
    table["has_truth"] = truth is not None
    table["propensity_source"] = source
    mae = corr = np.nan
    if truth is not None and truth.propensity is not None:
        e_logged, true_e = e[np.arange(n), action], truth.propensity[keep]
        mae = float(np.mean(np.abs(e_logged - true_e)))
        corr = float(np.corrcoef(e_logged, true_e)[0, 1]) if np.std(true_e) > 0 else np.nan
    table["propensity_mae_vs_truth"] = mae
    table["propensity_corr_vs_truth"] = corr
    table["outcome_brier"] = float(np.mean((q[np.arange(n), action] - outcome) ** 2))
    table["cross_fit_folds"] = folds
    table["min_propensity"] = thresholds.min_propensity
    table["min_overlap"] = thresholds.min_overlap
    table["min_ess"] = thresholds.min_ess
    table["min_effective_positives"] = thresholds.min_effective_positives
    table["estimator_order"] = table["estimator"].map({e: i for i, e in enumerate(ORDER)})
    table["policy_order"] = table["policy"].map({p: i for i, p in enumerate(policies)})
    return table.sort_values(["policy_order", "estimator_order"], ignore_index=True).drop(
        columns="policy_order"
    )


def _historical(table: pd.DataFrame, column: str) -> object:
    return table.loc[table["policy"] == "historical", column].iloc[0]


def _observed(y: np.ndarray, level: float, table: pd.DataFrame) -> dict[str, object]:
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + level / 2.0))
    value, se = float(y.mean()), float(y.std(ddof=1) / np.sqrt(len(y)))
    truth = _historical(table, "true_positive_rate")
    lower, upper = value - z * se, value + z * se
    return {
        "policy": "historical",
        "policy_kind": "historical",
        "estimator": "observed",
        "status": "estimated",
        "positive_rate": value,
        "std_error": se,
        "ci_lower": lower,
        "ci_upper": upper,
        "is_headline": False,
        "rows_evaluated": len(y),
        "true_positive_rate": truth,
        "bias_vs_truth": value - truth,
        "is_truth_covered": (lower <= truth <= upper) if np.isfinite(truth) else None,
        **{c: _historical(table, c) for c in ("effective_sample_size", "overlap", "matched_rows")},
    }


def _claims(
    current: np.ndarray, recommended: np.ndarray, table: pd.DataFrame
) -> list[dict[str, object]]:
    """The recommending model's own claim for the historical and the recommended policy: no
    interval - it is a model's belief about itself, not an estimate from outcomes."""
    base, value = float(current.mean()), float(recommended.mean())
    out = []
    for name, rate in (("historical", base), ("recommended", value)):
        truth = table.loc[table["policy"] == name, "true_positive_rate"].iloc[0]
        out.append(
            {
                "policy": name,
                "policy_kind": "historical" if name == "historical" else "argmax",
                "estimator": "model_claim",
                "status": "model_claim",
                "positive_rate": rate,
                "relative_lift": rate / base - 1.0 if name != "historical" and base else np.nan,
                "is_headline": False,
                "true_positive_rate": truth,
                "bias_vs_truth": rate - truth,
            }
        )
    return out


__all__ = ["ORDER", "Truth", "evaluate_recommendation"]
