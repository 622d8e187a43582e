"""Drift monitoring and targeting on the demo build: ml_psi equals an independent numpy PSI over
the frozen bins, the drifted wave warns and the stable populations do not, the error var turns
drift into a failing gate, the bins stay frozen with `retrain: false`, and every use case's
targeting curve adds up."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from dbt_runner import DbtResult, run_dbt
from leakproof import drift

pytestmark = pytest.mark.dbt

# Populations: the test split and the scoring batch of a use case split at random; every period
# of a use case split by time (b2b: campaign waves 1-4 train, 5 test, 6 the unlabelled newest).
POPULATIONS = {
    "marketing": """
        select f.*, s.calibrated_probability,
            case when f.split = 'score' then 'scoring_batch' else 'test_split' end as population
        from features.ml_marketing_features as f
        inner join ml.ml_scores as s
            on s.use_case = 'marketing' and s.entity_key = f.entity_key and s.split = f.split
        where f.split in ('score', 'test')
    """,
    "b2b": """
        select f.*, s.calibrated_probability, 'campaign_wave ' || f.campaign_wave as population
        from features.ml_b2b_features as f
        inner join ml.ml_scores as s
            on s.use_case = 'b2b' and s.entity_key = f.entity_key and s.split = f.split
    """,
}
DRIFTED = "campaign_wave 6"


def copy_warehouse(build: DbtResult, workdir: Path) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copy(build.warehouse, workdir / "leakproof.duckdb")


def test_psi_equals_an_independent_numpy_computation(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    bins = warehouse.sql("select * from ml.ml_psi_reference_bins").df()
    measured = warehouse.sql("select * from ml.ml_psi").df()
    assert np.allclose(bins.groupby(["use_case", "variable_name"])["reference_share"].sum(), 1.0)
    compared = 0
    for use_case, sql in POPULATIONS.items():
        rows = warehouse.sql(sql).df()
        for (population, variable), expected in (
            measured[measured["use_case"] == use_case].set_index(["population", "variable_name"])[
                "psi"
            ]
        ).items():
            variable_bins = bins[
                (bins["use_case"] == use_case) & (bins["variable_name"] == variable)
            ]
            values = rows.loc[rows["population"] == population, variable]
            assert drift.population_psi(values, variable_bins) == pytest.approx(
                expected, abs=1e-9
            ), (use_case, population, variable)
            compared += 1
    # every variable of every population: the score and each feature of both models
    variables = bins.groupby("use_case")["variable_name"].nunique()
    assert compared == len(measured) == variables["marketing"] * 2 + variables["b2b"] * 6
    populations = measured.drop_duplicates(["use_case", "population"]).set_index(
        ["use_case", "population"]
    )
    assert populations.loc[
        ("b2b", DRIFTED), ["population_split", "population_period"]
    ].tolist() == [
        "score",
        "6",
    ]
    assert populations.loc[("b2b", "campaign_wave 5"), "population_split"] == "test"
    assert pd.isna(populations.loc[("marketing", "scoring_batch"), "population_period"])


def test_the_drifted_wave_warns_and_the_stable_populations_do_not(
    warehouse: duckdb.DuckDBPyConnection, demo_build: DbtResult
) -> None:
    measured = warehouse.sql("select * from ml.ml_psi").df()
    gated = measured[measured["is_gated"]]
    drifted = gated[gated["is_above_warn"]]
    assert set(drifted["population"]) == {DRIFTED}, drifted
    assert {"company_size", "website_visits_30d"} <= set(drifted["variable_name"])
    stable = gated[gated["population"] != DRIFTED]
    assert stable["psi"].max() < 0.1, stable.nlargest(3, "psi")
    # the out-of-fold target encoding is compared like with like (its reference is the value
    # test and scoring rows get), so it is gated like every feature and stable where nothing drifts
    assert measured["is_gated"].all()
    oof = stable[stable["variable_name"] == "channel_conversion_rate_oof"]
    assert len(oof) and oof["psi"].max() < 0.05, oof
    assert (measured["chi_square_p_value"].between(0, 1)).all()
    statuses = {
        unique_id.split(".")[2]: status
        for unique_id, status in demo_build.statuses().items()
        if unique_id.startswith("test.") and "psi_below" in unique_id
    }
    assert statuses == {"psi_below_warn_ml_psi": "warn", "psi_below_error_ml_psi": "pass"}
    assert f"PSI DRIFT WARNING: b2b {DRIFTED} - website_visits_30d" in demo_build.output


def test_the_error_var_turns_drift_into_a_failing_gate(
    demo_build: DbtResult, demo_raw_dir: Path, tmp_path: Path
) -> None:
    copy_warehouse(demo_build, tmp_path)
    result = run_dbt(
        ["build", "--select", "ml_psi"],
        tmp_path,
        raw_dir=demo_raw_dir,
        dbt_vars={"psi_error": 0.25},
    )
    assert not result.ok
    statuses = {k.split(".")[2]: v for k, v in result.statuses().items() if k.startswith("test.")}
    assert statuses["psi_below_error_ml_psi"] == "fail"
    assert f"PSI DRIFT GATE: b2b {DRIFTED} - website_visits_30d" in result.output
    assert "PSI DRIFT GATE: b2b campaign_wave 5" not in result.output
    assert "PSI DRIFT GATE: marketing" not in result.output


def test_reference_bins_stay_frozen_with_retrain_false(
    demo_build: DbtResult, demo_raw_dir: Path, tmp_path: Path
) -> None:
    copy_warehouse(demo_build, tmp_path)
    artifacts = demo_build.warehouse.parent / "artifacts"
    frozen = sorted(artifacts.glob(f"*/*/{drift.BINS_FILE}"))
    assert len(frozen) == 2  # one per use case, next to the primary model
    before = {path: path.stat().st_mtime_ns for path in frozen}
    result = run_dbt(
        ["run", "--select", "ml_psi_reference_bins"],
        tmp_path,
        raw_dir=demo_raw_dir,
        dbt_vars={"retrain": False, "artifact_dir": str(artifacts), "psi_bins": 4},
    )
    assert result.ok, result.output[-3000:]
    assert {path: path.stat().st_mtime_ns for path in frozen} == before
    query = "select * from ml.ml_psi_reference_bins order by use_case, variable_name, bin_index"
    with duckdb.connect(str(tmp_path / "leakproof.duckdb"), read_only=True) as reused:
        reloaded = reused.sql(query).df()
    with duckdb.connect(str(demo_build.warehouse), read_only=True) as original:
        pd.testing.assert_frame_equal(reloaded, original.sql(query).df())


def test_targeting_curve_adds_up(warehouse: duckdb.DuckDBPyConnection) -> None:
    curve = warehouse.sql("select * from ml.ml_targeting").df()
    scores = warehouse.sql(
        "select s.use_case, s.split, s.entity_key, s.actual_label, s.calibrated_probability, "
        "coalesce(cast(f.campaign_wave as varchar), '(all)') as period "
        "from ml.ml_scores as s left join features.ml_b2b_features as f "
        "on s.use_case = 'b2b' and s.entity_key = f.entity_key and s.split = f.split "
        "where s.split in ('test', 'score')"
    ).df()
    # the held-out test split and the rows to score, per period for the time-split b2b
    populations = zip(curve["use_case"], curve["population_split"], curve["period"], strict=True)
    assert sorted(set(populations)) == [
        ("b2b", "score", "6"),
        ("b2b", "test", "5"),
        ("marketing", "score", "(all)"),
        ("marketing", "test", "(all)"),
    ]
    for (use_case, split, period), rows in scores.groupby(["use_case", "split", "period"]):
        ranked = rows.sort_values(["calibrated_probability", "entity_key"], ascending=[False, True])
        own = curve[
            (curve["use_case"] == use_case)
            & (curve["population_split"] == split)
            & (curve["period"] == period)
        ].sort_values("rows_contacted")
        assert np.allclose(own["budget_share"], np.arange(1, 21) / 20)
        assert own["is_contact_budget"].sum() == 1  # 0.2 is on the grid
        assert own.loc[own["is_contact_budget"], "budget_share"].item() == pytest.approx(0.2)
        assert (own["rows_total"] == len(rows)).all()
        for _, row in own.iterrows():
            top = ranked.head(int(np.ceil(round(row["budget_share"] * len(rows), 6))))
            assert row["rows_contacted"] == len(top)
            assert row["score_cutoff"] == top["calibrated_probability"].min()
            assert row["expected_positives"] == pytest.approx(top["calibrated_probability"].sum())
            assert row["expected_lift"] == pytest.approx(
                top["calibrated_probability"].mean() / rows["calibrated_probability"].mean()
            )
            if split == "test":
                rate = top["actual_label"].mean()
                base = rows["actual_label"].mean()
                assert row["is_labelled"]
                assert row["observed_positives"] == top["actual_label"].sum()
                assert row["observed_positive_rate"] == pytest.approx(rate)
                assert row["observed_lift"] == pytest.approx(rate / base)
                assert row["observed_positives_over_random"] == pytest.approx(
                    top["actual_label"].sum() - len(top) * base
                )
            else:
                assert pd.isna(row["observed_positive_rate"]) and not row["is_labelled"]
        assert own["expected_lift"].iloc[-1] == pytest.approx(1.0)
