"""Logged-policy estimators with a bootstrap (the first version, kept for its callers): what
would a targeting policy really achieve, estimated from logged
data in which the historical policy chose the action?

The estimators work on any data with an action, an outcome and the (known or estimated)
probability the logging policy gave the logged action - a randomised experiment (1/3 each) or
observational data with estimated propensities:

- direct method (DM): the outcome model's own claim, mean of q(x, pi(x)) - biased when q is;
- inverse propensity weighting (IPW): mean of w * y with w = pi(a|x) / e(a|x);
- self-normalised IPW (SNIPW): sum(w * y) / sum(w) - a little bias, much less variance;
- doubly robust (DR): DM + mean of w * (y - q(x, a)) - unbiased when either e or q is right.

Each comes with a seeded percentile-bootstrap interval (customers resampled), and the policies
are compared on the same resamples so a lift has an interval too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from leakproof.policy._cross_fit import PROPENSITY_FLOOR
from leakproof.policy._estimate import ESTIMATORS


@dataclass(frozen=True)
class LoggedPolicy:
    """One target policy's inputs over the logged rows (all arrays of length n).

    ``target_probability``: pi(a_i | x_i), the probability the target policy gives the LOGGED
    action (1/0 for a deterministic policy). ``propensity``: e(a_i | x_i), the logging policy's
    probability of the logged action. ``q_logged``: the outcome model at the logged action.
    ``q_target``: the outcome model's expected value under the target policy,
    sum_a pi(a | x_i) q(x_i, a).
    """

    outcome: np.ndarray
    target_probability: np.ndarray
    propensity: np.ndarray
    q_logged: np.ndarray
    q_target: np.ndarray

    @property
    def weights(self) -> np.ndarray:
        return self.target_probability / self.propensity


def _estimates(policy: LoggedPolicy, index: np.ndarray) -> dict[str, np.ndarray]:
    """Every estimator on each resample; ``index`` is (replicates x n) row indices."""
    y = policy.outcome[index]
    w = policy.weights[index]
    q_target = policy.q_target[index]
    dm = q_target.mean(axis=1)
    del q_target
    wy = w * y
    weighted = wy.sum(axis=1)
    del wy
    w_sum = w.sum(axis=1)
    residual = (w * (y - policy.q_logged[index])).mean(axis=1)
    return {
        "direct_method": dm,
        "ipw": weighted / y.shape[1],
        "snipw": np.divide(weighted, w_sum, out=np.full(len(w_sum), np.nan), where=w_sum > 0),
        "doubly_robust": dm + residual,
    }


def estimate_value(policy: LoggedPolicy) -> dict[str, float]:
    """Point estimates of the policy's value (mean outcome) by every estimator."""
    index = np.arange(len(policy.outcome))[None, :]
    return {name: float(v[0]) for name, v in _estimates(policy, index).items()}


BOOTSTRAP_BLOCK_CELLS = 4_000_000  # resampled rows held at once (replicates per block x n)


def bootstrap_index(n: int, samples: int, seed: int) -> np.ndarray:
    """(samples x n) seeded bootstrap resamples of n rows (all at once: small n only; see
    ``bootstrap_blocks``)."""
    return np.random.default_rng(seed).integers(0, n, size=(samples, n))


