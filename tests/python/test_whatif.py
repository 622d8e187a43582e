"""leakproof.whatif: the arm space of declared treatments, the vectorised simulation equal to a
brute-force loop per row and arm, the fast patched design equal to the replicated frames bit for
bit (marketing-like arms with a followed column, and three treatments), the support rule, the
sidecar truth, and the policy evaluation of a randomised assignment."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from itertools import product
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from xgboost import XGBClassifier

from dbt_runner import PROJECT_ROOT
from leakproof import train, whatif
from leakproof.declarations import load
from leakproof.exceptions import LeakproofError

# --- a marketing-like feature table ------------------------------------------------------------

CHANNELS = ["Email", "PPC", "Referral", "SEO"]
PLATFORMS = ["Facebook", "Google Search", "Instagram"]
NATIVE_TOOL = {"Facebook": "Meta", "Instagram": "Meta", "Google Search": "Google Ads"}
TREATMENTS = ("campaign_channel", "advertising_platform")
FOLLOWS = {"advertising_tool": "advertising_platform"}
DERIVED = {
    "channel_platform": "campaign_channel || ' + ' || advertising_platform",
    "is_paid_channel": "campaign_channel in ('PPC')",
    "income_k": "income / 1000.0",  # the row's own: not decided by the arm
}
GROUPED = {
    "channel_avg_ad_spend": ("campaign_channel", False),
    "channel_share_of_customers": ("campaign_channel", False),
    "channel_conversion_rate_oof": ("campaign_channel", True),
}
PER_ARM = [
    "channel_avg_ad_spend",
    "channel_share_of_customers",
    "channel_conversion_rate_oof",
    "channel_platform",
    "is_paid_channel",
]


def _features(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """A small feature table shaped like ml_marketing_features (channel features per channel,
    an out-of-fold encoding that differs between training and held-out rows, a tool that mostly
    follows the platform)."""
    rng = np.random.default_rng(seed)
    channel = rng.choice(CHANNELS, n)
    platform = rng.choice(PLATFORMS, n)
    split = rng.choice(["train", "test", "score"], n, p=[0.7, 0.2, 0.1])
    tool = np.where(rng.random(n) < 0.8, [NATIVE_TOOL[p] for p in platform], "DV360")
    frame = pd.DataFrame(
        {
            "entity_key": [str(i) for i in np.arange(n) + 1000],
            "split": split,
            "age_group": rng.choice(["18-29", "30-44"], n),
            "income_tier": rng.choice(["low", "high"], n, p=[0.9, 0.1]),
            "income": rng.uniform(20_000, 150_000, n),
            "campaign_channel": channel,
            "advertising_platform": platform,
            "advertising_tool": tool,
            "channel_platform": [f"{c} + {p}" for c, p in zip(channel, platform, strict=True)],
            "is_paid_channel": np.isin(channel, ["PPC"]),
        }
    )
    frame["income_k"] = frame["income"] / 1000.0
    code = pd.Series(channel).map({c: i for i, c in enumerate(CHANNELS)}).to_numpy()
    frame["channel_avg_ad_spend"] = 1000.0 + 100.0 * code
    frame["channel_share_of_customers"] = 0.1 + 0.05 * code
    held_out = 0.01 + 0.002 * code
    frame["channel_conversion_rate_oof"] = np.where(
        split == "train", held_out + rng.normal(0, 0.001, n), held_out
    )
    return frame


def _per_arm(model_features: list[str] | None = None) -> list[whatif.PerArmFeature]:
    return whatif.arm_dependent_features(
        TREATMENTS, DERIVED, GROUPED, model_features or [*PER_ARM, "income"]
    )


def _space(features: pd.DataFrame) -> whatif.ArmSpace:
    return whatif.arm_space(features, TREATMENTS, _per_arm(), FOLLOWS)


def _predict_row(row: dict) -> float:
    """A hand-written model that reads every arm-decided feature and the row's own income."""
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


