"""leakproof.explain: additive contributions, reason codes, importance and coefficients."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xgboost

import test_train
from leakproof import explain as E
from leakproof import train as T
from test_train import CATEGORICAL, NUMERIC

# The session fixtures of test_train, reused here (pytest instantiates them once per module).
demo_frame = test_train.demo_frame
demo_run = test_train.demo_run

FEATURES = list(NUMERIC + CATEGORICAL)


def _bundle(result: T.TrainResult, family: str) -> T.ModelBundle:
    return next(b for b in result.bundles.values() if b.family == family)


def test_logistic_contributions_plus_base_equal_the_logit(demo_run, demo_frame) -> None:
    bundle = _bundle(demo_run[1], "logistic")
    contributions = E.feature_contributions(bundle, demo_frame)
    assert list(contributions.columns) == [*FEATURES, "base_value", "raw_logit"]
    total = contributions[FEATURES].sum(axis=1) + contributions.base_value
    assert np.abs(total - contributions.raw_logit).max() <= 1e-9
    # The raw logit is the fitted model's own decision function.
    design = bundle.design_matrix(demo_frame)
    np.testing.assert_allclose(
        contributions.raw_logit, bundle.estimator.decision_function(design), rtol=0, atol=1e-12
    )
    assert contributions.base_value.eq(bundle.estimator.intercept_[0]).all()


def test_xgboost_contributions_plus_base_equal_the_logit(demo_run, demo_frame) -> None:
    bundle = _bundle(demo_run[1], "xgboost")
    contributions = E.feature_contributions(bundle, demo_frame)
    terms = contributions[FEATURES]
    error = (terms.sum(axis=1) + contributions.base_value - contributions.raw_logit).abs()
    # XGBoost computes margins and SHAP values in float32: the identity holds to float32
    # rounding, i.e. within 1e-6 of the size of the terms (and ~2e-6 absolute at worst).
    scale = np.maximum(terms.abs().sum(axis=1) + contributions.base_value.abs(), 1.0)
    assert (error <= 1e-6 * scale).all()
    assert error.max() < 1e-5
    assert error.median() < 1e-6
    # The raw logit is XGBoost's own margin, and the base value is one constant.
    margin = bundle.booster.predict(
        xgboost.DMatrix(bundle.design_matrix(demo_frame)), output_margin=True
    )
    np.testing.assert_array_equal(contributions.raw_logit, margin.astype(np.float64))
    assert contributions.base_value.nunique() == 1


def test_contributions_do_not_depend_on_the_batch(demo_run, demo_frame) -> None:
    for bundle in demo_run[1].bundles.values():
        whole = E.feature_contributions(bundle, demo_frame)
        head = E.feature_contributions(bundle, demo_frame.head(101))
        pd.testing.assert_frame_equal(head, whole.head(101), check_exact=True)


def test_one_hot_contributions_are_summed_back_to_the_feature(demo_run, demo_frame) -> None:
    bundle = _bundle(demo_run[1], "logistic")
    contributions = E.feature_contributions(bundle, demo_frame)
    coefficients = dict(
        zip(
            [f"{f}={c}" for f, c in bundle.columns],
            bundle.estimator.coef_[0],
            strict=True,
        )
    )
    for feature in CATEGORICAL:
        expected = demo_frame[feature].map(lambda v, f=feature: coefficients.get(f"{f}={v}", 0.0))
        np.testing.assert_allclose(contributions[feature], expected, rtol=0, atol=1e-12)


def test_reason_codes_are_the_top_positive_contributions(demo_run, demo_frame) -> None:
    _, result = demo_run
    scores = result.scores
    bundle = result.primary
    contributions = E.feature_contributions(bundle, demo_frame)[FEATURES].to_numpy()
    top = contributions.max(axis=1)
    assert (scores.reason_1_feature.isna() == (top <= 0)).all()
    has_one = scores.reason_1_feature.notna().to_numpy()
    best = np.array(FEATURES, dtype=object)[contributions.argmax(axis=1)]
    assert (scores.reason_1_feature.to_numpy()[has_one] == best[has_one]).all()
    np.testing.assert_array_equal(scores.reason_1_contribution[has_one], top[has_one])
    for k in (1, 2, 3):
        present = scores[f"reason_{k}"].notna()
        assert (scores.loc[present, f"reason_{k}_contribution"] > 0).all()
        if k > 1:
            earlier = scores.loc[present, f"reason_{k - 1}_contribution"]
            assert (earlier >= scores.loc[present, f"reason_{k}_contribution"]).all()
            assert scores.loc[present, f"reason_{k - 1}"].notna().all()
    # Labels read feature=value with the row's own value, e.g. channel=Referral.
    frame = demo_frame.reset_index(drop=True)
    for k in (1, 2, 3):
        for feature in CATEGORICAL:
            rows = scores[f"reason_{k}_feature"] == feature
            expected = feature + "=" + frame.loc[rows, feature]
            assert (scores.loc[rows, f"reason_{k}"] == expected).all()
        rows = scores[f"reason_{k}_feature"] == "x1"
        values = scores.loc[rows, f"reason_{k}"].str.removeprefix("x1=").astype(float)
        np.testing.assert_allclose(values, frame.loc[rows, "x1"].round(4))
    assert scores.reason_1.str.startswith("channel=").any()


def test_reason_codes_function_matches_the_scores(demo_run, demo_frame) -> None:
    _, result = demo_run
    reasons = E.reason_codes(result.primary, demo_frame)
    columns = [c for c in reasons.columns if c.startswith("reason_")]
    pd.testing.assert_frame_equal(
        reasons[columns].reset_index(drop=True), result.scores[columns], check_exact=True
    )
    assert E.reason_codes(result.primary, demo_frame.head(5), n=1).shape[1] == 1 + 3


def test_coefficients_ranked_by_magnitude_and_recover_the_dgp(demo_run) -> None:
    _, result = demo_run
    table = result.coefficients
    ranked = table[table.term != "(intercept)"]
    assert ranked["rank"].tolist() == list(range(1, len(ranked) + 1))
    assert ranked.abs_coefficient.is_monotonic_decreasing
    assert table.iloc[-1].term == "(intercept)" and pd.isna(table.iloc[-1]["rank"])
    np.testing.assert_allclose(table.odds_ratio, np.exp(table.coefficient))
    # 4 numerics + (5 - 1) channels + (3 - 1) platforms: drop='first' removes a reference level.
    assert len(ranked) == 4 + 4 + 2
    by_term = ranked.set_index("term")
    assert by_term.loc["channel=Referral", "reference_category"] == "Display"
    # The DGP (features ~ N(0, 1), so standardized coefficients ~ the true ones).
    assert ranked.iloc[0].term == "x1"
    assert by_term.loc["x1", "coefficient"] == pytest.approx(1.5, abs=0.2)
    assert by_term.loc["x2", "coefficient"] == pytest.approx(-1.0, abs=0.2)
    assert abs(by_term.loc["noise", "coefficient"]) < 0.1
    assert by_term.loc["channel=SEO", "coefficient"] == pytest.approx(-0.9, abs=0.25)
    assert by_term.loc["channel=Referral", "coefficient"] == pytest.approx(0.6, abs=0.25)


def test_coefficients_only_exist_for_the_logistic_model(demo_run) -> None:
    with pytest.raises(ValueError, match="logistic"):
        E.coefficients(_bundle(demo_run[1], "xgboost"))
    assert list(E.empty_coefficients().columns) == list(E.COEFFICIENT_COLUMNS)


def test_feature_importance(demo_run, demo_frame) -> None:
    _, result = demo_run
    importance = result.feature_importance
    assert len(importance) == 2 * len(FEATURES)
    for algorithm, rows in importance.groupby("algorithm"):
        rows = rows.set_index("feature")
        assert sorted(rows.shap_rank) == list(range(1, len(FEATURES) + 1))
        assert rows.shap_rank.idxmin() == "x1", algorithm
        numeric = rows.loc[list(NUMERIC), "mean_abs_shap"]
        assert numeric.idxmin() == "noise", algorithm
    xgb = importance[importance.algorithm == "xgboost"].set_index("feature")
    assert xgb.gain_share.sum() == pytest.approx(1.0)
    assert xgb.gain_rank.idxmin() == "x1"
    logistic = importance[importance.algorithm == "logistic_l2"]
    assert logistic.total_gain.isna().all() and logistic.gain_rank.isna().all()
    # Mean |SHAP| is over the training rows; recomputing it gives the same numbers.
    train = demo_frame[demo_frame.split == "train"]
    again = E.feature_importance(result.primary, train)
    np.testing.assert_allclose(
        again.mean_abs_shap, xgb.loc[again.feature, "mean_abs_shap"], rtol=1e-12
    )
