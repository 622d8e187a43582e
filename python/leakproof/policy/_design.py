"""The randomised test that would settle a recommendation: two arms (the historical policy as
control, the recommended policy as treatment), an allocation, the customers needed to detect the
expected lift with the usual power and significance, and the minimum detectable lift with the
customers at hand.

Customers per arm to tell rate p1 from p0 (two-sided test of two proportions, normal
approximation; Fleiss, Statistical Methods for Rates and Proportions, without continuity
correction), with allocation r = n1 / n0:

    n0 = (z_(1-alpha/2) sqrt((1 + 1/r) pbar qbar) + z_(1-beta) sqrt(p0 q0 + p1 q1 / r))^2
         / (p1 - p0)^2,      pbar = (p0 + r p1) / (1 + r)
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import norm

from leakproof.exceptions import LeakproofError

ALPHA, POWER, ALLOCATION = 0.05, 0.80, 0.5
DESIGN_SCHEMA = {
    "use_case": "string",
    "arm": "string",
    "allocation": "float64",
    "expected_rate": "float64",
    "base_rate": "float64",
    "expected_relative_lift": "float64",
    "lift_source": "string",
    "recommended_status": "string",
    "customers_needed_per_arm": "Int64",
    "customers_needed_total": "Int64",
    "customers_available": "int64",
    "minimum_detectable_lift": "float64",
    "alpha": "float64",
    "power": "float64",
}


def customers_per_arm(
    p0: float, p1: float, *, alpha: float = ALPHA, power: float = POWER, ratio: float = 1.0
) -> float:
    """Control customers needed (treatment: ``ratio`` times as many) to detect p1 vs p0; inf
    when p1 == p0."""
    for name, p in (("p0", p0), ("p1", p1)):
        if not 0.0 < p < 1.0:
            raise LeakproofError(f"sample size: {name} must lie strictly between 0 and 1, got {p}")
    if p1 == p0:
        return math.inf
    z_a, z_b = norm.ppf(1.0 - alpha / 2.0), norm.ppf(power)
    pbar = (p0 + ratio * p1) / (1.0 + ratio)
    top = z_a * math.sqrt((1.0 + 1.0 / ratio) * pbar * (1.0 - pbar)) + z_b * math.sqrt(
        p0 * (1.0 - p0) + p1 * (1.0 - p1) / ratio
    )
    return top**2 / (p1 - p0) ** 2


def minimum_detectable_lift(
    p0: float, n_per_arm: float, *, alpha: float = ALPHA, power: float = POWER
) -> float:
    """The smallest relative lift p1 / p0 - 1 (> 0) that ``n_per_arm`` customers per arm detect
    with ``power`` (bisection on customers_per_arm; inf if even p1 -> 1 needs more)."""
    if n_per_arm <= 0:
        return math.inf
    low, high = p0, 1.0 - 1e-9
    if customers_per_arm(p0, high, alpha=alpha, power=power) > n_per_arm:
        return math.inf
    for _ in range(100):
        mid = (low + high) / 2.0
        if customers_per_arm(p0, mid, alpha=alpha, power=power) > n_per_arm:
            low = mid
        else:
            high = mid
    return high / p0 - 1.0


def experiment_design(
    evaluation: pd.DataFrame, *, alpha: float = ALPHA, power: float = POWER
) -> pd.DataFrame:
    """One row per use case x arm of the test (control: the historical policy, treatment: the
    recommended one) from ml_policy_evaluation: base rate = the observed historical rate; the
    lift to detect = the doubly robust lift when identifiable, else the model's claim."""
    rows = []
    for use_case, table in evaluation.groupby("use_case", sort=True):
        at = table.set_index(["policy", "estimator"])
        base = float(at.loc[("historical", "observed"), "positive_rate"])
        n_available = int(at.loc[("historical", "observed"), "rows_evaluated"])
        headline = at.loc[("recommended", "doubly_robust")]
        if headline["status"] == "estimated" and np.isfinite(headline["relative_lift"]):
            lift, source = float(headline["relative_lift"]), "doubly_robust"
        else:
            claim = at.loc[("recommended", "model_claim")]
            lift, source = float(claim["relative_lift"]), "model_claim"
        expected = base * (1.0 + lift)
        valid = 0.0 < base < 1.0 and 0.0 < expected < 1.0 and lift != 0.0
        per_arm = customers_per_arm(base, expected, alpha=alpha, power=power) if valid else np.nan
        mdl = (
            minimum_detectable_lift(base, n_available * ALLOCATION, alpha=alpha, power=power)
            if 0.0 < base < 1.0
            else np.nan
        )
        for arm, rate in (("control: historical", base), ("treatment: recommended", expected)):
            rows.append(
                {
                    "use_case": use_case,
                    "arm": arm,
                    "allocation": ALLOCATION,
                    "expected_rate": rate,
                    "base_rate": base,
                    "expected_relative_lift": lift,
                    "lift_source": source,
                    "recommended_status": headline["status"],
                    "customers_needed_per_arm": math.ceil(per_arm)
                    if np.isfinite(per_arm)
                    else None,
                    "customers_needed_total": (
                        2 * math.ceil(per_arm) if np.isfinite(per_arm) else None
                    ),
                    "customers_available": n_available,
                    "minimum_detectable_lift": mdl if np.isfinite(mdl) else None,
                    "alpha": alpha,
                    "power": power,
                }
            )
    out = pd.DataFrame(rows, columns=list(DESIGN_SCHEMA))
    return out.astype(DESIGN_SCHEMA)


__all__ = ["customers_per_arm", "experiment_design", "minimum_detectable_lift"]
