"""Simulated worlds with a known truth, and the coverage benchmark over generator seeds.

- ``marketing_world``: the demo generator's customers (leakproof.generate.customers): confounded
  49-arm channel x platform assignment, every arm's true probability;
- ``randomised_world``: the generator's randomised 12-arm e-mail test (uniform, declared 1 / 12).

A stand-in for the registered model (gradient boosting on every customer column and the arm,
fitted on an 80 % training split) recommends its best arm for every labelled row, and
``evaluate_recommendation`` evaluates it over all labelled rows exactly as ml_policy_evaluation
does. ``coverage_bench`` asks, seed by seed: does the headline interval of the recommended policy
cover the truth, or does the table say not_identifiable? Each row also carries its z-score
(estimate - truth) / std_error, and ``draw_z`` how far the seed's realised outcomes sit from
their own true probabilities (sum(y - p) / sqrt(sum p (1 - p)), N(0, 1) for an honest draw): a
policy's miss on a seed whose draw_z is extreme is the data's realisation, not the estimator's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier

from leakproof.policy._cross_fit import covariate_design, predict_every_arm
from leakproof.policy._estimate import HEADLINE, Thresholds
from leakproof.policy._run import Truth, evaluate_recommendation

BENCH_POLICIES = ("historical", "recommended", "in_support", "soft")
MARKETING_COVARIATES = ("Age", "Income", "LoyaltyPoints", "PreviousPurchases", "Gender")


@dataclass(frozen=True)
class World:
    """Labelled rows of one simulated data set: every column, the pre-treatment covariates of the
    assignment, the logged arm, outcome, truth and the declared propensities (randomised)."""

    frame: pd.DataFrame
    covariates: tuple[str, ...]
    categorical: tuple[str, ...]
    arms: tuple[str, ...]
    action: np.ndarray
    outcome: np.ndarray
    truth: Truth
    declared: np.ndarray | None


def marketing_world(seed: int, rows: int) -> World:
    from leakproof.generate import customers as C
    from leakproof.generate import params as P

    draw = C.simulate_customers(np.random.default_rng([seed, 17]), rows, C.baseline())
    frame = pd.DataFrame({k: np.asarray(v) for k, v in draw.cov.items()})
    arms = tuple(f"{c} + {p}" for c in P.CHANNELS for p in P.PLATFORMS)
    return World(
        frame=frame,
        covariates=MARKETING_COVARIATES,
        categorical=(),
        arms=arms,
        action=draw.combo.astype(np.int64),
        outcome=draw.conversion.astype(float),
        truth=Truth(
            np.asarray(draw.p_all, dtype=float),
            np.asarray(draw.p_realised, dtype=float),
            np.asarray(draw.propensity_realised, dtype=float),
        ),
        declared=None,
    )


def randomised_world(seed: int, rows: int) -> World:
    from leakproof.generate import randomised as R

    covariates, assignment = (
        np.random.default_rng(s) for s in np.random.SeedSequence([seed, 4]).spawn(2)
    )
    draw = R.simulate_recipients(covariates, assignment, rows, R.baseline())
    frame = pd.DataFrame({k: np.asarray(v) for k, v in draw.cov.items()})
    frame["device"] = np.asarray(R.DEVICES)[frame["device"]]
    frame["region"] = np.asarray(R.REGIONS)[frame["region"]]
    n = len(frame)
    return World(
        frame=frame,
        covariates=("age", "tenure_months", "past_opens", "past_purchases", "device", "region"),
        categorical=("device", "region"),
        arms=tuple(f"{s} + {t}" for s, t in R.ARMS),
        action=draw.arm.astype(np.int64),
        outcome=draw.clicked.astype(float),
        truth=Truth(
            np.asarray(draw.p_all, dtype=float),
            np.asarray(draw.p_all[np.arange(n), draw.arm], dtype=float),
            np.full(n, R.PROPENSITY),
        ),
        declared=np.full((n, R.N_ARMS), R.PROPENSITY),
    )


def stand_in_recommendation(
    world: World, seed: int, train_share: float = 0.8
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(recommended arm, claimed probability at the logged arm, at the recommended arm, the
    training rows) of a gradient-boosted model of the outcome on every column and the arm,
    fitted on a training split - the registered model's role. Only the held-out rows are scored
    (the recommendation's policies are valued there alone): a training row keeps its logged arm
    and NaN claims."""
    x = covariate_design(
        world.frame, [c for c in world.frame if c not in world.categorical], world.categorical
    )
    n, k = len(x), len(world.arms)
    train = np.random.default_rng(seed).random(n) < train_share
    model = HistGradientBoostingClassifier(
        max_iter=150,
        learning_rate=0.05,
        max_leaf_nodes=15,
        categorical_features=[x.shape[1]],
        random_state=seed,
    ).fit(np.column_stack([x[train], world.action[train]]), world.outcome[train].astype(int))
    held = np.flatnonzero(~train)
    scores = predict_every_arm(model, x[held], k)
    best = world.action.copy()
    best[held] = scores.argmax(axis=1)
    current, claimed = np.full(n, np.nan), np.full(n, np.nan)
    current[held] = scores[np.arange(len(held)), world.action[held]]
    claimed[held] = scores.max(axis=1)
    return best, current, claimed, train


