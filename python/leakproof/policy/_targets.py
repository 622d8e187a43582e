"""Target policies as (rows x arms) probability matrices pi(a | x_i), each row summing to 1.

- historical: the logging policy itself (its propensities e);
- argmax: the model's recommended arm for every row (deterministic);
- in-support: the recommended arm where enough similar rows historically received it (its
  propensity - the share of rows like this one given that arm - is at least ``min_propensity``),
  the historical policy elsewhere;
- soft: a mix, ``share`` of the recommended arm and the rest as the historical policy;
- fixed arm k: arm k for everyone ("always k").
"""

from __future__ import annotations

import numpy as np

from leakproof.exceptions import LeakproofError


def one_hot(choice: np.ndarray, n_arms: int) -> np.ndarray:
    """(rows x arms) a deterministic policy; every choice must be a known arm (0..n_arms-1)."""
    choice = np.asarray(choice)
    bad = np.flatnonzero((choice < 0) | (choice >= n_arms))
    if len(bad):
        raise LeakproofError(
            f"target policy: {len(bad)} row(s) choose an arm outside the {n_arms} known arms "
            f"(first row {int(bad[0])})"
        )
    out = np.zeros((len(choice), n_arms))
    out[np.arange(len(choice)), choice] = 1.0
    return out


def in_support(
    recommended: np.ndarray, propensity: np.ndarray, min_propensity: float
) -> np.ndarray:
    """The recommended arm where its propensity is at least ``min_propensity``, else the
    historical policy's own distribution."""
    chosen = one_hot(recommended, propensity.shape[1])
    supported = propensity[np.arange(len(recommended)), recommended] >= min_propensity
    return np.where(supported[:, None], chosen, propensity)


def soft(recommended: np.ndarray, propensity: np.ndarray, share: float) -> np.ndarray:
    """``share`` of the recommended arm mixed with ``1 - share`` of the historical policy."""
    if not 0.0 <= share <= 1.0:
        raise LeakproofError(f"soft policy: share must lie in [0, 1], got {share}")
    return share * one_hot(recommended, propensity.shape[1]) + (1.0 - share) * propensity


def fixed_arm(arm: int, n_rows: int, n_arms: int) -> np.ndarray:
    """Arm ``arm`` for every row."""
    return one_hot(np.full(n_rows, arm), n_arms)


def standard_policies(
    recommended: np.ndarray,
    propensity: np.ndarray,
    arms: list[str] | tuple[str, ...],
    *,
    min_propensity: float,
    soft_share: float = 0.5,
    held_out: np.ndarray | None = None,
) -> dict[str, tuple[str, np.ndarray, np.ndarray | None]]:
    """name -> (kind, pi, rows): historical, recommended (argmax), in_support, soft and always
    '<arm>' for every arm. The recommendation's policies are evaluated on ``held_out`` only (the
    rows the recommending model never saw: on its own training rows it has seen the outcome it
    would be judged by); the others on every row."""
    n, k = propensity.shape
    out: dict[str, tuple[str, np.ndarray, np.ndarray | None]] = {
        "historical": ("historical", propensity, None),
        "recommended": ("argmax", one_hot(recommended, k), held_out),
        "in_support": (
            "in_support",
            in_support(recommended, propensity, min_propensity),
            held_out,
        ),
        "soft": ("soft", soft(recommended, propensity, soft_share), held_out),
    }
    for j, arm in enumerate(arms):
        out[f"always {arm}"] = ("fixed_arm", fixed_arm(j, n, k), None)
    return out


__all__ = ["fixed_arm", "in_support", "one_hot", "soft", "standard_policies"]
