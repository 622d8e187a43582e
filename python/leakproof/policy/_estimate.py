"""Policy values with influence-function intervals, overlap diagnostics and a plain
``not_identifiable`` where the logged data cannot say.

For a target policy pi (rows x arms), cross-fitted outcome model q and propensities e, with the
logged arm a_i and outcome y_i, the weight is w_i = min(pi(a_i | x_i) / e(a_i | x_i), 1 / c)
(``c`` = Thresholds.min_propensity; the clipping's effect is reported as ``clipping_shift``) and

- direct_method  phi_i = sum_a pi(a | x_i) q(x_i, a)                 (the outcome model alone)
- ipw            phi_i = w_i y_i
- snipw          phi_i = V + w_i (y_i - V) / mean(w)                   (V = sum w y / sum w)
- doubly_robust  phi_i = sum_a pi q(x_i, a) + w_i (y_i - q(x_i, a_i)) (the headline)

value = mean(phi), standard error sd(phi) / sqrt(n), interval value +- z sd / sqrt(n). The lift
over the baseline is paired (phi_policy - phi_baseline, and the delta method for the ratio).
The fixed-arm policies also get a family interval (Bonferroni over the arms), so that every
arm's true rate lies inside its family interval at once with probability ``level``. The direct
method has no interval: the outcome model's bias is not a sampling error.

A policy is ``not_identifiable`` when its overlap (the share of its choices whose weight is not
clipped) is below ``min_overlap``, its effective sample size (Kish) below ``min_ess``, or the
positives expected in that effective sample below ``min_effective_positives``: its weighted
estimates and intervals are then NULL, with the reason, and only the outcome model's
extrapolation (direct_method) keeps a number, marked as such.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

HEADLINE = "doubly_robust"
ESTIMATORS = ("direct_method", "ipw", "snipw", "doubly_robust")
ESTIMATED, NOT_IDENTIFIABLE, MODEL_ONLY = "estimated", "not_identifiable", "model_extrapolation"


@dataclass(frozen=True)
class Thresholds:
    """When a policy's value can be estimated: weights are capped at 1 / ``min_propensity`` (also
    the in-support threshold), and a policy needs ``min_overlap`` of its choices uncapped, a Kish
    effective sample of ``min_ess`` rows and ``min_effective_positives`` expected positives in
    it."""

    min_propensity: float = 0.01
    min_overlap: float = 0.95
    min_ess: float = 100.0
    min_effective_positives: float = 20.0
    level: float = 0.95


@dataclass(frozen=True)
class LoggedData:
    """Labelled rows: outcome y, logged arm index (0..k-1), cross-fitted propensities e and
    outcome model q (rows x arms)."""

    outcome: np.ndarray
    action: np.ndarray
    propensity: np.ndarray
    q: np.ndarray

    @property
    def rows(self) -> np.ndarray:
        return np.arange(len(self.outcome))

    def subset(self, mask: np.ndarray | None) -> LoggedData:
        if mask is None:
            return self
        return LoggedData(
            self.outcome[mask], self.action[mask], self.propensity[mask], self.q[mask]
        )


@dataclass(frozen=True)
class Diagnostics:
    effective_sample_size: float
    effective_positives: float
    overlap: float
    matched_rows: float
    share_weights_clipped: float
    min_propensity_chosen: float
    status: str
    reason: str | None


def diagnostics(data: LoggedData, pi: np.ndarray, thresholds: Thresholds) -> Diagnostics:
    """Overlap, effective sample size and the identifiability verdict of one policy."""
    cap = 1.0 / thresholds.min_propensity
    pi_logged = pi[data.rows, data.action]
    raw = pi_logged / data.propensity[data.rows, data.action]
    w = np.minimum(raw, cap)
    ess = float(w.sum() ** 2 / (w**2).sum()) if (w**2).sum() > 0 else 0.0
    effective_positives = ess * float(data.outcome.mean())
    ratio = np.divide(pi, data.propensity, out=np.zeros_like(pi), where=pi > 0)
    overlap = float((pi * (ratio <= cap)).sum(axis=1).mean())
    chosen = pi > 0
    reasons = []
    if overlap < thresholds.min_overlap:
        reasons.append(
            f"overlap {overlap:.1%} < {thresholds.min_overlap:.0%}: the policy's choices go to "
            f"arms rows like these rarely received (propensity < {thresholds.min_propensity:g})"
        )
    if ess < thresholds.min_ess:
        reasons.append(f"effective sample size {ess:.0f} < {thresholds.min_ess:g}")
    if effective_positives < thresholds.min_effective_positives:
        reasons.append(
            f"{effective_positives:.1f} positives expected in the effective sample "
            f"< {thresholds.min_effective_positives:g}"
        )
    return Diagnostics(
        effective_sample_size=ess,
        effective_positives=effective_positives,
        overlap=overlap,
        matched_rows=float(pi_logged.sum()),
        share_weights_clipped=float((raw > cap).mean()),
        min_propensity_chosen=float(data.propensity[chosen].min()) if chosen.any() else np.nan,
        status=NOT_IDENTIFIABLE if reasons else ESTIMATED,
        reason="; ".join(reasons) or None,
    )


def influence(data: LoggedData, pi: np.ndarray, cap: float | None) -> dict[str, np.ndarray]:
    """Per-row influence values of every estimator (weights capped at ``cap``; None: uncapped)."""
    y = data.outcome
    pi_logged = pi[data.rows, data.action]
    w = pi_logged / data.propensity[data.rows, data.action]
    if cap is not None:
        w = np.minimum(w, cap)
    dm = (pi * data.q).sum(axis=1)
    mean_w = w.mean()
    sn = float((w * y).sum() / w.sum()) if w.sum() > 0 else np.nan
    return {
        "direct_method": dm,
        "ipw": w * y,
        "snipw": sn + w * (y - sn) / mean_w if mean_w > 0 else np.full(len(y), np.nan),
        "doubly_robust": dm + w * (y - data.q[data.rows, data.action]),
    }


def _interval(phi: np.ndarray, z: float) -> tuple[float, float, float, float]:
    value = float(np.mean(phi))
    se = float(np.std(phi, ddof=1) / np.sqrt(len(phi)))
    return value, se, value - z * se, value + z * se


def _lift(phi: np.ndarray, base: np.ndarray, z: float) -> tuple[float, float, float, str | None]:
    """Relative lift mean(phi) / mean(base) - 1 with a delta-method interval (paired rows)."""
    value, base_value = float(np.mean(phi)), float(np.mean(base))
    if base_value == 0.0:
        return np.nan, np.nan, np.nan, "the baseline's value is 0: a relative lift is undefined"
    ratio = value / base_value
    psi = (phi - ratio * base) / base_value
    se = float(np.std(psi, ddof=1) / np.sqrt(len(psi)))
    return ratio - 1.0, ratio - 1.0 - z * se, ratio - 1.0 + z * se, None


def evaluate_policies(
    data: LoggedData,
    policies: Mapping[str, tuple[str, np.ndarray, np.ndarray | None]],
    *,
    thresholds: Thresholds | None = None,
    baseline: str = "historical",
    truth: np.ndarray | None = None,
    truth_logged: np.ndarray | None = None,
) -> pd.DataFrame:
    """One row per policy x estimator (policies: name -> (kind, pi, rows): ``rows`` a mask of the
    rows the policy is evaluated on - a policy learned from some rows' outcomes only on the
    others -, None for all); ``truth`` (rows x arms) the true outcome probability of every arm,
    ``truth_logged`` of the logged arm (the historical policy's truth), generated data only.
    The lift over ``baseline`` is paired on the policy's rows."""
    thresholds = thresholds or Thresholds()
    z = float(norm.ppf(0.5 + thresholds.level / 2.0))
    fixed = sum(kind == "fixed_arm" for kind, _, _ in policies.values())
    # Bonferroni over the fixed-arm policies: every arm's interval holds at once at ``level``
    z_family = float(norm.ppf(1.0 - (1.0 - thresholds.level) / 2.0 / max(fixed, 1)))
    cap = 1.0 / thresholds.min_propensity
    rows = []
    for name, (kind, full_pi, mask) in policies.items():
        part = data.subset(mask)
        pi = full_pi if mask is None else full_pi[mask]
        base_pi = policies[baseline][1] if mask is None else policies[baseline][1][mask]
        base_phi = influence(part, base_pi, cap)
        diag = diagnostics(part, pi, thresholds)
        phi = influence(part, pi, cap)
        unclipped = influence(part, pi, None)
        true_value = np.nan
        if kind == "historical" and truth_logged is not None:
            true_value = float(np.mean(truth_logged if mask is None else truth_logged[mask]))
        elif truth is not None:
            true_value = float((pi * (truth if mask is None else truth[mask])).sum(axis=1).mean())
        identifiable = diag.status == ESTIMATED
        for estimator in ESTIMATORS:
            value, se, lower, upper = _interval(phi[estimator], z)
            lift = (np.nan, np.nan, np.nan, None)
            if name != baseline:
                lift = _lift(phi[estimator], base_phi[estimator], z)
            family = (value - z_family * se, value + z_family * se)
            status = diag.status
            if estimator == "direct_method":  # a model's extrapolation: no sampling interval
                lower = upper = np.nan
                family = (np.nan, np.nan)
                status = status if identifiable else MODEL_ONLY
            elif not identifiable:
                value = se = lower = upper = np.nan
                family = (np.nan, np.nan)
                lift = (np.nan, np.nan, np.nan, None)
            if kind != "fixed_arm":
                family = (np.nan, np.nan)
            rows.append(
                {
                    "policy": name,
                    "policy_kind": kind,
                    "estimator": estimator,
                    "rows_evaluated": len(part.outcome),
                    "status": status,
                    "reason": diag.reason,
                    "positive_rate": value,
                    "std_error": se,
                    "ci_lower": lower,
                    "ci_upper": upper,
                    "family_ci_lower": family[0],
                    "family_ci_upper": family[1],
                    "relative_lift": lift[0],
                    "lift_ci_lower": lift[1],
                    "lift_ci_upper": lift[2],
                    "lift_note": lift[3],
                    "is_headline": estimator == HEADLINE,
                    "effective_sample_size": diag.effective_sample_size,
                    "effective_positives": diag.effective_positives,
                    "overlap": diag.overlap,
                    "matched_rows": diag.matched_rows,
                    "min_propensity_chosen": diag.min_propensity_chosen,
                    "share_weights_clipped": diag.share_weights_clipped,
                    "clipping_shift": (
                        float(np.mean(unclipped[estimator]) - np.mean(phi[estimator]))
                        if identifiable
                        else np.nan
                    ),
                    "true_positive_rate": true_value,
                }
            )
    table = pd.DataFrame(rows)
    table["bias_vs_truth"] = table["positive_rate"] - table["true_positive_rate"]
    table["is_truth_covered"] = (
        (table["ci_lower"] <= table["true_positive_rate"])
        & (table["true_positive_rate"] <= table["ci_upper"])
    ).where(table["ci_lower"].notna() & table["true_positive_rate"].notna())
    return table


__all__ = [
    "ESTIMATED",
    "ESTIMATORS",
    "HEADLINE",
    "MODEL_ONLY",
    "NOT_IDENTIFIABLE",
    "Diagnostics",
    "LoggedData",
    "Thresholds",
    "diagnostics",
    "evaluate_policies",
    "influence",
]
