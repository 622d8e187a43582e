"""The off-policy estimators recover a known policy value on simulated data: a randomised
experiment (1/3 per arm) and a confounded assignment with known propensities."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from leakproof import policy

ARMS = 3


def _world(n: int, seed: int, confounded: bool) -> dict[str, np.ndarray]:
    """Covariate x, assignment probabilities e(a|x), true p(x, a), logged action and outcome."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    if confounded:
        utility = np.column_stack([np.zeros(n), 1.2 * x, -1.2 * x])
        e = np.exp(utility) / np.exp(utility).sum(axis=1, keepdims=True)
    else:
        e = np.full((n, ARMS), 1.0 / ARMS)
    p = expit(np.column_stack([-1.0 + 0.5 * x, -1.5 + 1.5 * x, -1.2 - 1.0 * x]))
    action = (rng.random(n)[:, None] > np.cumsum(e, axis=1)).sum(axis=1)
    y = (rng.random(n) < p[np.arange(n), action]).astype(float)
    return {"x": x, "e": e, "p": p, "action": action, "y": y}


def _recommended(world: dict[str, np.ndarray], q: np.ndarray) -> policy.LoggedPolicy:
    """The policy that gives each row the arm q rates best, with q as the outcome model."""
    rows = np.arange(len(world["y"]))
    target = q.argmax(axis=1)
    matched = (world["action"] == target).astype(float)
    return policy.LoggedPolicy(
        outcome=world["y"],
        target_probability=matched,
        propensity=world["e"][rows, world["action"]],
        q_logged=q[rows, world["action"]],
        q_target=q[rows, target],
    )


def _true_value(world: dict[str, np.ndarray], q: np.ndarray) -> float:
    return float(world["p"][np.arange(len(world["y"])), q.argmax(axis=1)].mean())


@pytest.mark.parametrize("confounded", [False, True])
def test_ipw_and_dr_recover_the_true_value_while_a_wrong_model_is_biased(confounded: bool) -> None:
    world = _world(60_000, seed=1, confounded=confounded)
    # a wrong outcome model that still ranks by the truth: twice the true probability;
    # the tolerance below is ~4 standard errors of IPW at this n
    q = np.clip(2.0 * world["p"], 0, 1)
    truth = _true_value(world, q)
    values = policy.estimate_value(_recommended(world, q))
    assert values["direct_method"] - truth > 0.1  # the model's claim is badly biased
    for name in ("ipw", "snipw", "doubly_robust"):
        assert abs(values[name] - truth) < 0.02, (name, values[name], truth)


def test_dr_is_right_when_the_outcome_model_is_right_even_with_wrong_propensities() -> None:
    world = _world(60_000, seed=2, confounded=True)
    truth = _true_value(world, world["p"])
    wrong = dict(world, e=np.full_like(world["e"], 1.0 / ARMS))  # ignores the confounding
    dr = policy.estimate_value(_recommended(wrong, world["p"]))["doubly_robust"]
    ipw = policy.estimate_value(_recommended(wrong, world["p"]))["ipw"]
    assert abs(dr - truth) < 0.006
    assert abs(ipw - truth) > abs(dr - truth)


def test_bootstrap_interval_covers_the_truth() -> None:
    covered = {name: 0 for name in ("ipw", "snipw", "doubly_robust")}
    seeds = range(20)
    for seed in seeds:
        world = _world(4_000, seed=100 + seed, confounded=True)
        q = np.clip(1.5 * world["p"], 0, 1)
        truth = _true_value(world, q)
        rows = np.arange(len(world["y"]))
        historical = policy.LoggedPolicy(
            world["y"],
            world["e"][rows, world["action"]],
            world["e"][rows, world["action"]],
            q[rows, world["action"]],
            q[rows, world["action"]],
        )
        table = policy.compare_policies(
            {"historical": historical, "recommended": _recommended(world, q)},
            "historical",
            samples=200,
            seed=seed,
        ).set_index(["policy", "estimator"])
        for name in covered:
            row = table.loc[("recommended", name)]
            covered[name] += row["ci_lower"] <= truth <= row["ci_upper"]
    for name, hits in covered.items():
        assert hits >= 16, (name, hits)  # nominal 95 %: 19 of 20 expected


