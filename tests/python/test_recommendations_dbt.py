"""The recommendation tables on the demo build: one row per customer, lifts consistent, the
recommendations equal a brute-force loop with the registered model, and the policy evaluation
carries the TRUE values, recomputed here from the sidecar."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from leakproof import artifacts, train

pytestmark = pytest.mark.dbt

PER_CHANNEL = (
    "is_paid_channel",
    "channel_avg_ad_spend",
    "channel_share_of_customers",
    "channel_conversion_rate_oof",
)


def test_one_row_per_customer_and_consistent_lifts(warehouse: duckdb.DuckDBPyConnection) -> None:
    features = warehouse.sql("select customer_id, split from features.ml_customer_features").df()
    recs = warehouse.sql("select * from ml.ml_recommendations").df()
    assert len(recs) == len(features)
    assert set(zip(recs["customer_id"], recs["split"], strict=True)) == set(
        zip(features["customer_id"], features["split"], strict=True)
    )
    assert (recs["recommended_probability"] >= recs["current_probability"]).all()
    assert (recs["runner_up_probability"] <= recs["recommended_probability"]).all()
    np.testing.assert_allclose(
        recs["absolute_lift"], recs["recommended_probability"] - recs["current_probability"]
    )
    np.testing.assert_allclose(
        recs["relative_lift"], recs["recommended_probability"] / recs["current_probability"] - 1
    )
    assert (recs["combinations_considered"] == 49).all()
    assert recs["is_model_claimed"].all()


def test_recommendations_equal_a_brute_force_loop_with_the_registered_model(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    features = warehouse.sql("select * from features.ml_customer_features").df()
    registry = warehouse.sql("select * from ml.ml_marketing_model").df()
    recs = warehouse.sql("select * from ml.ml_recommendations").df()
    bundle = artifacts.load_registered(registry)
    train_rows = features[features["split"] == "train"]
    held_out = features[features["split"] != "train"]
    channels = sorted(train_rows["campaign_channel"].unique())
    platforms = sorted(train_rows["advertising_platform"].unique())
    by_id = recs.set_index(["customer_id", "split"])
    for _, customer in features.sample(50, random_state=0).iterrows():
        rows = []
        for channel in channels:
            same_channel = held_out[held_out["campaign_channel"] == channel].iloc[0]
            for platform in platforms:
                row = customer.to_dict()
                row["campaign_channel"], row["advertising_platform"] = channel, platform
                row["channel_platform"] = f"{channel} + {platform}"
                for column in PER_CHANNEL:
                    row[column] = same_channel[column]
                if platform != customer["advertising_platform"]:
                    tools = train_rows.loc[
                        train_rows["advertising_platform"] == platform, "advertising_tool"
                    ]
                    row["advertising_tool"] = tools.value_counts().index[0]
                rows.append(row)
        frame = pd.DataFrame(rows)
        probability = train.predict_proba_frame(bundle, frame)["calibrated_probability"].to_numpy()
        best = int(np.argmax(probability))
        current = (
            frame["channel_platform"]
            .tolist()
            .index(f"{customer['campaign_channel']} + {customer['advertising_platform']}")
        )
        got = by_id.loc[(customer["customer_id"], customer["split"])]
        assert got["recommended_channel_platform"] == frame["channel_platform"].iloc[best]
        assert got["recommended_probability"] == pytest.approx(probability[best], rel=1e-9)
        assert got["current_probability"] == pytest.approx(probability[current], rel=1e-9)


def test_current_probability_of_a_test_customer_is_its_score(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    joined = warehouse.sql(
        "select r.current_probability, s.calibrated_probability from ml.ml_recommendations r "
        "inner join ml.ml_marketing_scores s using (customer_id, split) where r.split <> 'train'"
    ).df()
    np.testing.assert_allclose(
        joined["current_probability"], joined["calibrated_probability"], rtol=1e-9
    )


def test_summary_adds_up(warehouse: duckdb.DuckDBPyConnection) -> None:
    summary = warehouse.sql("select * from ml.ml_recommendation_summary").df()
    totals = warehouse.sql(
        "select count(*) as n, sum(current_probability) as cur, "
        "sum(recommended_probability) as rec from ml.ml_recommendations"
    ).df()
    overall = summary[(summary["scope"] == "all") & (summary["segment_type"] == "overall")].iloc[0]
    assert overall["customers"] == totals["n"][0]
    assert overall["expected_conversions_current"] == pytest.approx(totals["cur"][0])
    assert overall["expected_conversions_recommended"] == pytest.approx(totals["rec"][0])
    by_tier = summary[(summary["scope"] == "all") & (summary["segment_type"] == "income_tier")]
    assert by_tier["customers"].sum() == totals["n"][0]
    documented = summary[summary["segment_type"] == "document"]
    assert set(documented["segment"]) == {"high income", "young adults"}
    assert summary["is_model_claimed"].all()


def test_policy_evaluation_holds_the_true_values(
    warehouse: duckdb.DuckDBPyConnection, demo_raw_dir: Path
) -> None:
    table = warehouse.sql("select * from ml.ml_policy_evaluation").df()
    assert set(zip(table["policy"], table["estimator"], strict=True)) == {
        ("historical", e)
        for e in ("observed", "direct_method", "ipw", "snipw", "doubly_robust", "truth")
    } | {("recommended", e) for e in ("direct_method", "ipw", "snipw", "doubly_robust", "truth")}
    assert table["has_truth"].all()
    assert (table["evaluated_split"] == "test").all()
    estimated = table[table["estimator"] != "truth"]
    assert (estimated["ci_lower"] <= estimated["conversion_rate"] + 1e-12).all()
    assert (estimated["conversion_rate"] <= estimated["ci_upper"] + 1e-12).all()

    # the truth, recomputed from the sidecar: mean true p of each policy's combination
    truth = pd.read_parquet(demo_raw_dir / "_truth" / "customers_truth.parquet")
    recs = warehouse.sql("select * from ml.ml_recommendations where split = 'test'").df()
    joined = recs.merge(truth, left_on="customer_id", right_on="CustomerID", how="inner")
    assert len(joined) == len(recs)
    true_recommended = np.mean(
        [
            row[f"p__{row['recommended_channel']}__{row['recommended_platform']}"]
            for _, row in joined.iterrows()
        ]
    )
    rows = table.set_index(["policy", "estimator"])
    assert rows.loc[("recommended", "truth"), "conversion_rate"] == pytest.approx(
        true_recommended, rel=1e-6
    )
    assert rows.loc[("historical", "truth"), "conversion_rate"] == pytest.approx(
        joined["p_realised"].mean(), rel=1e-6
    )
    for policy_name in ("historical", "recommended"):
        for estimator in ("direct_method", "ipw", "doubly_robust"):
            row = rows.loc[(policy_name, estimator)]
            assert row["bias_vs_truth"] == pytest.approx(
                row["conversion_rate"] - rows.loc[(policy_name, "truth"), "conversion_rate"]
            )
    claimed = rows.loc[("recommended", "direct_method")]
    assert claimed["is_model_claimed"]
    assert claimed["relative_lift"] == pytest.approx(
        claimed["conversion_rate"] / rows.loc[("historical", "direct_method"), "conversion_rate"]
        - 1
    )
    assert 0 < table["min_propensity_logged"].iloc[0] <= 1
    assert 0 < table["effective_sample_size"].iloc[0] <= table["customers"].iloc[0]
    assert table["propensity_corr_vs_truth"].iloc[0] > 0.5


def test_true_probabilities_come_from_the_sidecar(
    warehouse: duckdb.DuckDBPyConnection, demo_raw_dir: Path
) -> None:
    recs = warehouse.sql("select * from ml.ml_recommendations").df()
    assert recs["has_truth"].all()
    truth = pd.read_parquet(demo_raw_dir / "_truth" / "customers_truth.parquet")
    joined = recs.merge(truth, left_on="customer_id", right_on="CustomerID", how="inner")
    assert len(joined) == len(recs)
    # the current combination is the realised one, so its true p is the sidecar's p_realised
    np.testing.assert_allclose(joined["true_current_probability"], joined["p_realised"], rtol=1e-6)
    summary = warehouse.sql(
        "select * from ml.ml_recommendation_summary where segment_type = 'overall'"
    ).df()
    overall = summary[summary["scope"] == "all"].iloc[0]
    assert overall["has_truth"]
    assert overall["true_conversions_recommended"] == pytest.approx(
        recs["true_recommended_probability"].sum()
    )
    assert overall["true_relative_lift"] == pytest.approx(
        recs["true_recommended_probability"].sum() / recs["true_current_probability"].sum() - 1
    )


@pytest.mark.parametrize(
    "model", ["ml_recommendations", "ml_recommendation_summary", "ml_policy_evaluation"]
)
def test_every_column_is_documented_in_order(
    warehouse: duckdb.DuckDBPyConnection, demo_build, model: str
) -> None:
    node = demo_build.manifest()["nodes"][f"model.leakproof.{model}"]
    documented = list(node["columns"])
    assert all(c["description"] for c in node["columns"].values())
    assert warehouse.sql(f"select * from ml.{model} limit 0").columns == documented