def test_arm_dependent_features_are_the_functions_of_the_treatments() -> None:
    per_arm = _per_arm()
    assert [f.name for f in per_arm] == PER_ARM
    assert [(f.by, f.out_of_fold) for f in per_arm[:3]] == [
        ("campaign_channel", False),
        ("campaign_channel", False),
        ("campaign_channel", True),
    ]
    assert per_arm[3].sql == DERIVED["channel_platform"] and per_arm[3].by is None
    # a derived feature over per-arm features is per-arm too, after them
    chained = whatif.arm_dependent_features(
        TREATMENTS,
        {**DERIVED, "paid_oof": "is_paid_channel and channel_conversion_rate_oof > 0.01"},
        GROUPED,
        [],
    )
    assert [f.name for f in chained][-1] == "paid_oof"
    # a model feature mixing a treatment with the row's own columns cannot be varied
    mixed = {**DERIVED, "spend_if_paid": "case when campaign_channel = 'PPC' then income end"}
    with pytest.raises(LeakproofError, match="derived feature spend_if_paid reads a treatment"):
        whatif.arm_dependent_features(TREATMENTS, mixed, GROUPED, ["spend_if_paid"])
    # ... unless the model does not use it
    assert "spend_if_paid" not in {
        f.name for f in whatif.arm_dependent_features(TREATMENTS, mixed, GROUPED, ["income"])
    }


def test_the_arm_space() -> None:
    features = _features()
    space = _space(features)
    train_rows = features[features["split"] == "train"]
    assert space.values == (tuple(sorted(CHANNELS)), tuple(sorted(PLATFORMS)))
    assert len(space) == 12
    assert space.labels[:4].tolist() == [
        "Email + Facebook",
        "Email + Google Search",
        "Email + Instagram",
        "PPC + Facebook",
    ]
    assert space.follower_of["advertising_tool"] == {
        platform: train_rows.loc[train_rows["advertising_platform"] == platform, "advertising_tool"]
        .value_counts()
        .index[0]
        for platform in PLATFORMS
    }
    arms = space.arm_frame()
    held_out = features[features["split"] != "train"]
    for arm in arms.itertuples(index=False):
        channel_rows = features[features["campaign_channel"] == arm.campaign_channel]
        assert arm.channel_platform == f"{arm.campaign_channel} + {arm.advertising_platform}"
        assert arm.is_paid_channel == (arm.campaign_channel == "PPC")
        assert arm.channel_avg_ad_spend == channel_rows["channel_avg_ad_spend"].iloc[0]
        # an out-of-fold encoding takes the value a held-out row of the group has
        assert (
            arm.channel_conversion_rate_oof
            == (
                held_out.loc[
                    held_out["campaign_channel"] == arm.campaign_channel,
                    "channel_conversion_rate_oof",
                ].iloc[0]
            )
        )
        assert (
            arm.advertising_tool == space.follower_of["advertising_tool"][arm.advertising_platform]
        )
    index = space.arm_index(features)
    assert (space.labels[index] == features["channel_platform"].to_numpy()).all()
    unseen = features.head(2).assign(advertising_platform=["Pinterest", None])
    assert space.arm_index(unseen).tolist() == [-1, -1]
    with pytest.raises(LeakproofError, match="needs training rows"):
        whatif.arm_space(features.assign(split="test"), TREATMENTS)


def test_current_arm_reproduces_a_held_out_row_exactly() -> None:
    features = _features()
    space = _space(features)
    held_out = features[features["split"] != "train"].reset_index(drop=True)
    simulated = whatif.counterfactual_features(held_out, space)
    k = len(space)
    label = np.tile(space.labels, len(held_out))
    own = simulated[label == np.repeat(held_out["channel_platform"].to_numpy(), k)]
    pd.testing.assert_frame_equal(own.reset_index(drop=True), held_out, check_dtype=False)


