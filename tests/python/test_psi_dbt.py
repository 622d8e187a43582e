"""Drift monitoring and B2B targeting on the demo build: ml_psi equals an independent numpy PSI
over the frozen bins, the drifted wave warns and the stable populations do not, the error var
turns drift into a failing gate, the bins stay frozen with `retrain: false`, and the targeting
curve adds up."""

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

POPULATIONS = {
    "marketing": """
        select f.*, s.calibrated_probability,
            case when f.split = 'score' then 'scoring_batch' else 'test_split' end as population
        from features.ml_customer_features as f
        inner join ml.ml_marketing_scores as s using (customer_id, split)
        where f.split in ('score', 'test')
    """,
    "b2b": """
        select f.*, s.calibrated_probability, 'wave_' || f.campaign_wave as population
        from features.ml_account_features as f
        inner join ml.ml_b2b_scores as s using (account_id, campaign_wave)
    """,
}


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


def test_the_drifted_wave_warns_and_the_stable_populations_do_not(
    warehouse: duckdb.DuckDBPyConnection, demo_build: DbtResult
) -> None:
    measured = warehouse.sql("select * from ml.ml_psi").df()
    gated = measured[measured["is_gated"]]
    drifted = gated[gated["is_above_warn"]]
    assert set(drifted["population"]) == {"wave_6"}, drifted
    assert {"company_size", "website_visits_30d"} <= set(drifted["variable_name"])
    stable = gated[gated["population"] != "wave_6"]
    assert stable["psi"].max() < 0.1, stable.nlargest(3, "psi")
    # the out-of-fold target encoding is measured but not gated (see ml_psi_reference_bins)
    assert set(measured.loc[~measured["is_gated"], "variable_name"]) == {
        "channel_conversion_rate_oof"
    }
    assert (measured["chi_square_p_value"].between(0, 1)).all()
    statuses = {
        unique_id.split(".")[2]: status
        for unique_id, status in demo_build.statuses().items()
        if unique_id.startswith("test.") and "psi_below" in unique_id
    }
    assert statuses == {"psi_below_warn_ml_psi": "warn", "psi_below_error_ml_psi": "pass"}
    assert "PSI DRIFT WARNING: b2b wave_6 - website_visits_30d" in demo_build.output


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
    assert "PSI DRIFT GATE: b2b wave_6 - website_visits_30d" in result.output
    assert "PSI DRIFT GATE: b2b wave_5" not in result.output


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
    curve = warehouse.sql("select * from ml.ml_b2b_targeting").df()
    scores = warehouse.sql(
        "select split, account_id, actual_label, calibrated_probability from ml.ml_b2b_scores "
        "where split in ('test', 'score')"
    ).df()
    assert set(curve["population_split"]) == {"test", "score"}
    for split, rows in scores.groupby("split"):
        ranked = rows.sort_values(["calibrated_probability", "account_id"], ascending=[False, True])
        own = curve[curve["population_split"] == split].sort_values("accounts_contacted")
        assert np.allclose(own["budget_share"], np.arange(1, 21) / 20)
        assert own["is_contact_budget"].sum() == 1
        assert own.loc[own["is_contact_budget"], "budget_share"].item() == pytest.approx(0.2)
        for _, row in own.iterrows():
            top = ranked.head(int(np.ceil(round(row["budget_share"] * len(rows), 6))))
            assert row["accounts_contacted"] == len(top)
            assert row["expected_responses"] == pytest.approx(top["calibrated_probability"].sum())
            if split == "test":
                rate = top["actual_label"].mean()
                assert row["observed_response_rate"] == pytest.approx(rate)
                assert row["observed_lift"] == pytest.approx(rate / rows["actual_label"].mean())
            else:
                assert pd.isna(row["observed_response_rate"]) and not row["is_labelled"]
        assert own["expected_lift"].iloc[-1] == pytest.approx(1.0)
