"""The benchmark's bookkeeping (the runs themselves are too slow for the suite: `make bench`)."""

from __future__ import annotations

import csv
from pathlib import Path

from leakproof.bench import Run, table, write_results


def runs() -> list[Run]:
    small = Run(48_000, 2.0, 50.0, 2_000_000_000, 0, [("model.a.train", 20.0), ("model.a.x", 1.0)])
    large = Run(
        1_000_000, 8.0, 400.0, 6_000_000_000, 0, [("model.a.train", 300.0), ("model.a.x", 5.0)]
    )
    return [small, large]


def test_results_csv_has_totals_and_every_node(tmp_path: Path) -> None:
    path = write_results(runs(), tmp_path)
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    totals = [r for r in rows if r["node"] == "total:dbt_build"]
    assert [(r["rows"], r["seconds"], r["peak_rss_gb"]) for r in totals] == [
        ("48000", "50.00", "2.00"),
        ("1000000", "400.00", "6.00"),
    ]
    assert {r["node"] for r in rows if r["rows"] == "1000000"} >= {"model.a.train", "model.a.x"}


def test_table_reports_the_growth_of_each_slow_node() -> None:
    text = table(runs())
    assert "time ratio 48,000 -> 1,000,000 (rows x20.8):" in text
    assert "15.0  model.a.train" in text  # 300 / 20
    assert "model.a.x" in text  # 5 / 1, listed since it took at least 0.5 s