def _brute_force(features: pd.DataFrame, row: pd.Series) -> tuple[str, float, float]:
    """Best arm, its probability and the current probability, one arm at a time."""
    held_out = features[features["split"] != "train"]
    train_rows = features[features["split"] == "train"]
    best, best_p, current_p = "", -1.0, np.nan
    for channel, platform in product(sorted(CHANNELS), sorted(PLATFORMS)):
        arm = row.to_dict()
        arm["campaign_channel"], arm["advertising_platform"] = channel, platform
        arm["channel_platform"] = f"{channel} + {platform}"
        arm["is_paid_channel"] = channel == "PPC"
        same = held_out[held_out["campaign_channel"] == channel].iloc[0]
        for column in ("channel_avg_ad_spend", "channel_share_of_customers"):
            arm[column] = same[column]
        arm["channel_conversion_rate_oof"] = same["channel_conversion_rate_oof"]
        if platform != row["advertising_platform"]:
            tools = train_rows[train_rows["advertising_platform"] == platform]
            arm["advertising_tool"] = tools["advertising_tool"].value_counts().index[0]
        p = _predict_row(arm)
        if p > best_p:
            best, best_p = arm["channel_platform"], p
        if channel == row["campaign_channel"] and platform == row["advertising_platform"]:
            current_p = p
    return best, best_p, current_p


def test_recommendations_equal_a_brute_force_loop() -> None:
    features = _features()
    out = whatif.recommend(features, _space(features), _predict, min_support=0)
    out = out.set_index("entity_key")
    for _, row in features.sample(50, random_state=1).iterrows():
        best, best_p, current_p = _brute_force(features, row)
        got = out.loc[row["entity_key"]]
        assert got["current_arm"] == row["channel_platform"]
        assert got["recommended_arm"] == best
        assert got["recommended_probability"] == pytest.approx(best_p, rel=1e-12)
        assert got["current_probability"] == pytest.approx(current_p, rel=1e-12)


def test_lift_columns_are_consistent() -> None:
    features = _features()
    out = whatif.recommend(features, _space(features), _predict)
    assert list(out.columns[:2]) == ["entity_key", "split"]
    assert (out["recommended_probability"] >= out["current_probability"]).all()
    np.testing.assert_allclose(
        out["absolute_lift"], out["recommended_probability"] - out["current_probability"]
    )
    np.testing.assert_allclose(
        out["relative_lift"], out["recommended_probability"] / out["current_probability"] - 1
    )
    assert (out["runner_up_probability"] <= out["recommended_probability"]).all()
    assert (out["runner_up_arm"] != out["recommended_arm"]).all()
    assert (out["is_recommendation_current"] == (out["absolute_lift"] == 0)).all()
    assert (out["arms_considered"] == 12).all()


def test_relative_lift_is_null_not_infinite_where_the_current_probability_is_zero() -> None:
    features = _features()
    first_channel = features["campaign_channel"] == features["campaign_channel"].iloc[0]

    def predict(frame: pd.DataFrame) -> np.ndarray:  # 0 for one channel's arms
        return np.where(frame["campaign_channel"] == features["campaign_channel"].iloc[0], 0, 0.1)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = whatif.recommend(features, _space(features), predict)
    zero = out["current_probability"] == 0
    assert zero.sum() == first_channel.sum() > 0
    assert out.loc[zero, "relative_lift"].isna().all()
    assert (out.loc[~zero, "relative_lift"] == 0).all()


