"""Calibration and model-quality benchmark over sizes and generator seeds (issue 19).

For each size and seed: generate the demo data (B2B scaled alongside, 20,000 rows per 48,000
customers, as ``leakproof bench``), then run the default build path of training in a scratch
warehouse - ``dbt build --select +ml_evaluation_summary +ml_model_yardsticks``: the raw readers,
staging, the feature tables, the leakage guard's lineage and the feature tests, training,
scoring, the SQL evaluation and its quality-gate test, and the yardsticks - with the project's
own declarations and vars. Per use case it reads back the model of record, its CV and test AUC,
the plain logistic and oracle yardsticks on the same test split, and the calibration slope and
intercept of the calibrated test probabilities (``ml_evaluation_summary``) against the use
case's gates (its declaration's ``gates`` over var ``quality_gates``, as the dbt test merges
them).

Results accumulate in ``<out>/results.csv`` (one row per size, seed and use case; a rerun of a
size and seed replaces its rows), so separate invocations build one table. A benchmark, not a
test: nothing here asserts a gate (``tests/python/test_calibration_gates.py`` does, at 10K).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pandas as pd
import yaml

from leakproof.bench import B2B_PER_CUSTOMER, _timed
from leakproof.declarations import load
from leakproof.generate import generate

__all__ = ["COLUMNS", "SELECT", "calibration_bench", "gate_results", "markdown", "run_one"]

# The default build path of training, its ancestors and the tests on them (the gates included).
SELECT = ("+ml_evaluation_summary", "+ml_model_yardsticks")
# Raw data above this many customers is deleted after its run (the warehouse is kept).
KEEP_DATA_ROWS = 100_000
COLUMNS = [
    "rows",
    "seed",
    "use_case",
    "model_of_record",
    "cv_auc",
    "test_auc",
    "plain_logistic_auc",
    "oracle_auc",
    "test_positives",
    "calibration_slope",
    "calibration_intercept",
    "recalibration_intercept",
    "calibration_gates_pass",
    "failed_gates",
    "build_ok",
    "build_seconds",
    "peak_gb",
]

_QUERY = """
with primary_model as (
    select use_case, model_id, algorithm || ' / ' || imbalance_treatment as model_of_record,
        cv_auc_mean as cv_auc, test_auc
    from ml.ml_model_registry where role = 'primary'
),

yardsticks as (
    select
        use_case,
        max(test_auc) filter (where yardstick = 'plain_logistic') as plain_logistic_auc,
        max(test_auc) filter (where yardstick = 'oracle') as oracle_auc
    from ml.ml_model_yardsticks group by use_case
)

select
    p.use_case, p.model_of_record, p.cv_auc, p.test_auc, y.plain_logistic_auc, y.oracle_auc,
    e.positives as test_positives, e.calibration_slope, e.calibration_intercept,
    e.recalibration_intercept
from primary_model as p
left join yardsticks as y using (use_case)
left join ml.ml_evaluation_summary as e
    on e.use_case = p.use_case and e.model_id = p.model_id and e.split = 'test'
order by p.use_case
"""


def gate_results(project_dir: Path, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (one row per use case with test_positives, calibration_slope / _intercept and
    test_auc) with each use case's gates applied: the declaration's ``gates`` over var
    ``quality_gates`` of ``dbt_project.yml``, as ``passes_quality_gates`` merges them. The AUC
    gate is of the calibrated score in dbt; a calibrator is monotone, so the raw AUC is used."""
    project = yaml.safe_load((project_dir / "dbt_project.yml").read_text(encoding="utf-8"))
    defaults = dict(project["vars"]["quality_gates"])
    calibrated, failed = [], []
    for row in frame.itertuples(index=False):
        declaration = load(project_dir / "use_cases" / f"{row.use_case}.yml")
        gate = {**defaults, **dict(declaration.gates)}
        checks = {
            "calibration_slope": (row.calibration_slope, *gate["calibration_slope"]),
            "calibration_intercept": (row.calibration_intercept, *gate["calibration_intercept"]),
            "auc": (row.test_auc, gate["min_auc"], 1.0),
            "positives": (row.test_positives, gate["min_test_positives"], float("inf")),
        }
        failing = [
            f"{name} {value:.4g} not in [{low:g}, {high:g}]"
            for name, (value, low, high) in checks.items()
            if not low <= value <= high  # NaN fails
        ]
        calibrated.append(not any(f.startswith("calibration") for f in failing))
        failed.append("; ".join(failing))
    return frame.assign(calibration_gates_pass=calibrated, failed_gates=failed)


