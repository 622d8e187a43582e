"""Scale benchmark: the whole pipeline at several sizes, measured.

For each size: generate the demo data (B2B scaled alongside: 20,000 rows per 48,000 customers),
`dbt parse`, `dbt build` in a scratch warehouse (partial parsing, as a user's second build), and
`leakproof publish` of the serving copy. It records the wall time of each stage, of every dbt node
(from `run_results.json`) and end to end, and the peak resident memory of the whole process tree
(dbt, DuckDB and the Python models, sampled every 0.2 s). Results go to `<out>/results.csv` (one
row per size and node, plus `total:<stage>` rows) and `<out>/scaling.png`; a table is printed
with the growth of every node between the two largest sizes, against the targets of issue 9, and
the cost of the leakage guard's models (lineage, permutation probe, oracle comparison, audit).
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
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import psutil

from leakproof.generate import generate
from leakproof.steps import TURNS_LOG_ENV

B2B_PER_CUSTOMER = 20_000 / 48_000
DEFAULT_SIZES = (48_000, 1_000_000, 5_000_000)
STAGES = ("generate", "dbt_parse", "dbt_build", "publish")
# The targets of issue 9, printed next to the figures.
TARGET_BUILD_SECONDS_48K = 30.0
TARGET_END_TO_END_SECONDS_5M = 15 * 60.0
TARGET_PEAK_GB = 12.0
TARGET_GROWTH_RATIO = 6.0  # 1M -> 5M, per node (linear would be 5)
# The leakage guard's own models, whose cost is printed for every size (issue 15).
GUARD_NODES = (
    "model.leakproof.ml_feature_lineage",
    "model.leakproof.ml_permutation_probe",
    "model.leakproof.ml_oracle_comparison",
    "model.leakproof.ml_leakage_audit",
)


@dataclass(frozen=True)
class Run:
    rows: int
    stage_seconds: dict[str, float]
    peak_rss_bytes: int
    returncode: int
    nodes: list[tuple[str, float]] = field(default_factory=list)
    node_peak_rss_bytes: dict[str, int] = field(default_factory=dict)
    # Seconds a large Python model waited for its turn (leakproof.steps): dbt's node time
    # includes the wait, so the node's own work is its time minus this.
    node_waits: dict[str, float] = field(default_factory=dict)

    @property
    def busy_nodes(self) -> list[tuple[str, float]]:
        """(node, seconds of its own work): dbt's time less any wait for a turn."""
        return [(node, seconds - self.node_waits.get(node, 0.0)) for node, seconds in self.nodes]

    @property
    def build_seconds(self) -> float:
        return self.stage_seconds.get("dbt_build", float("nan"))

    @property
    def end_to_end_seconds(self) -> float:
        return sum(self.stage_seconds.values())