def test_support_flags_and_in_support_only() -> None:
    features = _features()
    space = _space(features)
    min_support = 12
    segments = ["age_group", "income_tier"]
    support = whatif.segment_support(features, space, segments)
    train_rows = features[features["split"] == "train"]
    counts = train_rows.groupby([*segments, "channel_platform"]).size()
    assert list(support.columns) == list(space.labels)
    for (age, tier, arm), n in counts.items():
        assert support.loc[(age, tier), arm] == n
    assert support.to_numpy().sum() == len(train_rows)

    free = whatif.recommend(
        features, space, _predict, segment_columns=segments, min_support=min_support
    )
    key = list(
        zip(features["age_group"], features["income_tier"], free["recommended_arm"], strict=True)
    )
    expected = counts.reindex(key, fill_value=0).to_numpy()
    np.testing.assert_array_equal(free["recommendation_support_rows"], expected)
    np.testing.assert_array_equal(free["is_recommendation_in_support"], expected >= min_support)
    assert not free["is_recommendation_in_support"].all()  # high income is thin: some are out

    restricted = whatif.recommend(
        features,
        space,
        _predict,
        segment_columns=segments,
        min_support=min_support,
        in_support_only=True,
    )
    ok = restricted["has_in_support_arm"]
    in_support_or_kept = (
        restricted["is_recommendation_in_support"] | restricted["is_recommendation_current"]
    )
    assert in_support_or_kept[ok].all()
    assert (restricted["recommended_probability"] >= restricted["current_probability"]).all()
    changed = restricted["recommended_arm"] != free["recommended_arm"]
    assert changed.any() and not free.loc[changed, "is_recommendation_in_support"].any()
    assert (restricted["recommended_probability"] <= free["recommended_probability"] + 1e-15).all()
    assert (restricted["arms_considered"] <= free["arms_considered"]).all()


def test_vectorised_scoring_is_fast() -> None:
    features = _features(48_000, seed=2)
    space = _space(features)

    def predict(frame: pd.DataFrame) -> np.ndarray:  # vectorised stand-in for the model
        return expit(40.0 * frame["channel_conversion_rate_oof"].to_numpy() - 4.0)

    start = time.perf_counter()
    scores = whatif.score_arms(features, predict, space)
    assert scores.shape == (48_000, len(CHANNELS) * len(PLATFORMS))
    assert time.perf_counter() - start < 10.0
    # row i, arm j: the encoding of arm j's channel
    channel = np.array([label.split(" + ")[0] for label in space.labels])
    expected = expit(40.0 * (0.01 + 0.002 * pd.Series(channel).map(CHANNELS.index)) - 4.0)
    np.testing.assert_array_equal(scores[0], expected.to_numpy())


# --- the patched design matrix equals the replicated frames, bit for bit ----------------------


@dataclass
class _Bundle:
    """The parts of a train.ModelBundle that scoring uses."""

    family: str
    spec: train.ModelSpec
    encoder: train.DesignEncoder
    estimator: object
    calibrator: train.Calibrator

    def design_matrix(self, frame: pd.DataFrame) -> np.ndarray:
        return self.encoder.transform(frame, self.spec)

    def margin(self, design: np.ndarray) -> np.ndarray:
        return train.model_margin(self.estimator, design)


def _fitted_bundle(
    features: pd.DataFrame,
    family: str,
    numeric: tuple[str, ...],
    categorical: tuple[str, ...],
    target: str = "conversion",
) -> _Bundle:
    spec = train.ModelSpec(
        use_case="whatif_test",
        id_columns=("entity_key",),
        target=target,
        numeric_features=numeric,
        categorical_features=categorical,
        families=(family,),
        primary_family=family,
    )
    train_rows = features[features["split"] == "train"]
    preprocessor = train.make_preprocessor(family, spec).fit(train.design_frame(train_rows, spec))
    encoder = train.DesignEncoder.from_preprocessor(preprocessor, spec)
    design = encoder.transform(train_rows, spec)
    y = train_rows[target].to_numpy()
    if family == "xgboost":
        estimator = XGBClassifier(n_estimators=40, max_depth=4, learning_rate=0.3, n_jobs=1)
        estimator.fit(design, y)
        calibrator = train.Calibrator("sigmoid", slope=0.93, intercept=-0.21)
    else:
        estimator = LogisticRegression(C=1.0, max_iter=500).fit(design, y)
        calibrator = train.fit_calibrator("isotonic", train.model_margin(estimator, design), y)
    return _Bundle(family, spec, encoder, estimator, calibrator)


