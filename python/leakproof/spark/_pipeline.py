"""The whole pipeline on the spark target, one command (`leakproof spark-ml`): dbt-spark builds
the SQL layer, then the Spark ML job runs in this process, then dbt-spark builds what reads the
job's tables (selector spark_ml_consumers, when the project defines it)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from leakproof.spark._job import JobSettings, run_ml_job
from leakproof.spark._session import spark_session

__all__ = ["CONSUMERS_SELECTOR", "SQL_SELECTOR", "dbt_command", "run_pipeline"]

SQL_SELECTOR = "sql_layer"
CONSUMERS_SELECTOR = "spark_ml_consumers"


def _dbt() -> str:
    """dbt of this interpreter's venv (.venv-spark), else the one on the PATH."""
    sibling = Path(sys.executable).with_name("dbt")
    return str(sibling) if sibling.exists() else (shutil.which("dbt") or "dbt")


def dbt_command(selector: str, dbt_vars: dict[str, object], target_path: Path) -> list[str]:
    """`dbt build --target spark --selector <selector>` with the pipeline's vars and target."""
    return [
        _dbt(),
        "build",
        "--target",
        "spark",
        "--selector",
        selector,
        "--vars",
        json.dumps(dbt_vars),
        "--target-path",
        str(target_path),
    ]


def _has_selector(project_dir: Path, name: str) -> bool:
    text = (project_dir / "selectors.yml").read_text(encoding="utf-8")
    return f"name: {name}\n" in text


def _run(command: Sequence[str], project_dir: Path) -> int:
    print("+", " ".join(command), file=sys.stderr, flush=True)
    return subprocess.run(list(command), cwd=project_dir, check=False).returncode


def run_pipeline(
    project_dir: Path,
    *,
    raw_dir: str | None,
    artifact_dir: str,
    target_path: Path,
    psi_bins: int = 10,
    num_workers: int = 1,
    build_sql: bool = True,
) -> int:
    """Run the pipeline; the exit status of the first step that fails (0: all green). Prints
    each step's time and the rows the job wrote."""
    dbt_vars: dict[str, object] = {"artifact_dir": artifact_dir}
    if raw_dir:
        dbt_vars["raw_dir"] = raw_dir
    started = time.perf_counter()
    if build_sql:
        status = _run(dbt_command(SQL_SELECTOR, dbt_vars, target_path), project_dir)
        if status:
            return status
        print(f"sql layer: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    if not (target_path / "manifest.json").is_file():
        print(f"error: no manifest.json in {target_path}: build the SQL layer", file=sys.stderr)
        return 2
    job_started = time.perf_counter()
    spark = spark_session(project_dir)
    try:
        settings = JobSettings(
            project_dir=project_dir,
            target_path=target_path,
            artifact_dir=Path(artifact_dir),
            raw_dir=raw_dir,
            psi_bins=psi_bins,
            num_workers=num_workers,
        )
        written = run_ml_job(spark, settings)
    finally:
        spark.stop()
    for table, rows in written.items():
        print(f"wrote ml.{table}: {rows} rows", file=sys.stderr)
    print(f"spark ml job: {time.perf_counter() - job_started:.1f} s", file=sys.stderr)
    if _has_selector(project_dir, CONSUMERS_SELECTOR):
        status = _run(dbt_command(CONSUMERS_SELECTOR, dbt_vars, target_path), project_dir)
        if status:
            return status
    print(f"spark pipeline: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0
