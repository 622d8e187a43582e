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


def _marketing_frames(n: int = 3_000, seed: int = 6) -> tuple:
    """Feature, recommendation and truth frames shaped like the dbt tables (2 x 2 actions)."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 70, n)
    channel = np.where(rng.random(n) < expit((40 - age) / 10), "Social Media", "Email")
    platform = rng.choice(["Instagram", "LinkedIn"], n)
    p = {
        ("Email", "Instagram"): np.full(n, 0.02),
        ("Email", "LinkedIn"): np.full(n, 0.03),
        ("Social Media", "Instagram"): np.where(age < 30, 0.06, 0.01),
        ("Social Media", "LinkedIn"): np.full(n, 0.02),
    }
    realised = np.select(
        [(channel == c) & (platform == q) for c, q in p], list(p.values()), default=np.nan
    )
    features = pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "split": rng.choice(["train", "test"], n, p=[0.6, 0.4]),
            "campaign_channel": channel,
            "advertising_platform": platform,
            "conversion": (rng.random(n) < realised).astype(int),
            "age": age,
            "income": rng.uniform(2e4, 1.5e5, n),
            "loyalty_points": rng.integers(0, 5000, n),
            "previous_purchases": rng.integers(0, 10, n),
            "gender": rng.choice(["Female", "Male"], n),
            "age_group": np.where(age < 30, "18-29", "30+"),
            "income_tier": "mid",
        }
    )
    best = np.where(age < 30, "Social Media + Instagram", "Email + LinkedIn")
    recs = pd.DataFrame(
        {
            "customer_id": features["customer_id"],
            "split": features["split"],
            "current_probability": realised,
            "recommended_channel_platform": best,
            "recommended_probability": np.where(age < 30, 0.06, 0.03),
            "is_recommendation_in_support": True,
        }
    )
    truth = pd.DataFrame({"customer_id": np.arange(n), "p_realised": realised})
    truth["propensity_realised"] = 0.25
    for (c, q), values in p.items():
        truth[f"p__{c}__{q}"] = values
    return features, recs, truth


def test_marketing_evaluation_with_and_without_the_truth() -> None:
    features, recs, truth = _marketing_frames()
    without = policy.evaluate_recommendations(features, recs, None, samples=50)
    assert not without["has_truth"].any()
    assert "truth" not in set(without["estimator"])
    assert without["true_conversion_rate"].isna().all()
    assert without["propensity_mae_vs_truth"].isna().all()

    with_truth = policy.evaluate_recommendations(features, recs, truth, samples=50)
    rows = with_truth.set_index(["policy", "estimator"])
    test = features["split"] == "test"
    assert rows.loc[("recommended", "truth"), "conversion_rate"] == pytest.approx(
        recs.loc[test, "recommended_probability"].mean()
    )
    assert rows.loc[("historical", "truth"), "conversion_rate"] == pytest.approx(
        truth.loc[test, "p_realised"].mean()
    )
    # the outcome model here is the truth, so the direct method has no bias on either policy
    assert abs(rows.loc[("recommended", "direct_method"), "bias_vs_truth"]) < 1e-12
    assert rows.loc[("historical", "observed"), "conversion_rate"] == pytest.approx(
        features.loc[test, "conversion"].mean()
    )
    assert (with_truth["customers"] == test.sum()).all()


def test_load_truth_is_none_without_a_sidecar(tmp_path) -> None:
    assert policy.load_truth(str(tmp_path)) is None
    assert policy.load_truth(None) is None


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


def test_marketing_evaluation_reads_the_sidecar_file_like_the_frame(tmp_path) -> None:
    features, recs, truth = _marketing_frames()
    (tmp_path / "_truth").mkdir()
    truth.iloc[10:].rename(columns={"customer_id": "CustomerID"}).to_parquet(
        tmp_path / policy.TRUTH_FILE
    )
    from_file = policy.evaluate_marketing_policy(features, recs, str(tmp_path), samples=30)
    from_frame = policy.evaluate_recommendations(
        features, recs, policy.load_truth(str(tmp_path)), samples=30
    )
    pd.testing.assert_frame_equal(from_file, from_frame)
    values = policy.truth_values(
        tmp_path / policy.TRUTH_FILE,
        np.array([0, 10, 11, 99_999]),
        {"p": (np.array([0, 0, -1, 0]), ["p_realised"])},
    )
    np.testing.assert_array_equal(
        values["p"], [np.nan, truth.loc[10, "p_realised"], np.nan, np.nan]
    )


def test_propensity_row_cap_is_a_seeded_sample_and_changes_nothing_below_it() -> None:
    features, recs, truth = _marketing_frames()
    n_train = int((features["split"] == "train").sum())

    def run(cap: int | None) -> pd.DataFrame:
        return policy.evaluate_recommendations(
            features, recs, truth, samples=20, propensity_max_rows=cap
        )

    uncapped = run(None)
    pd.testing.assert_frame_equal(run(n_train), uncapped)
    capped = run(600)
    pd.testing.assert_frame_equal(run(600), capped)  # seeded
    assert capped["min_propensity_logged"].iloc[0] != uncapped["min_propensity_logged"].iloc[0]
    # only the propensity-weighted estimators move; the observed rate and the claim do not
    small, full = (
        t.set_index(["policy", "estimator"])["conversion_rate"] for t in (capped, uncapped)
    )
    for key in [("historical", "observed"), ("recommended", "direct_method")]:
        assert small[key] == full[key]
    assert small[("recommended", "ipw")] != full[("recommended", "ipw")]