def reference_predict(bundle: _Bundle):
    """The model as a frame -> calibrated probability function: the reference path."""

    def predict(frame: pd.DataFrame) -> np.ndarray:
        return train.predict_proba_frame(bundle, frame)["calibrated_probability"].to_numpy()

    return predict


def _model_features(n: int = 3_000, seed: int = 4) -> pd.DataFrame:
    """``_features`` with a label that depends on the arm and the tool, missing incomes, a
    per-arm feature missing for one whole channel (imputed like the encoder) and five rows on a
    platform never trained on."""
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


MARKETING_NUMERIC = (
    "income",
    "channel_avg_ad_spend",
    "channel_share_of_customers",
    "channel_conversion_rate_oof",
    "is_paid_channel",
)
MARKETING_CATEGORICAL = (
    "campaign_channel",
    "advertising_platform",
    "advertising_tool",
    "channel_platform",
    "age_group",
)


@pytest.mark.parametrize("family", ["xgboost", "logistic"])
def test_patched_design_scores_equal_the_replicated_frames_bit_for_bit(family: str) -> None:
    features = _model_features()
    bundle = _fitted_bundle(features, family, MARKETING_NUMERIC, MARKETING_CATEGORICAL)
    space = _space(features)
    reference = whatif.score_arms(features, reference_predict(bundle), space)
    design = whatif.ArmDesign.build(bundle, space)
    patched = design.scores(features)
    assert patched.shape == (len(features), len(space))
    np.testing.assert_array_equal(patched, reference)
    # the tool follows the platform and the model sees it (else this test would prove little)
    assert [leader for leader, *_ in design.followed] == ["advertising_platform"]
    assert len(design.patched)
    # on one thread, in any chunking: the same numbers
    np.testing.assert_array_equal(design.scores(features.iloc[:700], n_jobs=1), reference[:700])


@pytest.mark.parametrize("in_support_only", [False, True])
def test_recommend_with_a_bundle_equals_the_reference_path(in_support_only: bool) -> None:
    features = _model_features()
    bundle = _fitted_bundle(features, "xgboost", MARKETING_NUMERIC, MARKETING_CATEGORICAL)
    space = _space(features)
    options = {
        "segment_columns": ["age_group", "income_tier"],
        "min_support": 15,
        "in_support_only": in_support_only,
    }
    fast = whatif.recommend(features, space, bundle=bundle, chunk=512, **options)
    slow = whatif.recommend(features, space, reference_predict(bundle), chunk=999, **options)
    pd.testing.assert_frame_equal(fast, slow)
    assert fast["current_probability"].isna().sum() == 5  # the untrained platform
    assert (
        fast.loc[:4, "current_arm"] == features.loc[:4, "campaign_channel"] + " + Pinterest"
    ).all()
    with pytest.raises(LeakproofError, match="exactly one"):
        whatif.recommend(features, space)
    with pytest.raises(LeakproofError, match="exactly one"):
        whatif.recommend(features, space, reference_predict(bundle), bundle=bundle)


def test_recommend_on_slices_with_the_whole_support_equals_the_whole_frame() -> None:
    """What the Spark job does per partition: each slice of the rows, given the support table of
    all of them, gets exactly the rows the whole frame gets (its own support would differ)."""
    features = _model_features()
    bundle = _fitted_bundle(features, "logistic", MARKETING_NUMERIC, MARKETING_CATEGORICAL)
    space = _space(features)
    segments = ["age_group", "income_tier"]
    options = {"segment_columns": segments, "min_support": 15, "bundle": bundle}
    whole = whatif.recommend(features, space, **options)
    support = whatif.segment_support(features, space, segments)
    slices = [features.iloc[i : i + 333].reset_index(drop=True) for i in (0, 333, 666)]
    parts = [whatif.recommend(part, space, support=support, **options) for part in slices]
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), whole.iloc[:999])
    alone = whatif.recommend(slices[1], space, **options)
    assert (
        alone["recommendation_support_rows"].to_numpy()
        != whole["recommendation_support_rows"].iloc[333:666].to_numpy()
    ).any()


