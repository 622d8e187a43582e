"""Recommendations: the vectorised simulation equals a brute-force loop per customer and per
combination, the channel-derived features are recomputed, and the support rule holds."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from xgboost import XGBClassifier

from leakproof import recommend, train

CHANNELS = ["Email", "PPC", "Referral", "SEO"]
PLATFORMS = ["Facebook", "Google Search", "Instagram"]
NATIVE_TOOL = {"Facebook": "Meta", "Instagram": "Meta", "Google Search": "Google Ads"}
PAID = {"PPC"}


def _features(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """A small feature table shaped like ml_customer_features (channel features per channel,
    an out-of-fold encoding that differs between training and test rows)."""
    rng = np.random.default_rng(seed)
    channel = rng.choice(CHANNELS, n)
    platform = rng.choice(PLATFORMS, n)
    split = rng.choice(["train", "test", "score"], n, p=[0.7, 0.2, 0.1])
    tool = np.where(rng.random(n) < 0.8, [NATIVE_TOOL[p] for p in platform], "DV360")
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(n) + 1000,
            "split": split,
            "age_group": rng.choice(["18-29", "30-44"], n),
            "income_tier": rng.choice(["low", "high"], n, p=[0.9, 0.1]),
            "income": rng.uniform(20_000, 150_000, n),
            "campaign_channel": channel,
            "advertising_platform": platform,
            "advertising_tool": tool,
            "channel_platform": [f"{c} + {p}" for c, p in zip(channel, platform, strict=True)],
            "is_paid_channel": np.isin(channel, list(PAID)),
        }
    )
    code = pd.Series(channel).map({c: i for i, c in enumerate(CHANNELS)}).to_numpy()
    frame["channel_avg_ad_spend"] = 1000.0 + 100.0 * code
    frame["channel_share_of_customers"] = 0.1 + 0.05 * code
    held_out = 0.01 + 0.002 * code
    frame["channel_conversion_rate_oof"] = np.where(
        split == "train", held_out + rng.normal(0, 0.001, n), held_out
    )
    return frame


def _predict_row(row: dict) -> float:
    """A hand-written model that reads every channel-derived feature."""
    margin = (
        -4.0
        + 40.0 * row["channel_conversion_rate_oof"]
        + 0.0002 * row["channel_avg_ad_spend"]
        + 1.5 * row["channel_share_of_customers"]
        + 0.3 * row["is_paid_channel"]
        + 0.4 * (row["advertising_tool"] == "Google Ads")
        + 0.8 * (row["channel_platform"] == "SEO + Instagram") * (row["income"] > 80_000)
        + 0.00001 * row["income"]
        + 0.2 * (row["advertising_platform"] == "Facebook")
    )
    return float(expit(margin))


def _predict(frame: pd.DataFrame) -> np.ndarray:
    return np.array([_predict_row(r) for r in frame.to_dict("records")])


def _brute_force(features: pd.DataFrame, customer: pd.Series) -> tuple[str, float, float]:
    """Best combination, its probability and the current probability, one row at a time."""
    held_out = features[features["split"] != "train"]
    train_rows = features[features["split"] == "train"]
    best, best_p, current_p = "", -1.0, np.nan
    for channel in CHANNELS:
        for platform in PLATFORMS:
            row = customer.to_dict()
            row["campaign_channel"], row["advertising_platform"] = channel, platform
            row["channel_platform"] = f"{channel} + {platform}"
            row["is_paid_channel"] = channel in PAID
            same = held_out[held_out["campaign_channel"] == channel].iloc[0]
            for column in ("channel_avg_ad_spend", "channel_share_of_customers"):
                row[column] = same[column]
            row["channel_conversion_rate_oof"] = same["channel_conversion_rate_oof"]
            if platform != customer["advertising_platform"]:
                tools = train_rows[train_rows["advertising_platform"] == platform]
                row["advertising_tool"] = tools["advertising_tool"].value_counts().index[0]
            p = _predict_row(row)
            if p > best_p:
                best, best_p = row["channel_platform"], p
            if (
                channel == customer["campaign_channel"]
                and platform == customer["advertising_platform"]
            ):
                current_p = p
    return best, best_p, current_p


def test_recommendations_equal_a_brute_force_loop() -> None:
    features = _features()
    out = recommend.recommend(features, _predict, min_support_customers=0).set_index("customer_id")
    for _, customer in features.sample(50, random_state=1).iterrows():
        best, best_p, current_p = _brute_force(features, customer)
        row = out.loc[customer["customer_id"]]
        assert row["recommended_channel_platform"] == best
        assert row["recommended_probability"] == pytest.approx(best_p, rel=1e-12)
        assert row["current_probability"] == pytest.approx(current_p, rel=1e-12)


def test_current_combination_reproduces_a_held_out_row_exactly() -> None:
    features = _features()
    context = recommend.channel_context(features)
    held_out = features[features["split"] != "train"].reset_index(drop=True)
    simulated = recommend.counterfactual_features(held_out, context)
    k = len(context.combinations)
    label = np.tile(context.combinations["channel_platform"].to_numpy(), len(held_out))
    own = simulated[label == np.repeat(held_out["channel_platform"].to_numpy(), k)]
    pd.testing.assert_frame_equal(own.reset_index(drop=True), held_out, check_dtype=False)


def test_lift_columns_are_consistent() -> None:
    out = recommend.recommend(_features(), _predict)
    assert (out["recommended_probability"] >= out["current_probability"]).all()
    np.testing.assert_allclose(
        out["absolute_lift"], out["recommended_probability"] - out["current_probability"]
    )
    np.testing.assert_allclose(
        out["relative_lift"], out["recommended_probability"] / out["current_probability"] - 1
    )
    assert (out["runner_up_probability"] <= out["recommended_probability"]).all()
    assert (out["runner_up_channel_platform"] != out["recommended_channel_platform"]).all()
    assert (out["is_recommendation_current"] == (out["absolute_lift"] == 0)).all()


def test_support_flags_and_in_support_only() -> None:
    features = _features()
    min_support = 12
    free = recommend.recommend(features, _predict, min_support_customers=min_support)
    train_rows = features[features["split"] == "train"]
    counts = train_rows.groupby(["age_group", "income_tier", "channel_platform"]).size()
    key = list(
        zip(
            free["age_group"],
            free["income_tier"],
            free["recommended_channel_platform"],
            strict=True,
        )
    )
    expected = counts.reindex(key, fill_value=0).to_numpy()
    np.testing.assert_array_equal(free["recommendation_support_customers"], expected)
    np.testing.assert_array_equal(free["is_recommendation_in_support"], expected >= min_support)
    assert not free["is_recommendation_in_support"].all()  # high income is thin: some are out

    restricted = recommend.recommend(
        features, _predict, min_support_customers=min_support, in_support_only=True
    )
    ok = restricted["has_in_support_combination"]
    in_support_or_kept = (
        restricted["is_recommendation_in_support"] | (restricted["is_recommendation_current"])
    )
    assert in_support_or_kept[ok].all()
    assert (restricted["recommended_probability"] >= restricted["current_probability"]).all()
    changed = restricted["recommended_channel_platform"] != free["recommended_channel_platform"]
    assert changed.any() and not free.loc[changed, "is_recommendation_in_support"].any()
    assert (restricted["recommended_probability"] <= free["recommended_probability"] + 1e-15).all()


def test_vectorised_scoring_is_fast() -> None:
    features = _features(48_000, seed=2)
    context = recommend.channel_context(features)

    def predict(frame: pd.DataFrame) -> np.ndarray:  # vectorised stand-in for the model
        return expit(40.0 * frame["channel_conversion_rate_oof"].to_numpy() - 4.0)

    start = time.perf_counter()
    scores = recommend.score_combinations(features, predict, context)
    assert scores.shape == (48_000, len(CHANNELS) * len(PLATFORMS))
    assert time.perf_counter() - start < 10.0


# --- the patched design matrix equals the replicated frames, bit for bit ----------------------


@dataclass
class _Bundle:
    """The parts of a train.ModelBundle that scoring uses, fitted on ``_features``."""

    family: str
    spec: train.ModelSpec
    encoder: train.DesignEncoder
    estimator: object
    calibrator: train.Calibrator

    def design_matrix(self, frame: pd.DataFrame) -> np.ndarray:
        return self.encoder.transform(frame, self.spec)

    def margin(self, design: np.ndarray) -> np.ndarray:
        return train.model_margin(self.estimator, design)


def _fitted_bundle(features: pd.DataFrame, family: str) -> _Bundle:
    spec = train.ModelSpec(
        use_case="recommend_test",
        id_columns=("customer_id",),
        target="conversion",
        numeric_features=(
            "income",
            "channel_avg_ad_spend",
            "channel_share_of_customers",
            "channel_conversion_rate_oof",
            "is_paid_channel",
        ),
        categorical_features=(
            "campaign_channel",
            "advertising_platform",
            "advertising_tool",
            "channel_platform",
            "age_group",
        ),
        families=(family,),
        primary_family=family,
    )
    train_rows = features[features["split"] == "train"]
    preprocessor = train.make_preprocessor(family, spec).fit(train.design_frame(train_rows, spec))
    encoder = train.DesignEncoder.from_preprocessor(preprocessor, spec)
    design = encoder.transform(train_rows, spec)
    y = train_rows["conversion"].to_numpy()
    if family == "xgboost":
        estimator = XGBClassifier(n_estimators=40, max_depth=4, learning_rate=0.3, n_jobs=1)
        calibrator = train.Calibrator("sigmoid", slope=0.93, intercept=-0.21)
    else:
        estimator = LogisticRegression(C=1.0, max_iter=500)
        margin = None
    estimator.fit(design, y)
    if family != "xgboost":
        margin = train.model_margin(estimator, design)
        calibrator = train.fit_calibrator("isotonic", margin, y)
    return _Bundle(family, spec, encoder, estimator, calibrator)


def _model_features(n: int = 3_000, seed: int = 4) -> pd.DataFrame:
    """``_features`` with a label that depends on the combination, missing incomes and a
    per-channel feature that is missing for one whole channel (imputed like the encoder)."""
    features = _features(n, seed=seed)
    rng = np.random.default_rng(seed)
    logit = (
        -2.0
        + 0.6 * (features["campaign_channel"] == "Referral")
        + 0.5 * (features["advertising_tool"] == "DV360")
        + 0.8 * (features["channel_platform"] == "SEO + Instagram")
        + features["income"] / 100_000
    )
    features["conversion"] = (rng.random(n) < expit(logit)).astype(int)
    features.loc[rng.random(n) < 0.1, "income"] = np.nan
    features.loc[features["campaign_channel"] == "Email", "channel_share_of_customers"] = np.nan
    features.loc[features.index[:5], ["split", "advertising_platform"]] = ["score", "Pinterest"]
    return features


@pytest.mark.parametrize("family", ["xgboost", "logistic"])
def test_patched_design_scores_equal_the_replicated_frames_bit_for_bit(family: str) -> None:
    features = _model_features()
    bundle = _fitted_bundle(features, family)
    context = recommend.channel_context(features)
    reference = recommend.score_combinations(features, recommend.reference_predict(bundle), context)
    design = recommend.CombinationDesign.build(bundle, context)
    patched = design.scores(features)
    assert patched.shape == (len(features), len(context.combinations))
    np.testing.assert_array_equal(patched, reference)
    # the tool follows the platform: the model sees it (else this test would prove little)
    assert len(design.tool_columns) and len(design.patched)
    # on one thread, in any chunking: the same numbers
    np.testing.assert_array_equal(design.scores(features.iloc[:700], n_jobs=1), reference[:700])


@pytest.mark.parametrize("in_support_only", [False, True])
def test_recommend_with_a_bundle_equals_the_reference_path(in_support_only: bool) -> None:
    features = _model_features()
    bundle = _fitted_bundle(features, "xgboost")
    options = {"min_support_customers": 15, "in_support_only": in_support_only}
    fast = recommend.recommend(features, bundle=bundle, chunk=512, **options)
    slow = recommend.recommend(features, recommend.reference_predict(bundle), chunk=999, **options)
    pd.testing.assert_frame_equal(fast, slow)
    assert fast["current_probability"].isna().sum() == 5  # the untrained platform
    assert (
        fast.loc[:4, "current_channel_platform"] == fast.loc[:4, "current_channel"] + " + Pinterest"
    ).all()
    with pytest.raises(ValueError, match="exactly one"):
        recommend.recommend(features)


def test_true_probabilities_from_a_frame_or_the_sidecar_file(tmp_path) -> None:
    features = _features()
    out = recommend.recommend(features, _predict)
    rng = np.random.default_rng(3)
    truth = pd.DataFrame({"customer_id": features["customer_id"].to_numpy()[5:]})
    for channel in CHANNELS:
        for platform in PLATFORMS:
            truth[f"p__{channel}__{platform}"] = rng.random(len(truth))
    path = tmp_path / "truth.parquet"
    truth.rename(columns={"customer_id": "CustomerID"}).to_parquet(path)
    from_frame = recommend.with_true_probabilities(out, truth)
    from_file = recommend.with_true_probabilities(out, path)
    pd.testing.assert_frame_equal(from_frame, from_file)
    indexed = truth.set_index("customer_id")
    expected = [
        indexed.loc[c, f"p__{ch}__{p}"] if c in indexed.index else np.nan
        for c, ch, p in zip(
            out["customer_id"], out["recommended_channel"], out["recommended_platform"], strict=True
        )
    ]
    np.testing.assert_array_equal(from_frame["true_recommended_probability"], expected)
    assert from_frame["true_current_probability"].isna().sum() == 5  # customers without truth
    assert "true_current_probability" not in out.columns  # the input is not modified
    none = recommend.with_true_probabilities(out, None)
    assert not none["has_truth"].any() and none["true_recommended_probability"].isna().all()