class PeakMemory:
    """Samples the summed RSS of a process and all its descendants until stopped."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.pid, self.interval, self.peak = pid, interval, 0
        self.samples: list[tuple[float, int]] = []  # (unix time, bytes)
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
                self.samples.append((time.time(), total))
            except psutil.Error:
                pass
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def _timed(
    command: list[str], cwd: Path, env: dict[str, str], log: Path
) -> tuple[float, int, PeakMemory]:
    """Run a command; its wall seconds, return code and the RSS samples of its process tree."""
    started = time.perf_counter()
    with log.open("a") as handle:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=handle, stderr=handle)
        with PeakMemory(process.pid) as memory:
            returncode = process.wait()
    return time.perf_counter() - started, returncode, memory


def node_peaks(results: list[dict], samples: list[tuple[float, int]]) -> dict[str, int]:
    """Peak RSS of the process tree while each dbt node executed (from its run_results timing);
    0 when no sample fell inside a node (nodes shorter than the sampling interval)."""
    times = np.array([t for t, _ in samples], dtype=float)
    rss = np.array([b for _, b in samples], dtype=np.int64)
    peaks = {}
    for result in results:
        spans = [t for t in result.get("timing", []) if t.get("name") == "execute"]
        if not spans or not spans[0].get("started_at") or not spans[0].get("completed_at"):
            continue
        start = datetime.fromisoformat(spans[0]["started_at"].replace("Z", "+00:00")).timestamp()
        end = datetime.fromisoformat(spans[0]["completed_at"].replace("Z", "+00:00")).timestamp()
        inside = rss[(times >= start) & (times <= end)]
        peaks[result["unique_id"]] = int(inside.max()) if len(inside) else 0
    return peaks


def run_size(rows: int, out: Path, project_dir: Path, dbt: str) -> Run:
    data = out / "data" / str(rows)
    work = out / "work" / str(rows)
    work.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    generate(data, rows=rows, b2b_rows=round(rows * B2B_PER_CUSTOMER), truth=True)
    seconds["generate"] = time.perf_counter() - started

    warehouse = work / "leakproof.duckdb"
    warehouse.unlink(missing_ok=True)
    target = work / "target"
    dbt_vars = json.dumps({"raw_dir": str(data), "artifact_dir": str(work / "artifacts")})
    turns = work / "turns.jsonl"
    turns.unlink(missing_ok=True)
    env = {
        **os.environ,
        "LEAKPROOF_WAREHOUSE": str(warehouse),
        "DBT_LOG_PATH": str(work),
        TURNS_LOG_ENV: str(turns),
    }
    log = work / "pipeline.log"
    log.write_text("")
    peak, returncode = 0, 0
    steps = {
        "dbt_parse": [dbt, "parse", "--target-path", str(target), "--vars", dbt_vars],
        "dbt_build": [dbt, "build", "--target-path", str(target), "--vars", dbt_vars],
        "publish": [
            str(Path(dbt).with_name("leakproof")),
            "publish",
            "--warehouse",
            str(warehouse),
            "--serving",
            str(work / "serving.duckdb"),
            "--run-results",
            str(target / "run_results.json"),
        ],
    }
    nodes: list[tuple[str, float]] = []
    peaks: dict[str, int] = {}
    for stage, command in steps.items():
        seconds[stage], returncode, memory = _timed(command, project_dir, env, log)
        peak = max(peak, memory.peak)
        if stage == "dbt_build" and (target / "run_results.json").exists():
            results = json.loads((target / "run_results.json").read_text())["results"]
            nodes = [(r["unique_id"], float(r["execution_time"])) for r in results]
            peaks = node_peaks(results, memory.samples)
        if returncode != 0:
            break
    return Run(rows, seconds, peak, returncode, nodes, peaks, turn_waits(turns))


def turn_waits(path: Path) -> dict[str, float]:
    """Seconds each large Python model waited for its turn, by dbt unique_id (from the turns
    log the build appends to; missing file = no waits)."""
    if not path.exists():
        return {}
    waits: dict[str, float] = {}
    for line in path.read_text().splitlines():
        entry = json.loads(line)
        node = f"model.leakproof.{entry['model']}"
        waits[node] = waits.get(node, 0.0) + float(entry["waited_seconds"])
    return waits


def write_results(runs: Sequence[Run], out: Path) -> Path:
    path = out / "results.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["rows", "node", "seconds", "peak_rss_gb", "returncode", "waited_seconds"])
        for run in runs:
            for stage, seconds in run.stage_seconds.items():
                writer.writerow([run.rows, f"total:{stage}", f"{seconds:.2f}", "", ""])
            writer.writerow(
                [
                    run.rows,
                    "total:end_to_end",
                    f"{run.end_to_end_seconds:.2f}",
                    f"{run.peak_rss_bytes / 1e9:.2f}",
                    run.returncode,
                ]
            )
            for node, seconds in run.nodes:
                node_peak = run.node_peak_rss_bytes.get(node)
                peak_gb = f"{node_peak / 1e9:.2f}" if node_peak else ""
                waited = run.node_waits.get(node)
                waited_text = "" if waited is None else f"{waited:.3f}"
                writer.writerow([run.rows, node, f"{seconds:.3f}", peak_gb, "", waited_text])
    return path


def plot(runs: Sequence[Run], out: Path, top: int = 8) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    biggest = max(runs, key=lambda r: r.rows)
    slowest = [n for n, _ in sorted(biggest.busy_nodes, key=lambda n: -n[1])[:top]]
    figure, axis = plt.subplots(figsize=(8, 5))
    sizes = [r.rows for r in runs]
    axis.plot(
        sizes, [r.end_to_end_seconds for r in runs], marker="o", linewidth=2, label="end to end"
    )
    axis.plot(sizes, [r.build_seconds for r in runs], marker="o", linewidth=2, label="dbt build")
    for node in slowest:
        axis.plot(
            sizes,
            [dict(r.busy_nodes).get(node, float("nan")) for r in runs],
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


def growth(small: Run, large: Run, min_seconds: float = 0.5) -> list[tuple[float, str]]:
    """(time ratio, node) of every node that took at least ``min_seconds`` at both sizes, worst
    first, on each node's own work (less any wait for a turn). Nodes faster than that are
    dominated by fixed costs, so their ratio says nothing."""
    before = dict(small.busy_nodes)
    return sorted(
        (
            (seconds / before[node], node)
            for node, seconds in large.busy_nodes
            if before.get(node, 0.0) >= min_seconds and seconds >= min_seconds
        ),
        reverse=True,
    )


def table(runs: Sequence[Run], top: int = 8) -> str:
    lines = [
        f"{'customers':>10} {'generate':>9} {'parse':>6} {'build':>7} {'publish':>8} "
        f"{'end-to-end':>11} {'peak GB':>8}  slowest dbt nodes (s, own work)"
    ]
    for run in runs:
        slowest = ", ".join(
            f"{node.split('.')[-1]} {seconds:.1f}"
            for node, seconds in sorted(run.busy_nodes, key=lambda n: -n[1])[:3]
        )
        stage = run.stage_seconds
        lines.append(
            f"{run.rows:>10,} {stage.get('generate', float('nan')):>9.1f} "
            f"{stage.get('dbt_parse', float('nan')):>6.1f} {run.build_seconds:>7.1f} "
            f"{stage.get('publish', float('nan')):>8.1f} {run.end_to_end_seconds:>11.1f} "
            f"{run.peak_rss_bytes / 1e9:>8.2f}  {slowest}"
            + ("" if run.returncode == 0 else f"  (exited {run.returncode})")
        )
    lines.append(
        f"\ntargets: dbt build at 48K <= {TARGET_BUILD_SECONDS_48K:.0f} s; 5M end to end <= "
        f"{TARGET_END_TO_END_SECONDS_5M / 60:.0f} min at <= {TARGET_PEAK_GB:.0f} GB; every node's "
        f"1M -> 5M time ratio <= {TARGET_GROWTH_RATIO:.0f}"
    )
    if len(runs) >= 2:
        small, large = runs[-2], runs[-1]
        ratio = large.rows / small.rows
        worst = growth(small, large)
        lines.append(f"time ratio {small.rows:,} -> {large.rows:,} (rows x{ratio:.1f}):")
        lines += [f"  {g:6.1f}  {node}" for g, node in worst[:top]]
    lines += guard_costs(runs)
    largest = runs[-1]
    heaviest = sorted(largest.node_peak_rss_bytes.items(), key=lambda item: -item[1])[:3]
    if heaviest:
        lines.append(f"peak memory by node at {largest.rows:,} customers:")
        lines += [f"  {b / 1e9:6.2f} GB  {node}" for node, b in heaviest]
    return "\n".join(lines)


def guard_costs(runs: Sequence[Run]) -> list[str]:
    """The leakage guard's models at each size: seconds of own work, share of the dbt build and
    peak memory of the process tree while each ran."""
    lines = ["leakage guard cost (s, share of dbt build, peak GB while running):"]
    for run in runs:
        busy = dict(run.busy_nodes)
        parts = [
            f"{node.split('.')[-1]} {busy[node]:.1f} ({busy[node] / run.build_seconds:.0%}, "
            f"{run.node_peak_rss_bytes.get(node, 0) / 1e9:.2f})"
            for node in GUARD_NODES
            if node in busy
        ]
        lines.append(f"  {run.rows:>10,}  " + ("; ".join(parts) or "(no guard node ran)"))
    return lines


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