def evaluate_world(
    world: World, seed: int, thresholds: Thresholds | None = None, folds: int = 5
) -> pd.DataFrame:
    """The stand-in model's recommendation evaluated over every labelled row."""
    recommended, claim_current, claim_recommended, train = stand_in_recommendation(world, seed)
    numeric = [c for c in world.covariates if c not in world.categorical]
    x = covariate_design(world.frame, numeric, list(world.categorical))
    return evaluate_recommendation(
        x,
        world.action,
        world.outcome,
        world.arms,
        recommended,
        held_out=~train,
        claim_current=claim_current,
        claim_recommended=claim_recommended,
        declared_propensity=world.declared,
        truth=world.truth,
        thresholds=thresholds,
        folds=folds,
        seed=seed,
    )


def draw_z(world: World) -> float:
    """How many standard errors the realised outcomes sit from their own true probabilities:
    sum(y - p) / sqrt(sum p (1 - p)) over the logged arms (N(0, 1) for an honest draw)."""
    p = world.truth.logged
    return float((world.outcome - p).sum() / np.sqrt((p * (1.0 - p)).sum()))


def coverage_bench(
    seeds: Sequence[int],
    rows: int,
    dataset: str = "marketing",
    thresholds: Thresholds | None = None,
    folds: int = 5,
    report: Callable[[pd.DataFrame], None] | None = None,
) -> pd.DataFrame:
    """One row per seed x evaluated policy (historical - whose answer is known -, recommended,
    in_support, soft): the headline estimate, its interval, the truth, whether it covers it or
    says not_identifiable, its z-score and the seed's draw_z."""
    thresholds = thresholds or Thresholds()
    make = {"marketing": marketing_world, "randomised": randomised_world}[dataset]
    out: list[dict[str, object]] = []
    for seed in seeds:
        done = len(out)
        started = time.perf_counter()
        world = make(seed, rows)
        table = evaluate_world(world, seed, thresholds, folds)
        headline = table[(table["estimator"] == HEADLINE) & table["policy"].isin(BENCH_POLICIES)]
        for _, row in headline.iterrows():
            out.append(
                {
                    "dataset": dataset,
                    "seed": seed,
                    "rows": rows,
                    "policy": row["policy"],
                    "status": row["status"],
                    "estimate": row["positive_rate"],
                    "ci_lower": row["ci_lower"],
                    "ci_upper": row["ci_upper"],
                    "truth": row["true_positive_rate"],
                    "z": (row["positive_rate"] - row["true_positive_rate"]) / row["std_error"],
                    "ess": row["effective_sample_size"],
                    "overlap": row["overlap"],
                    "covered_or_not_identifiable": bool(
                        row["status"] != "estimated" or row["is_truth_covered"]
                    ),
                    "propensity_mae": row["propensity_mae_vs_truth"],
                    "draw_z": draw_z(world),
                    "seconds": round(time.perf_counter() - started, 1),
                }
            )
        if report is not None:
            report(pd.DataFrame(out[done:]))
    return pd.DataFrame(out)


__all__ = [
    "BENCH_POLICIES",
    "World",
    "coverage_bench",
    "draw_z",
    "evaluate_world",
    "marketing_world",
    "randomised_world",
    "stand_in_recommendation",
]