# --- three treatments --------------------------------------------------------------------------

OFFERS = ["none", "10pct", "20pct"]
TIMINGS = ["morning", "evening"]
SENDERS = {"email": "newsletter", "sms": "shortcode", "call": "agent"}


def _three_treatment_features(n: int = 4_000, seed: int = 7) -> pd.DataFrame:
    """Rows given one of 3 channels x 3 offers x 2 timings; the sender follows the channel
    (mostly), the discount is a function of the offer, an out-of-fold response rate by channel,
    and the label depends on the arm, the sender and the row's own age."""
    rng = np.random.default_rng(seed)
    channel = rng.choice(list(SENDERS), n)
    offer = rng.choice(OFFERS, n)
    timing = rng.choice(TIMINGS, n)
    split = rng.choice(["train", "test", "score"], n, p=[0.7, 0.2, 0.1])
    sender = np.where(rng.random(n) < 0.85, [SENDERS[c] for c in channel], "partner")
    age = rng.uniform(18, 80, n)
    age[rng.random(n) < 0.05] = np.nan
    frame = pd.DataFrame(
        {
            "entity_key": [f"r{i}" for i in range(n)],
            "split": split,
            "tier": rng.choice(["a", "b"], n),
            "age": age,
            "channel": channel,
            "offer": offer,
            "timing": timing,
            "sender": sender,
        }
    )
    frame["discount"] = frame["offer"].map({"none": 0.0, "10pct": 0.1, "20pct": 0.2})
    held_out = frame["channel"].map({"email": 0.05, "sms": 0.08, "call": 0.12})
    frame["channel_rate_oof"] = np.where(
        split == "train", held_out + rng.normal(0, 0.005, n), held_out
    )
    logit = (
        -1.5
        + 4.0 * frame["discount"] * (frame["timing"] == "evening")
        + 0.7 * (frame["channel"] == "call")
        + 0.5 * (frame["sender"] == "partner")
        - 0.02 * np.nan_to_num(age - 40)
    )
    frame["responded"] = (rng.random(n) < expit(logit)).astype(int)
    return frame


@pytest.mark.parametrize("family", ["xgboost", "logistic"])
def test_three_treatments_patched_design_equals_the_reference_bit_for_bit(family: str) -> None:
    features = _three_treatment_features()
    treatments = ("channel", "offer", "timing")
    per_arm = whatif.arm_dependent_features(
        treatments,
        {"discount": "case offer when '10pct' then 0.1 when '20pct' then 0.2 else 0.0 end"},
        {"channel_rate_oof": ("channel", True)},
        ["discount", "channel_rate_oof"],
    )
    space = whatif.arm_space(features, treatments, per_arm, {"sender": "channel"})
    assert len(space) == 18
    assert space.labels[:3].tolist() == [
        "call + 10pct + evening",
        "call + 10pct + morning",
        "call + 20pct + evening",
    ]
    assert space.follower_of["sender"] == SENDERS
    arms = space.arm_frame()
    assert arms["discount"].tolist() == [
        {"none": 0.0, "10pct": 0.1, "20pct": 0.2}[o] for o in arms["offer"]
    ]
    bundle = _fitted_bundle(
        features,
        family,
        ("age", "discount", "channel_rate_oof"),
        ("channel", "offer", "timing", "sender", "tier"),
        target="responded",
    )
    reference = whatif.score_arms(features, reference_predict(bundle), space)
    design = whatif.ArmDesign.build(bundle, space)
    np.testing.assert_array_equal(design.scores(features), reference)
    assert [leader for leader, *_ in design.followed] == ["channel"]
    options = {"segment_columns": ["tier"], "min_support": 30}
    fast = whatif.recommend(features, space, bundle=bundle, chunk=700, **options)
    slow = whatif.recommend(features, space, reference_predict(bundle), **options)
    pd.testing.assert_frame_equal(fast, slow)
    assert (fast["arms_considered"] == 18).all()
    # the current arm of a row is its own three values
    own = features["channel"] + " + " + features["offer"] + " + " + features["timing"]
    assert (fast["current_arm"] == own).all()
    # each row's current probability is the reference score of its own arm
    rows = np.arange(len(features))
    np.testing.assert_array_equal(
        fast["current_probability"], reference[rows, space.arm_index(features)]
    )


