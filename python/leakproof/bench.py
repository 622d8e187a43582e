"""Scale benchmark: the whole pipeline (generate + `dbt build`) at several sizes, measured.

For each size it generates the demo data (B2B scaled alongside: 20,000 accounts per 48,000
customers), runs `dbt build` in a scratch warehouse, and records the wall time of every dbt node
(from `run_results.json`), the total wall time, and the peak resident memory of the whole process
tree (dbt and anything it starts, sampled every 0.2 s). Results go to `<out>/results.csv` (one
row per size and node, plus a `total` row per size) and `<out>/scaling.png`; a table is printed.
It is a benchmark, not a test: nothing here asserts a target.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from leakproof.generate import generate

B2B_PER_CUSTOMER = 20_000 / 48_000
DEFAULT_SIZES = (48_000, 1_000_000, 5_000_000)


@dataclass(frozen=True)
class Run:
    rows: int
    generate_seconds: float
    build_seconds: float
    peak_rss_bytes: int
    returncode: int
    nodes: list[tuple[str, float]]


class PeakMemory:
    """Samples the summed RSS of a process and all its descendants until stopped."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.pid, self.interval, self.peak = pid, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                root = psutil.Process(self.pid)
                processes = [root, *root.children(recursive=True)]
                total = 0
                for process in processes:
                    with contextlib.suppress(psutil.Error):  # it may exit while we look
                        total += process.memory_info().rss
                self.peak = max(self.peak, total)
            except psutil.Error:
                pass
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def run_size(rows: int, out: Path, project_dir: Path, dbt: str) -> Run:
    data = out / "data" / str(rows)
    work = out / "work" / str(rows)
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if not (data / "customers.csv").exists():
        generate(data, rows=rows, b2b_rows=round(rows * B2B_PER_CUSTOMER), truth=True)
    generate_seconds = time.perf_counter() - started

    warehouse = work / "leakproof.duckdb"
    warehouse.unlink(missing_ok=True)
    dbt_vars = {"raw_dir": str(data), "artifact_dir": str(work / "artifacts")}
    command = [dbt, "build", "--target-path", str(work / "target"), "--vars", json.dumps(dbt_vars)]
    env = {**os.environ, "LEAKPROOF_WAREHOUSE": str(warehouse), "DBT_LOG_PATH": str(work)}
    started = time.perf_counter()
    with (work / "dbt.log").open("w") as log:
        process = subprocess.Popen(command, cwd=project_dir, env=env, stdout=log, stderr=log)
        with PeakMemory(process.pid) as memory:
            returncode = process.wait()
    build_seconds = time.perf_counter() - started
    results = json.loads((work / "target" / "run_results.json").read_text())["results"]
    nodes = [(r["unique_id"], float(r["execution_time"])) for r in results]
    return Run(rows, generate_seconds, build_seconds, memory.peak, returncode, nodes)


def write_results(runs: Sequence[Run], out: Path) -> Path:
    path = out / "results.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["rows", "node", "seconds", "peak_rss_gb", "returncode"])
        for run in runs:
            writer.writerow([run.rows, "total:generate", f"{run.generate_seconds:.2f}", "", ""])
            writer.writerow(
                [
                    run.rows,
                    "total:dbt_build",
                    f"{run.build_seconds:.2f}",
                    f"{run.peak_rss_bytes / 1e9:.2f}",
                    run.returncode,
                ]
            )
            for node, seconds in run.nodes:
                writer.writerow([run.rows, node, f"{seconds:.3f}", "", ""])
    return path


def plot(runs: Sequence[Run], out: Path, top: int = 8) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    biggest = max(runs, key=lambda r: r.rows)
    slowest = [n for n, _ in sorted(biggest.nodes, key=lambda n: -n[1])[:top]]
    figure, axis = plt.subplots(figsize=(8, 5))
    sizes = [r.rows for r in runs]
    axis.plot(sizes, [r.build_seconds for r in runs], marker="o", linewidth=2, label="dbt build")
    for node in slowest:
        axis.plot(
            sizes,
            [dict(r.nodes).get(node, float("nan")) for r in runs],
            marker=".",
            label=node.split(".")[-1][:40],
        )
    axis.set(xscale="log", yscale="log", xlabel="customers", ylabel="seconds")
    axis.set_title("leakproof: wall time by size (2-core machine)")
    axis.legend(fontsize=7)
    path = out / "scaling.png"
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)
    return path


def table(runs: Sequence[Run], top: int = 8) -> str:
    lines = [f"{'customers':>10} {'generate s':>10} {'dbt build s':>11} {'peak GB':>8}  slowest"]
    for run in runs:
        slowest = ", ".join(
            f"{node.split('.')[-1]} {seconds:.1f}s"
            for node, seconds in sorted(run.nodes, key=lambda n: -n[1])[:3]
        )
        lines.append(
            f"{run.rows:>10,} {run.generate_seconds:>10.1f} {run.build_seconds:>11.1f} "
            f"{run.peak_rss_bytes / 1e9:>8.2f}  {slowest}"
            + ("" if run.returncode == 0 else f"  (dbt exited {run.returncode})")
        )
    if len(runs) >= 2:
        small, large = runs[-2], runs[-1]
        ratio = large.rows / small.rows
        worst = sorted(
            (
                (seconds / max(dict(small.nodes).get(node, 0.0), 1e-3), node)
                for node, seconds in large.nodes
                if dict(small.nodes).get(node, 0.0) >= 0.5
            ),
            reverse=True,
        )[:top]
        lines.append(f"\ntime ratio {small.rows:,} -> {large.rows:,} (rows x{ratio:.1f}):")
        lines += [f"  {growth:6.1f}  {node}" for growth, node in worst]
    return "\n".join(lines)


def bench(sizes: Sequence[int], out: Path, project_dir: Path) -> list[Run]:
    out.mkdir(parents=True, exist_ok=True)
    dbt = str(Path(sys.executable).with_name("dbt"))
    runs = []
    for rows in sizes:
        print(f"benchmark: {rows:,} customers ...", file=sys.stderr, flush=True)
        runs.append(run_size(rows, out.resolve(), project_dir.resolve(), dbt))
        write_results(runs, out)
    plot(runs, out)
    print(table(runs))
    return runs