def run_one(rows: int, seed: int, out: Path, project_dir: Path, dbt: str) -> pd.DataFrame:
    """Generate, build the training path and read the results of one size and seed."""
    data = out / "data" / f"{rows}-{seed}"
    work = out / "work" / f"{rows}-{seed}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    generate(data, rows=rows, seed=seed, b2b_rows=round(rows * B2B_PER_CUSTOMER), truth=True)
    warehouse = work / "leakproof.duckdb"
    dbt_vars = json.dumps({"raw_dir": str(data), "artifact_dir": str(work / "artifacts")})
    env = {**os.environ, "LEAKPROOF_WAREHOUSE": str(warehouse), "DBT_LOG_PATH": str(work)}
    command = [dbt, "build", "--select", *SELECT, "--target-path", str(work / "target")]
    command += ["--vars", dbt_vars]
    seconds, returncode, memory = _timed(command, project_dir, env, work / "build.log")
    if rows > KEEP_DATA_ROWS:
        shutil.rmtree(data, ignore_errors=True)
    frame = pd.DataFrame(columns=COLUMNS[2:-5])
    if warehouse.exists():
        with duckdb.connect(str(warehouse), read_only=True) as connection:
            try:
                frame = connection.sql(_QUERY).df()
            except duckdb.Error as error:  # the build stopped before a table existed
                print(f"bench-calibration: {rows}/{seed}: {error}", file=sys.stderr)
    frame = gate_results(project_dir, frame) if len(frame) else frame
    frame.insert(0, "seed", seed)
    frame.insert(0, "rows", rows)
    return frame.assign(
        build_ok=returncode == 0, build_seconds=round(seconds, 1), peak_gb=memory.peak / 1e9
    ).reindex(columns=COLUMNS)


def markdown(results: pd.DataFrame) -> str:
    """The README table: one row per size, seed and use case."""

    def num(value: float, digits: int = 3) -> str:
        return "" if pd.isna(value) else f"{value:.{digits}f}"

    lines = [
        "| customers | seed | use case | model of record | CV AUC | test AUC | plain logistic "
        "| oracle | test positives | calibration slope | intercept | gates failed |",
        "| ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in results.sort_values(["rows", "seed", "use_case"]).itertuples(index=False):
        gates = "none" if pd.isna(row.failed_gates) or not row.failed_gates else row.failed_gates
        lines.append(
            f"| {row.rows:,} | {row.seed} | {row.use_case} | {row.model_of_record} "
            f"| {num(row.cv_auc)} | {num(row.test_auc)} | {num(row.plain_logistic_auc)} "
            f"| {num(row.oracle_auc)} | {num(row.test_positives, 0)} "
            f"| {num(row.calibration_slope, 2)} | {num(row.calibration_intercept, 2)} | {gates} |"
        )
    return "\n".join(lines) + "\n"


def calibration_bench(
    sizes: Sequence[int], seeds: Sequence[int], out: Path, project_dir: Path
) -> pd.DataFrame:
    """Run every size x seed; merge into ``<out>/results.csv``; return the whole table."""
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    dbt = str(Path(sys.executable).with_name("dbt"))
    path = out / "results.csv"
    results = pd.read_csv(path) if path.exists() else pd.DataFrame(columns=COLUMNS)
    for rows in sizes:
        for seed in seeds:
            print(f"bench-calibration: {rows:,} customers, seed {seed} ...", file=sys.stderr)
            frame = run_one(rows, seed, out, project_dir.resolve(), dbt)
            kept = results[~((results["rows"] == rows) & (results["seed"] == seed))]
            results = pd.concat([kept, frame], ignore_index=True) if len(kept) else frame
            results.to_csv(path, index=False)
    return results
