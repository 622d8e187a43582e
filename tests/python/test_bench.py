"""The benchmark's bookkeeping (the runs themselves are too slow for the suite: `make bench`)."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest

from dbt_runner import PROJECT_ROOT, DbtResult
from leakproof.bench import (
    Run,
    growth,
    guard_costs,
    node_peaks,
    table,
    turn_waits,
    write_results,
)
from leakproof.bench_pandas import pandas_reference
from leakproof.declarations import load


def runs() -> list[Run]:
    stages = {"generate": 2.0, "dbt_parse": 4.0, "dbt_build": 50.0, "publish": 1.0}
    small = Run(48_000, stages, 2_000_000_000, 0, [("model.a.train", 20.0), ("model.a.x", 1.0)])
    large = Run(
        1_000_000,
        {"generate": 8.0, "dbt_parse": 4.0, "dbt_build": 400.0, "publish": 6.0},
        6_000_000_000,
        0,
        [("model.a.train", 300.0), ("model.a.x", 45.0), ("model.a.fast", 0.4)],
        node_waits={"model.a.x": 40.0},  # 40 of its 45 s waiting for a turn
    )
    return [small, large]


def test_results_csv_has_every_stage_the_end_to_end_total_and_every_node(tmp_path: Path) -> None:
    path = write_results(runs(), tmp_path)
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    totals = [r for r in rows if r["node"] == "total:end_to_end"]
    assert [(r["rows"], r["seconds"], r["peak_rss_gb"]) for r in totals] == [
        ("48000", "57.00", "2.00"),
        ("1000000", "418.00", "6.00"),
    ]
    builds = [r["seconds"] for r in rows if r["node"] == "total:dbt_build"]
    assert builds == ["50.00", "400.00"]
    assert {r["node"] for r in rows if r["rows"] == "1000000"} >= {
        "model.a.train",
        "model.a.x",
        "total:generate",
        "total:dbt_parse",
        "total:publish",
    }


def test_growth_ranks_nodes_and_skips_the_ones_dominated_by_fixed_costs() -> None:
    small, large = runs()
    assert growth(small, large) == [(15.0, "model.a.train"), (5.0, "model.a.x")]  # 45 - 40 s


def test_table_reports_stages_targets_and_the_growth_of_each_slow_node() -> None:
    text = table(runs())
    assert "time ratio 48,000 -> 1,000,000 (rows x20.8):" in text
    assert "15.0  model.a.train" in text  # 300 / 20
    assert "418.0" in text  # end to end
    assert "targets: dbt build at 48K <= 30 s" in text


def test_node_peaks_take_the_largest_sample_inside_each_node() -> None:
    def node(name: str, start: str, end: str) -> dict:
        timing = [{"name": "execute", "started_at": start, "completed_at": end}]
        return {"unique_id": name, "timing": timing}

    base = 1_800_000_000.0  # 2027-01-15T08:00:00Z
    results = [
        node("model.a.first", "2027-01-15T08:00:00Z", "2027-01-15T08:00:02Z"),
        node("model.a.second", "2027-01-15T08:00:02.5Z", "2027-01-15T08:00:04Z"),
        node("model.a.instant", "2027-01-15T08:00:04.01Z", "2027-01-15T08:00:04.02Z"),
    ]
    samples = [(base + 0.5, 10), (base + 1.5, 30), (base + 3.0, 20), (base + 3.5, 25)]
    assert node_peaks(results, samples) == {
        "model.a.first": 30,
        "model.a.second": 25,
        "model.a.instant": 0,
    }


def test_turn_waits_sum_each_models_waits_from_the_log(tmp_path: Path) -> None:
    log = tmp_path / "turns.jsonl"
    assert turn_waits(log) == {}
    log.write_text(
        '{"model": "ml_scores", "waited_seconds": 0.0}\n'
        '{"model": "ml_recs", "waited_seconds": 12.5}\n'
        '{"model": "ml_recs", "waited_seconds": 0.5}\n'
    )
    assert turn_waits(log) == {"model.leakproof.ml_scores": 0.0, "model.leakproof.ml_recs": 13.0}


def test_results_csv_records_each_nodes_wait(tmp_path: Path) -> None:
    with write_results(runs(), tmp_path).open() as handle:
        rows = {(r["rows"], r["node"]): r for r in csv.DictReader(handle)}
    assert rows[("1000000", "model.a.x")]["seconds"] == "45.000"
    assert rows[("1000000", "model.a.x")]["waited_seconds"] == "40.000"
    assert rows[("1000000", "model.a.train")]["waited_seconds"] == ""


def test_turn_waits_read_the_log_the_steps_write(tmp_path: Path, monkeypatch) -> None:
    """The benchmark reads the turns log leakproof.steps writes (the bench once imported the
    removed leakproof.models and could not start)."""
    from leakproof.steps import TURNS_LOG_ENV, one_large_model_at_a_time

    log = tmp_path / "turns.jsonl"
    monkeypatch.setenv(TURNS_LOG_ENV, str(log))
    with one_large_model_at_a_time("ml_scores"):
        pass
    waits = turn_waits(log)
    assert list(waits) == ["model.leakproof.ml_scores"]
    assert 0.0 <= waits["model.leakproof.ml_scores"] < 1.0


def test_the_guard_models_cost_is_printed_for_every_size() -> None:
    stages = {"generate": 2.0, "dbt_parse": 4.0, "dbt_build": 50.0, "publish": 1.0}
    probe, lineage = "model.leakproof.ml_permutation_probe", "model.leakproof.ml_feature_lineage"
    small = Run(48_000, stages, 1, 0, [(probe, 5.0), (lineage, 10.0)], {probe: 1_500_000_000})
    large = Run(1_000_000, {**stages, "dbt_build": 400.0}, 1, 0, [(probe, 80.0)])
    lines = guard_costs([small, large])
    assert lines[1] == (
        "      48,000  ml_feature_lineage 10.0 (20%, 0.00); ml_permutation_probe 5.0 (10%, 1.50)"
    )
    assert lines[2] == "   1,000,000  ml_permutation_probe 80.0 (20%, 0.00)"
    assert "leakage guard cost" in table([small, large])


def test_the_pandas_reference_computes_what_the_dbt_marts_do(
    demo_build: DbtResult, demo_raw_dir: Path, warehouse: duckdb.DuckDBPyConnection
) -> None:
    """The staging benchmark compares like with like: on the demo data the pandas reference's
    rows, positives, rate interval and spend per channel equal fct_dimension_performance's, and
    its rows and positives per income tier and channel fct_segment_performance's."""
    declaration = load(PROJECT_ROOT / "use_cases" / "marketing.yml")
    tables = pandas_reference(demo_raw_dir / "customers.csv", declaration)
    expected = {
        value: (rows, positives, low, high, spend)
        for value, rows, positives, low, high, spend in warehouse.execute(
            "select dimension_value, labelled_rows, positives, positive_rate_ci_lower, "
            "positive_rate_ci_upper, total_spend from marts.fct_dimension_performance "
            "where use_case = 'marketing' and dimension = 'campaign_channel' "
            "and labelled_rows > 0"
        ).fetchall()
    }
    channels = tables["dimension:campaign_channel"]
    assert set(channels.index) == set(expected)
    for value, (rows, positives, low, high, spend) in expected.items():
        row = channels.loc[value]
        assert (row["rows"], row["positives"]) == (rows, positives), value
        assert row["rate_low"] == pytest.approx(low, abs=1e-12), value
        assert row["rate_high"] == pytest.approx(high, abs=1e-12), value
        assert row["spend"] == pytest.approx(spend, rel=1e-9), value
    crossed = {
        (segment, channel): (rows, positives)
        for segment, channel, rows, positives in warehouse.execute(
            "select segment_value, dimension_value, labelled_rows, positives "
            "from marts.fct_segment_performance where use_case = 'marketing' "
            "and segment_type = 'income_tier' and dimension = 'campaign_channel' "
            "and labelled_rows > 0"
        ).fetchall()
    }
    by_tier = tables["segment:income_tier:campaign_channel"]
    assert {key: (row["rows"], row["positives"]) for key, row in by_tier.iterrows()} == crossed
