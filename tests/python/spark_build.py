"""One build of the SQL layer on the spark target (dbt-spark, `method: session` on local[2])
over small generated data, shared by the Spark tests of a session (tests/python/test_spark.py
compares its marts with DuckDB's; tests/python/test_spark_ml.py runs the Spark ML job on it): the
build is started once and awaited by whichever test needs it first.

Set by `make test-spark`: LEAKPROOF_SPARK_DBT, the Spark venv's dbt. Unset, the Spark tests are
skipped, so `make test` does not spend the Spark build's minutes."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from dbt_runner import PROJECT_ROOT, dbt_invocation

SPARK_DBT = (
    Path(os.environ.get("LEAKPROOF_SPARK_DBT", ""))
    if os.environ.get("LEAKPROOF_SPARK_DBT")
    else None
)
ROWS = 3000
B2B_ROWS = 3000
TIMEOUT_SECONDS = 1800
SKIP_REASON = (
    "the Spark tests run with `make test-spark` (it installs Java and the Spark extras, "
    f".venv-spark, and sets LEAKPROOF_SPARK_DBT); dbt: {SPARK_DBT}, java: {shutil.which('java')}"
)


def spark_available() -> bool:
    return SPARK_DBT is not None and SPARK_DBT.exists() and shutil.which("java") is not None


@dataclass
class SparkBuild:
    """The SQL layer's build on the spark target, running or finished."""

    raw: Path
    workdir: Path
    process: subprocess.Popen[str]
    output: str | None = None

    @property
    def warehouse(self) -> Path:
        return self.workdir / "spark-warehouse"

    @property
    def target(self) -> Path:
        return self.workdir / "target"

    def env(self) -> dict[str, str]:
        """The environment of a Spark process on this build's warehouse."""
        return {**os.environ, "LEAKPROOF_SPARK_WAREHOUSE": str(self.warehouse)}

    @property
    def log(self) -> Path:
        """The build's output (a file, not a pipe: nobody reads a pipe while DuckDB builds)."""
        return self.workdir / "spark_build.log"

    def wait(self) -> SparkBuild:
        """Wait for the build (once); fail with its output unless it passed."""
        if self.output is None:
            try:
                self.process.wait(timeout=TIMEOUT_SECONDS)
            finally:
                self.stop()
                self.output = self.log.read_text(errors="replace")
        assert self.process.returncode == 0, self.output[-8000:]
        return self

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def start_spark_build(workdir: Path, raw: Path) -> SparkBuild:
    """Start `dbt build --target spark --selector sql_layer` over `raw`, its warehouse and
    target in workdir."""
    assert SPARK_DBT is not None
    command, env = dbt_invocation(
        ["build", "--target", "spark", "--selector", "sql_layer"], workdir, raw
    )
    command[0] = str(SPARK_DBT)
    env["LEAKPROOF_SPARK_WAREHOUSE"] = str(workdir / "spark-warehouse")
    with open(workdir / "spark_build.log", "w") as log:
        process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True
        )
    return SparkBuild(raw, workdir, process)