# --- the sidecar truth -------------------------------------------------------------------------


def test_truth_values_pick_each_rows_arm_column(tmp_path: Path) -> None:
    ids = np.arange(1, 7)
    sidecar = pd.DataFrame({"CustomerID": ids, "p_realised": ids / 10})
    for channel, platform in product(["Email", "SEO"], ["Facebook", "X"]):
        if (channel, platform) != ("SEO", "X"):  # one arm without a column
            sidecar[f"p__{channel}__{platform}"] = ids / 100 + len(channel) + len(platform) / 10
    path = tmp_path / "truth.parquet"
    sidecar.to_parquet(path)
    source = whatif.TruthSource(
        path, ("CustomerID",), "p_realised", "p__{campaign_channel}__{advertising_platform}"
    )
    assert source.arm_column({"campaign_channel": "Email", "advertising_platform": "X"}) == (
        "p__Email__X"
    )
    keys = pd.Series(["3", "1", "99", "6", "2"])  # 99: a row the sidecar lacks
    arms = pd.Series(["Email + X", "SEO + Facebook", "Email + X", "SEO + X", None])
    codes, columns = whatif.arm_codes(source, TREATMENTS, arms)
    assert columns == ["p__Email__X", "p__SEO__Facebook", "p__SEO__X"]
    assert codes.tolist() == [0, 1, 0, 2, -1]
    every_row = np.zeros(len(keys), dtype=np.int64)
    values = whatif.truth_values(
        source, keys, {"arm": (codes, columns), "realised": (every_row, ["p_realised"])}
    )
    np.testing.assert_array_equal(values["realised"], [0.3, 0.1, np.nan, 0.6, 0.2])
    np.testing.assert_allclose(
        values["arm"], [0.03 + 5 + 0.1, 0.01 + 3 + 0.8, np.nan, np.nan, np.nan]
    )


def test_truth_values_join_a_composite_grain(tmp_path: Path) -> None:
    path = tmp_path / "accounts_truth.parquet"
    pd.DataFrame(
        {"account_id": ["a", "a", "b"], "campaign_wave": [1, 2, 1], "p_response": [0.1, 0.2, 0.3]}
    ).to_parquet(path)
    source = whatif.TruthSource(path, ("account_id", "campaign_wave"), "p_response")
    keys = ["b/1", "a/2", "a/1", "c/1"]
    values = whatif.truth_values(source, keys, {"p": (np.zeros(4, dtype=int), ["p_response"])})
    np.testing.assert_array_equal(values["p"], [0.3, 0.2, 0.1, np.nan])
    assert source.arm_column({"x": 1}) is None


def test_truth_source_is_the_declared_sidecar_when_it_exists(tmp_path: Path) -> None:
    marketing = load(PROJECT_ROOT / "use_cases" / "marketing.yml")
    assert whatif.truth_source(marketing, None) is None
    assert whatif.truth_source(marketing, tmp_path) is None  # no sidecar: user data
    path = tmp_path / marketing.truth.file
    path.parent.mkdir()
    pd.DataFrame({"CustomerID": [1], "p_realised": [0.5]}).to_parquet(path)
    assert whatif.truth_source(marketing, tmp_path) == whatif.TruthSource(
        path,
        ("CustomerID",),
        "p_realised",
        "p__{campaign_channel}__{advertising_platform}",
        "propensity_realised",
    )