def test_historical_policy_weights_are_one_and_estimates_equal_the_observed_mean() -> None:
    world = _world(5_000, seed=3, confounded=True)
    rows = np.arange(len(world["y"]))
    e = world["e"][rows, world["action"]]
    q = world["p"][rows, world["action"]] * 0.7
    values = policy.estimate_value(policy.LoggedPolicy(world["y"], e, e, q, q))
    mean = world["y"].mean()
    assert values["ipw"] == pytest.approx(mean)
    assert values["snipw"] == pytest.approx(mean)
    assert values["doubly_robust"] == pytest.approx(mean)
    assert values["direct_method"] == pytest.approx(q.mean())


def test_lift_is_paired_and_consistent() -> None:
    world = _world(5_000, seed=4, confounded=False)
    rows = np.arange(len(world["y"]))
    e = world["e"][rows, world["action"]]
    q = world["p"]
    hist = policy.LoggedPolicy(world["y"], e, e, q[rows, world["action"]], q[rows, world["action"]])
    table = policy.compare_policies(
        {"historical": hist, "recommended": _recommended(world, q)}, "historical", samples=50
    ).set_index(["policy", "estimator"])
    for name in policy.ESTIMATORS:
        rec, base = table.loc[("recommended", name)], table.loc[("historical", name)]
        assert rec["relative_lift"] == pytest.approx(
            rec["conversion_rate"] / base["conversion_rate"] - 1
        )
        assert rec["lift_ci_lower"] <= rec["lift_ci_upper"]
        assert np.isnan(base["relative_lift"])


def test_effective_sample_size() -> None:
    assert policy.effective_sample_size(np.ones(100)) == pytest.approx(100)
    assert policy.effective_sample_size(np.r_[np.ones(1), np.zeros(99)]) == pytest.approx(1)


def test_estimated_propensities_match_the_known_assignment() -> None:
    world = _world(20_000, seed=5, confounded=True)
    classes = ["a0", "a1", "a2"]
    actions = np.array(classes, dtype=object)[world["action"]]
    scaler, model = policy.fit_propensities(world["x"][:, None], actions, classes, seed=0)
    e_hat = policy.predict_propensities(scaler, model, world["x"][:, None], classes, floor=0.01)
    assert np.abs(e_hat - np.maximum(world["e"], 0.01)).mean() < 0.01
    assert e_hat.min() >= 0.01


def test_bootstrap_blocks_are_the_whole_index_in_pieces() -> None:
    whole = policy.bootstrap_index(1_001, 37, seed=9)
    for cells in (1, 1_001, 5_000, 10**9):  # one replicate per block ... everything at once
        blocks = list(policy.bootstrap_blocks(1_001, 37, seed=9, block_cells=cells))
        np.testing.assert_array_equal(np.vstack(blocks), whole)
        assert max(len(b) for b in blocks) == min(37, max(1, cells // 1_001))


def test_blocked_bootstrap_table_equals_the_unblocked_one() -> None:
    world = _world(3_001, seed=7, confounded=True)
    rows = np.arange(len(world["y"]))
    e = world["e"][rows, world["action"]]
    q = world["p"]
    hist = policy.LoggedPolicy(world["y"], e, e, q[rows, world["action"]], q[rows, world["action"]])
    policies = {"historical": hist, "recommended": _recommended(world, q)}
    whole = policy.compare_policies(policies, "historical", samples=60, seed=3, block_cells=10**9)
    blocked = policy.compare_policies(policies, "historical", samples=60, seed=3, block_cells=7_000)
    pd.testing.assert_frame_equal(whole, blocked)
    # and both equal the draws computed on the (samples x n) index directly
    index = policy.bootstrap_index(len(rows), 60, seed=3)
    draws = policy._bootstrap._estimates(policies["recommended"], index)["doubly_robust"]
    row = whole.set_index(["policy", "estimator"]).loc[("recommended", "doubly_robust")]
    assert row["ci_lower"] == np.nanquantile(draws, 0.025)
    assert row["ci_upper"] == np.nanquantile(draws, 0.975)
