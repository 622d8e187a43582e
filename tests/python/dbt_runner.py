"""Run dbt as the user would (the `dbt` CLI), isolated in a scratch directory.

Every invocation gets its own DuckDB file (LEAKPROOF_WAREHOUSE) and target path, so tests never
touch the developer's warehouse/ or target/ and can run against any raw directory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DBT = Path(sys.executable).with_name("dbt")


@dataclass
class DbtResult:
    returncode: int
    output: str
    target_path: Path
    warehouse: Path

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def run_results(self) -> list[dict[str, Any]]:
        return json.loads((self.target_path / "run_results.json").read_text())["results"]

    def statuses(self) -> dict[str, str]:
        """unique_id -> status ('success', 'pass', 'fail', 'error', 'warn', 'skipped')."""
        return {r["unique_id"]: r["status"] for r in self.run_results()}

    def manifest(self) -> dict[str, Any]:
        return json.loads((self.target_path / "manifest.json").read_text())


def copy_project(target: Path) -> Path:
    """A copy of the dbt project to edit in a test, declarations included (the Python package stays
    the one on the path)."""
    target.mkdir(parents=True, exist_ok=True)
    for name in ("dbt_project.yml", "profiles.yml", "selectors.yml"):
        shutil.copy(PROJECT_ROOT / name, target / name)
    for name in ("use_cases", "models", "macros", "seeds", "fixtures", "tests/generic"):
        shutil.copytree(PROJECT_ROOT / name, target / name)
    return target


def dbt_invocation(
    args: list[str],
    workdir: Path,
    raw_dir: Path | None = None,
    dbt_vars: dict[str, Any] | None = None,
    project_dir: Path = PROJECT_ROOT,
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of `dbt <args>` with a scratch warehouse and target in
    `workdir`."""
    workdir.mkdir(parents=True, exist_ok=True)
    merged_vars = dict(dbt_vars or {})
    if raw_dir is not None:
        merged_vars.setdefault("raw_dir", str(raw_dir))
    merged_vars.setdefault("artifact_dir", str(workdir / "artifacts"))
    command = [str(DBT), *args, "--target-path", str(workdir / "target")]
    if merged_vars:
        command += ["--vars", json.dumps(merged_vars)]
    env = {
        **os.environ,
        "LEAKPROOF_WAREHOUSE": str(workdir / "leakproof.duckdb"),
        "DBT_PROFILES_DIR": str(project_dir),
        "DBT_LOG_PATH": str(workdir / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "NO_COLOR": "1",
    }
    return command, env


def run_dbt(
    args: list[str],
    workdir: Path,
    raw_dir: Path | None = None,
    dbt_vars: dict[str, Any] | None = None,
    timeout: int = 900,
    project_dir: Path = PROJECT_ROOT,
) -> DbtResult:
    """Run `dbt <args>` from `project_dir` (the repository by default, or a copy a test has
    edited) with a scratch warehouse and target in `workdir`."""
    command, env = dbt_invocation(args, workdir, raw_dir, dbt_vars, project_dir)
    completed = subprocess.run(
        command,
        cwd=project_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return DbtResult(
        returncode=completed.returncode,
        output=completed.stdout + completed.stderr,
        target_path=workdir / "target",
        warehouse=workdir / "leakproof.duckdb",
    )


def start_dbt(
    args: list[str],
    workdir: Path,
    raw_dir: Path | None = None,
    dbt_vars: dict[str, Any] | None = None,
) -> subprocess.Popen[str]:
    """Start `dbt <args>` as run_dbt would, without waiting: its output (stdout and stderr) is
    read line by line as dbt writes it, and it runs in its own process group, so a test can kill
    exactly it."""
    command, env = dbt_invocation(args, workdir, raw_dir, dbt_vars)
    return subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
