"""The what-if tables on the demo build: one row per row of every what-if use case's features, lifts
consistent, the recommendations equal a brute-force loop with the registered model, and the
policy evaluation carries the TRUE values, recomputed here from the sidecar."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from dbt_runner import PROJECT_ROOT, DbtResult
from leakproof import artifacts, train
from leakproof.declarations import load_project

pytestmark = pytest.mark.dbt

DECLARATIONS = load_project(PROJECT_ROOT)
MARKETING = DECLARATIONS["marketing"]
# the features the arm decides besides the treatments: functions of the channel (declared
# derived features of the treatments, aggregates and the out-of-fold encoding by channel)
PER_ARM = (
    "channel_platform",
    "is_paid_channel",
    "channel_avg_ad_spend",
    "channel_share_of_customers",
    "channel_conversion_rate_oof",
)


def recommendations(warehouse: duckdb.DuckDBPyConnection, where: str = "true") -> pd.DataFrame:
    return warehouse.sql(f"select * from ml.ml_recommendations where {where}").df()


def sidecar(demo_raw_dir: Path) -> pd.DataFrame:
    """The marketing ground truth, keyed like the rows (entity_key = CustomerID as text)."""
    truth = pd.read_parquet(demo_raw_dir / MARKETING.truth.file)
    return truth.assign(entity_key=truth["CustomerID"].astype(str))


def test_one_row_per_row_and_consistent_lifts(warehouse: duckdb.DuckDBPyConnection) -> None:
    features = warehouse.sql("select entity_key, split from features.ml_marketing_features").df()
    recs = recommendations(warehouse)
    # only the use cases that declare what_if treatments (b2b declares none)
    assert set(recs["use_case"]) == {"marketing"}
    assert len(recs) == len(features)
    assert set(zip(recs["entity_key"], recs["split"], strict=True)) == set(
        zip(features["entity_key"], features["split"], strict=True)
    )
    assert (recs["recommended_probability"] >= recs["current_probability"]).all()
    assert (recs["runner_up_probability"] <= recs["recommended_probability"]).all()
    assert (recs["runner_up_arm"] != recs["recommended_arm"]).all()
    np.testing.assert_allclose(
        recs["absolute_lift"], recs["recommended_probability"] - recs["current_probability"]
    )
    np.testing.assert_allclose(
        recs["relative_lift"], recs["recommended_probability"] / recs["current_probability"] - 1
    )
    assert (
        recs["is_recommendation_current"] == (recs["current_arm"] == recs["recommended_arm"])
    ).all()
    assert (recs["arms_considered"] == 49).all()
    assert (recs["treatments"] == "campaign_channel + advertising_platform").all()
    assert (recs["min_support_rows"] == MARKETING.what_if.min_support).all()
    assert not recs["is_in_support_only"].any()
    assert recs["is_model_claimed"].all()
    registry = warehouse.sql(
        "select model_id from ml.ml_model_registry where use_case = 'marketing' "
        "and role = 'primary'"
    ).fetchall()
    assert set(recs["model_id"]) == {registry[0][0]}
    # the current arm is the row's own channel + platform
    own = recs.merge(
        warehouse.sql(
            "select entity_key, split, campaign_channel || ' + ' || advertising_platform as arm "
            "from features.ml_marketing_features"
        ).df(),
        on=["entity_key", "split"],
    )
    assert (own["current_arm"] == own["arm"]).all()


def test_support_counts_equal_the_training_rows_of_the_segment(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    recs = recommendations(warehouse)
    features = warehouse.sql(
        "select entity_key, split, age_group, income_tier, "
        "campaign_channel || ' + ' || advertising_platform as arm "
        "from features.ml_marketing_features"
    ).df()
    assert MARKETING.what_if.support_segments == ("age_group", "income_tier")
    counts = (
        features[features["split"] == "train"].groupby(["age_group", "income_tier", "arm"]).size()
    )
    joined = recs.merge(features, on=["entity_key", "split"])
    key = pd.MultiIndex.from_arrays(
        [joined["age_group"], joined["income_tier"], joined["recommended_arm"]]
    )
    expected = counts.reindex(key, fill_value=0).to_numpy()
    np.testing.assert_array_equal(joined["recommendation_support_rows"], expected)
    np.testing.assert_array_equal(
        joined["is_recommendation_in_support"], expected >= MARKETING.what_if.min_support
    )
    assert not joined["is_recommendation_in_support"].all()


def test_recommendations_equal_a_brute_force_loop_with_the_registered_model(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    features = warehouse.sql("select * from features.ml_marketing_features").df()
    registry = warehouse.sql(
        "select * from ml.ml_model_registry where use_case = 'marketing' and role = 'primary'"
    ).df()
    recs = recommendations(warehouse).set_index(["entity_key", "split"])
    bundle = artifacts.load_registered(registry)
    train_rows = features[features["split"] == "train"]
    held_out = features[features["split"] != "train"]
    channels = sorted(train_rows["campaign_channel"].unique())
    platforms = sorted(train_rows["advertising_platform"].unique())
    assert len(channels) * len(platforms) == 49
    # a channel's per-arm values: those of a held-out row of the channel (an out-of-fold
    # encoding there uses every training row); a platform's tool: its most common training tool
    per_channel = {
        channel: held_out[held_out["campaign_channel"] == channel].iloc[0] for channel in channels
    }
    native_tool = {}
    for platform in platforms:
        counts = train_rows.loc[
            train_rows["advertising_platform"] == platform, "advertising_tool"
        ].value_counts()
        native_tool[platform] = sorted(counts.index[counts == counts.max()])[0]
    sample = features.sample(50, random_state=0)
    arms = []
    for _, row in sample.iterrows():
        for channel in channels:
            for platform in platforms:
                arm = row.to_dict()
                arm["campaign_channel"], arm["advertising_platform"] = channel, platform
                for column in PER_ARM:
                    arm[column] = per_channel[channel][column]
                arm["channel_platform"] = f"{channel} + {platform}"
                if platform != row["advertising_platform"]:  # the tool follows the platform
                    arm["advertising_tool"] = native_tool[platform]
                arms.append(arm)
    frame = pd.DataFrame(arms)
    scored = train.predict_proba_frame(bundle, frame)["calibrated_probability"].to_numpy()
    labels = frame["channel_platform"].to_numpy().reshape(len(sample), 49)
    for (_, row), probability, arm_labels in zip(
        sample.iterrows(), scored.reshape(len(sample), 49), labels, strict=True
    ):
        best = int(np.argmax(probability))
        current = list(arm_labels).index(
            f"{row['campaign_channel']} + {row['advertising_platform']}"
        )
        got = recs.loc[(row["entity_key"], row["split"])]
        assert got["recommended_arm"] == arm_labels[best]
        assert got["recommended_probability"] == pytest.approx(probability[best], rel=1e-9)
        assert got["current_probability"] == pytest.approx(probability[current], rel=1e-9)
        runner = int(np.argsort(-probability, kind="stable")[1])
        assert got["runner_up_arm"] == arm_labels[runner]
        assert got["runner_up_probability"] == pytest.approx(probability[runner], rel=1e-9)


def test_current_probability_of_a_held_out_row_is_its_score(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    joined = warehouse.sql(
        "select r.current_probability, s.calibrated_probability from ml.ml_recommendations r "
        "inner join ml.ml_scores s using (use_case, entity_key, split) where r.split <> 'train'"
    ).df()
    assert (
        len(joined)
        == warehouse.sql(
            "select count(*) from features.ml_marketing_features where split <> 'train'"
        ).fetchall()[0][0]
    )
    np.testing.assert_allclose(
        joined["current_probability"], joined["calibrated_probability"], rtol=1e-9
    )


def test_summary_adds_up(warehouse: duckdb.DuckDBPyConnection) -> None:
    summary = warehouse.sql("select * from ml.ml_recommendation_summary").df()
    assert set(summary["use_case"]) == {"marketing"}
    recs = recommendations(warehouse).merge(
        warehouse.sql(
            "select entity_key, split, age_group, income_tier from features.ml_marketing_features"
        ).df(),
        on=["entity_key", "split"],
    )
    for scope, rows in (("all", recs), ("test", recs[recs["split"] == "test"])):
        mine = summary[summary["scope"] == scope]
        overall = mine[mine["segment_type"] == "overall"].iloc[0]
        assert overall["segment"] == "all rows"
        assert overall["segment_rows"] == len(rows)
        assert overall["expected_positives_current"] == pytest.approx(
            rows["current_probability"].sum()
        )
        assert overall["expected_positives_recommended"] == pytest.approx(
            rows["recommended_probability"].sum()
        )
        top = rows["recommended_arm"].value_counts()
        assert overall["top_recommended_arm"] == sorted(top.index[top == top.max()])[0]
        assert overall["top_recommendation_share"] == pytest.approx(top.max() / len(rows))
        for segment_type in MARKETING.what_if.support_segments:
            by_segment = mine[mine["segment_type"] == segment_type].set_index("segment")
            counts = rows[segment_type].value_counts()
            assert (by_segment.loc[counts.index, "segment_rows"] == counts).all()
            assert by_segment["segment_rows"].sum() == len(rows)
        declared = mine[mine["segment_type"] == "declared"].set_index("segment")
        assert (
            set(declared.index)
            == set(MARKETING.what_if.summary_segments)
            == {
                "high income",
                "young adults",
            }
        )
        high = rows[rows["income_tier"] == "high"]
        assert declared.loc["high income", "segment_rows"] == len(high)
        assert declared.loc["high income", "relative_lift"] == pytest.approx(
            high["recommended_probability"].sum() / high["current_probability"].sum() - 1
        )
        young = mine[(mine["segment_type"] == "age_group") & (mine["segment"] == "18-29")]
        assert declared.loc["young adults", "segment_rows"] == young["segment_rows"].item()
    assert summary["is_model_claimed"].all()


def test_policy_evaluation_holds_the_true_values(
    warehouse: duckdb.DuckDBPyConnection, demo_raw_dir: Path
) -> None:
    table = warehouse.sql("select * from ml.ml_policy_evaluation").df()
    assert set(table["use_case"]) == {"marketing"}
    arms = sorted(recommendations(warehouse, "split = 'train'")["current_arm"].unique())
    expected_policies = {"historical", "recommended", "in_support", "soft"} | {
        f"always {arm}" for arm in arms
    }
    assert set(table["policy"]) == expected_policies
    assert table["has_truth"].all()
    assert (table["propensity_source"] == "cross_fitted").all()  # assignment: estimated
    assert table["propensity_mae_vs_truth"].iloc[0] < 0.01
    assert table["propensity_corr_vs_truth"].iloc[0] > 0.8
    blank = table["status"] == "not_identifiable"
    assert (
        table.loc[blank, "positive_rate"].isna().all() and table.loc[blank, "reason"].notna().all()
    )
    with_interval = table[table["ci_lower"].notna()]
    assert (with_interval["ci_lower"] <= with_interval["positive_rate"] + 1e-12).all()
    assert (with_interval["positive_rate"] <= with_interval["ci_upper"] + 1e-12).all()

    test_recs = recommendations(warehouse, "split = 'test'")
    labelled = warehouse.sql(
        "select entity_key, conversion from features.ml_marketing_features "
        "where split in ('train', 'test')"
    ).df()
    rows = table.set_index(["policy", "estimator"])
    assert rows.loc[("recommended", "doubly_robust"), "rows_evaluated"] == len(test_recs)
    assert rows.loc[("historical", "observed"), "rows_evaluated"] == len(labelled)
    assert rows.loc[("historical", "observed"), "positive_rate"] == pytest.approx(
        labelled["conversion"].mean()
    )
    assert rows.loc[("recommended", "model_claim"), "positive_rate"] == pytest.approx(
        test_recs["recommended_probability"].mean()
    )
    assert rows.loc[("recommended", "ipw"), "matched_rows"] == pytest.approx(
        (test_recs["current_arm"] == test_recs["recommended_arm"]).sum()
    )
    # the truth, recomputed from the sidecar: mean true p of each policy's arm
    joined = test_recs.merge(sidecar(demo_raw_dir), on="entity_key", how="inner")
    true_recommended = np.mean(
        [
            row[f"p__{channel}__{platform}"]
            for row, (channel, platform) in zip(
                joined.to_dict("records"),
                joined["recommended_arm"].str.split(" + ", regex=False),
                strict=True,
            )
        ]
    )
    assert rows.loc[("recommended", "doubly_robust"), "true_positive_rate"] == pytest.approx(
        true_recommended, rel=1e-6
    )
    everyone = labelled.merge(sidecar(demo_raw_dir), on="entity_key", how="inner")
    assert rows.loc[("historical", "ipw"), "true_positive_rate"] == pytest.approx(
        everyone["p_realised"].mean(), rel=1e-6
    )
    arm = arms[0]
    channel, platform = arm.split(" + ")
    assert rows.loc[(f"always {arm}", "ipw"), "true_positive_rate"] == pytest.approx(
        everyone[f"p__{channel}__{platform}"].mean(), rel=1e-6
    )
    # the headline interval of the recommended policy covers its truth or says it cannot tell
    headline = rows.loc[("recommended", "doubly_robust")]
    assert headline["status"] == "not_identifiable" or headline["is_truth_covered"]

    design = warehouse.sql("select * from ml.ml_policy_experiment_design").df()
    assert list(design["arm"]) == ["control: historical", "treatment: recommended"]
    assert (design["allocation"] == 0.5).all()
    control = design.iloc[0]
    assert control["base_rate"] == pytest.approx(labelled["conversion"].mean())


def test_true_probabilities_come_from_the_sidecar(
    warehouse: duckdb.DuckDBPyConnection, demo_raw_dir: Path
) -> None:
    recs = recommendations(warehouse)
    assert recs["has_truth"].all()
    joined = recs.merge(sidecar(demo_raw_dir), on="entity_key", how="inner")
    assert len(joined) == len(recs)
    # the current arm is the realised one, so its true p is the sidecar's p_realised
    np.testing.assert_allclose(joined["true_current_probability"], joined["p_realised"], rtol=1e-6)
    arms = joined["recommended_arm"].str.split(" + ", regex=False)
    expected = [
        row[f"p__{c}__{p}"] for row, (c, p) in zip(joined.to_dict("records"), arms, strict=True)
    ]
    np.testing.assert_allclose(joined["true_recommended_probability"], expected, rtol=1e-12)
    summary = warehouse.sql(
        "select * from ml.ml_recommendation_summary where segment_type = 'overall'"
    ).df()
    overall = summary[summary["scope"] == "all"].iloc[0]
    assert overall["has_truth"]
    assert overall["true_positives_recommended"] == pytest.approx(
        recs["true_recommended_probability"].sum()
    )
    assert overall["true_relative_lift"] == pytest.approx(
        recs["true_recommended_probability"].sum() / recs["true_current_probability"].sum() - 1
    )


@pytest.mark.parametrize(
    "model",
    [
        "ml_recommendations",
        "ml_recommendation_summary",
        "ml_policy_evaluation",
        "ml_policy_experiment_design",
    ],
)
def test_every_column_is_documented_in_order(
    warehouse: duckdb.DuckDBPyConnection, demo_build: DbtResult, model: str
) -> None:
    node = demo_build.manifest()["nodes"][f"model.leakproof.{model}"]
    documented = list(node["columns"])
    assert all(c["description"] for c in node["columns"].values())
    assert warehouse.sql(f"select * from ml.{model} limit 0").columns == documented
