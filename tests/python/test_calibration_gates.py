"""Calibration gates at a small size (issue 19): the default training path, built by dbt on
10,000 generated customers of the seed the issue's failure came from, passes its calibration
gates; and the benchmark's gate check (leakproof.bench_calibration) fails where it should."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from dbt_runner import DBT, PROJECT_ROOT
from leakproof.bench_calibration import COLUMNS, gate_results, markdown, run_one

# The declared gates of both use cases (use_cases/*.yml over var quality_gates).
SLOPE, INTERCEPT = (0.5, 1.5), (-1.0, 1.0)


def test_gate_results_fail_the_issues_miscalibrated_model() -> None:
    frame = pd.DataFrame(
        {
            "use_case": ["marketing", "b2b", "marketing"],
            # the 20K seed-2 failure the issue reports; a calibrated one; too few positives
            "calibration_slope": [0.17, 0.93, 1.0],
            "calibration_intercept": [-3.57, 0.1, 0.0],
            "test_auc": [0.691, 0.59, 0.70],
            "test_positives": [52, 640, 26],
        }
    )
    checked = gate_results(PROJECT_ROOT, frame)
    assert checked["calibration_gates_pass"].tolist() == [False, True, True]
    assert checked["failed_gates"].tolist() == [
        "calibration_slope 0.17 not in [0.5, 1.5]; calibration_intercept -3.57 not in [-1, 1]",
        "",
        "positives 26 not in [30, inf]",
    ]
    # b2b's AUC floor is its own (0.55), not marketing's (0.6)
    low = gate_results(PROJECT_ROOT, frame.assign(test_auc=0.58))["failed_gates"]
    assert low.str.contains("auc").tolist() == [True, False, True]


@pytest.fixture(scope="module")
def small_build(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("bench_calibration")
    return run_one(10_000, 2, out, PROJECT_ROOT, str(DBT)).assign(out=str(out))


def test_the_default_build_passes_its_calibration_gates_at_10k(small_build) -> None:
    frame = small_build.set_index("use_case")
    assert set(frame.index) == {"b2b", "marketing"}
    assert list(small_build.columns[:-1]) == COLUMNS
    for use_case, row in frame.iterrows():
        assert SLOPE[0] <= row.calibration_slope <= SLOPE[1], (use_case, row.calibration_slope)
        assert INTERCEPT[0] <= row.calibration_intercept <= INTERCEPT[1], use_case
        assert row.calibration_gates_pass, (use_case, row.failed_gates)
        # the yardsticks were measured on the same test split, and the oracle is the ceiling
        assert 0.5 < row.plain_logistic_auc < 1 and 0.5 < row.oracle_auc < 1
        if row.model_of_record == "logistic_l2 / none":  # the plain baseline itself
            assert row.test_auc == pytest.approx(row.plain_logistic_auc, abs=1e-4)
    # The dbt gate test agrees with the benchmark's check: whatever failed, failed in both.
    warehouse = Path(small_build["out"].iloc[0]) / "work" / "10000-2" / "leakproof.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        failed = connection.sql(
            "select use_case, gate from test_failures.passes_quality_gates_ml_evaluation_summary_"
        ).fetchall()
    expected = {
        (use_case, text.split(" ")[0])
        for use_case, texts in frame["failed_gates"].items()
        for text in texts.split("; ")
        if text
    }
    assert set(failed) == expected
    assert frame["build_ok"].all() == (not failed)


def test_the_markdown_table_has_a_row_per_use_case(small_build) -> None:
    lines = markdown(small_build.drop(columns="out")).splitlines()
    assert len(lines) == 2 + 2
    assert lines[2].startswith("| 10,000 | 2 | b2b | ")