# --- the policy evaluation of a randomised assignment ----------------------------------------


def test_declared_assignment_probabilities() -> None:
    arms = ["a", "b", "c", "d"]
    logged = np.array([0, 3, 1])
    assert whatif.known_propensities(arms, None, logged) is None  # estimated
    np.testing.assert_array_equal(
        whatif.known_propensities(arms, {}, logged), np.full((3, 4), 0.25)
    )
    declared = {"a": 0.1, "b": 0.2, "c": 0.3, "d": 0.4}
    np.testing.assert_array_equal(
        whatif.known_propensities(arms, declared, logged), np.tile([0.1, 0.2, 0.3, 0.4], (3, 1))
    )
    with pytest.raises(LeakproofError, match=r"lack arm\(s\) \['d'\]"):
        whatif.known_propensities(arms, {"a": 0.5, "b": 0.5, "c": 0.0}, logged)


def test_policy_evaluation_of_a_uniform_randomised_assignment() -> None:
    """Arms given uniformly at random (declared): the propensities are the declared 1 / k, the
    historical policy's IPW equals its observed rate over every labelled row, the recommended
    policy is evaluated on the test rows only, and nothing is estimated for the assignment."""
    rng = np.random.default_rng(11)
    n = 3_000
    features = pd.DataFrame(
        {
            "entity_key": [str(i) for i in range(n)],
            "split": rng.choice(["train", "test"], n, p=[0.6, 0.4]),
            "variant": rng.choice(["A", "B", "C"], n),
            "age": rng.uniform(18, 80, n),
        }
    )
    rate = features["variant"].map({"A": 0.05, "B": 0.10, "C": 0.20})
    features["clicked"] = (rng.random(n) < rate).astype(int)
    recommendations = pd.DataFrame(
        {
            "entity_key": features["entity_key"],
            "split": features["split"],
            "current_probability": rate,
            "recommended_arm": "C",
            "recommended_probability": 0.2,
            "is_recommendation_in_support": True,
        }
    )
    table = whatif.evaluate_policy(
        features,
        recommendations,
        target="clicked",
        treatments=["variant"],
        numeric_covariates=["age"],
        categorical_covariates=[],
        known_probabilities={},
        folds=2,
    )
    rows = table.set_index(["policy", "estimator"])
    test = features[features["split"] == "test"]
    assert (table["propensity_source"] == "declared").all()
    assert not table["has_truth"].any() and table["true_positive_rate"].isna().all()
    assert rows.loc[("historical", "ipw"), "rows_evaluated"] == n
    assert rows.loc[("recommended", "ipw"), "rows_evaluated"] == len(test)
    assert rows.loc[("historical", "observed"), "positive_rate"] == pytest.approx(
        features["clicked"].mean()
    )
    assert rows.loc[("historical", "ipw"), "positive_rate"] == pytest.approx(
        features["clicked"].mean()
    )
    matched = test["variant"] == "C"
    assert rows.loc[("recommended", "ipw"), "matched_rows"] == matched.sum()
    # IPW of always-C on the test rows: the C rows' clicks weighted by 1 / (1/3)
    assert rows.loc[("recommended", "ipw"), "positive_rate"] == pytest.approx(
        test.loc[matched, "clicked"].sum() * 3 / len(test)
    )
    # ... and on every labelled row as the fixed-arm policy "always C"
    assert rows.loc[("always C", "ipw"), "positive_rate"] == pytest.approx(
        features.loc[features["variant"] == "C", "clicked"].sum() * 3 / n
    )
    assert rows.loc[("recommended", "model_claim"), "positive_rate"] == pytest.approx(0.2)
    assert rows.loc[("recommended", "model_claim"), "is_model_claimed"]
    assert (table.loc[table["policy"].str.startswith("always"), "overlap"] == 1.0).all()
    assert table["share_out_of_support"].iloc[0] == 0.0