def bootstrap_blocks(
    n: int, samples: int, seed: int, block_cells: int = BOOTSTRAP_BLOCK_CELLS
) -> Iterator[np.ndarray]:
    """``bootstrap_index(n, samples, seed)`` in consecutive blocks of replicates (about
    ``block_cells`` indices each, at least one replicate): the same generator drawn block after
    block gives the same numbers, so stacking the blocks equals ``bootstrap_index`` exactly while
    memory stays bounded by the block, not by samples x n."""
    rng = np.random.default_rng(seed)
    per_block = max(1, block_cells // max(n, 1))
    for start in range(0, samples, per_block):
        yield rng.integers(0, n, size=(min(per_block, samples - start), n))


def bootstrap_statistics(
    n: int,
    samples: int,
    seed: int,
    statistics: Callable[[np.ndarray], Mapping[str, np.ndarray]],
    block_cells: int = BOOTSTRAP_BLOCK_CELLS,
) -> dict[str, np.ndarray]:
    """``statistics`` (index block -> one value per replicate, by name) over the resamples of
    ``bootstrap_index(n, samples, seed)``, computed block by block: each name's ``samples``
    values, equal to computing them on the whole index at once (every statistic is per row of
    the index)."""
    parts: dict[str, list[np.ndarray]] = {}
    for index in bootstrap_blocks(n, samples, seed, block_cells):
        for name, values in statistics(index).items():
            parts.setdefault(name, []).append(np.asarray(values))
    return {name: np.concatenate(values) for name, values in parts.items()}


def compare_policies(
    policies: Mapping[str, LoggedPolicy],
    baseline: str,
    *,
    samples: int = 200,
    seed: int = 0,
    level: float = 0.95,
    block_cells: int = BOOTSTRAP_BLOCK_CELLS,
) -> pd.DataFrame:
    """One row per policy x estimator: value, percentile bootstrap interval, and the relative
    lift over the ``baseline`` policy by the same estimator with its interval (the same
    resamples for every policy, so the lift interval is paired). A baseline valued 0 has no
    relative lift: the row keeps its absolute lift and says so in ``lift_note`` (resamples whose
    baseline is 0 are left out of the lift interval). The resamples are drawn and
    used ``block_cells`` indices at a time (``bootstrap_statistics``): bounded memory, the same
    numbers as one (samples x n) index."""
    n = len(next(iter(policies.values())).outcome)
    full = np.arange(n)[None, :]
    alpha = (1.0 - level) / 2.0
    point = {name: _estimates(p, full) for name, p in policies.items()}

    def statistics(index: np.ndarray) -> dict[str, np.ndarray]:
        return {
            f"{name}\t{estimator}": values
            for name, p in policies.items()
            for estimator, values in _estimates(p, index).items()
        }

    draws_of = bootstrap_statistics(n, samples, seed, statistics, block_cells)
    boot = {
        name: {estimator: draws_of[f"{name}\t{estimator}"] for estimator in ESTIMATORS}
        for name in policies
    }
    rows = []
    for name in policies:
        for estimator in ESTIMATORS:
            value = float(point[name][estimator][0])
            draws = boot[name][estimator]
            base_value = float(point[baseline][estimator][0])
            lift, lift_lower, lift_upper, note = np.nan, np.nan, np.nan, None
            if name != baseline and base_value == 0.0:
                note = (
                    f"the baseline {baseline!r} is 0 by {estimator}: a relative lift is undefined"
                )
            elif name != baseline:
                base_draws = boot[baseline][estimator]
                with np.errstate(divide="ignore", invalid="ignore"):
                    lift_draws = draws / base_draws - 1.0
                lift_draws = lift_draws[np.isfinite(lift_draws)]
                lift = value / base_value - 1.0
                if len(lift_draws):
                    lift_lower = float(np.quantile(lift_draws, alpha))
                    lift_upper = float(np.quantile(lift_draws, 1.0 - alpha))
            rows.append(
                {
                    "policy": name,
                    "estimator": estimator,
                    "conversion_rate": value,
                    "ci_lower": float(np.nanquantile(draws, alpha)),
                    "ci_upper": float(np.nanquantile(draws, 1.0 - alpha)),
                    "relative_lift": lift,
                    "lift_ci_lower": lift_lower,
                    "lift_ci_upper": lift_upper,
                    "absolute_lift": value - base_value if name != baseline else np.nan,
                    "lift_note": note,
                }
            )
    return pd.DataFrame(rows)


def effective_sample_size(weights: np.ndarray) -> float:
    """Kish's effective sample size of importance weights, (sum w)^2 / sum w^2."""
    total = float(np.sum(weights**2))
    return float(np.sum(weights) ** 2 / total) if total > 0 else 0.0


# --------------------------------------------------------------------------------------------
# Propensities of the historical assignment
# --------------------------------------------------------------------------------------------


def covariate_matrix(
    frame: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str]
) -> np.ndarray:
    """Numeric columns (missing -> column median) and one-hot categoricals (missing its own
    level), unscaled."""
    parts = []
    for column in numeric:
        values = pd.to_numeric(frame[column], errors="coerce").astype(float)
        parts.append(values.fillna(values.median()).to_numpy()[:, None])
    for column in categorical:
        parts.append(pd.get_dummies(frame[column].astype(str), dtype=float).to_numpy())
    return np.hstack(parts) if parts else np.zeros((len(frame), 0))


def fit_propensities(
    covariates: np.ndarray,
    actions: np.ndarray,
    classes: Sequence[str],
    *,
    seed: int = 0,
    regularisation: float = 1.0,
) -> tuple[StandardScaler, LogisticRegression]:
    """A multinomial logistic regression of the action on (pre-treatment) covariates."""
    scaler = StandardScaler().fit(covariates)
    model = LogisticRegression(C=regularisation, max_iter=500, random_state=seed)
    known = np.isin(actions, np.asarray(classes, dtype=object))
    model.fit(scaler.transform(covariates[known]), actions[known])
    return scaler, model


def predict_propensities(
    scaler: StandardScaler,
    model: LogisticRegression,
    covariates: np.ndarray,
    classes: Sequence[str],
    floor: float = PROPENSITY_FLOOR,
) -> np.ndarray:
    """(rows x classes) estimated propensities in ``classes`` order, clipped below at ``floor``
    (a class the model never saw gets the floor)."""
    raw = model.predict_proba(scaler.transform(covariates))
    out = np.full((len(covariates), len(classes)), floor)
    position = {c: i for i, c in enumerate(model.classes_)}
    for j, cls in enumerate(classes):
        if cls in position:
            out[:, j] = np.maximum(raw[:, position[cls]], floor)
    return out
