"""Generate the demo dataset chunk by chunk: simulate, inject faults, write, record the truth."""

from __future__ import annotations

import os
import sys
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from tqdm import tqdm

from leakproof.generate import accounts as A
from leakproof.generate import customers as C
from leakproof.generate import faults as F
from leakproof.generate import params as P
from leakproof.generate import sidecar as S
from leakproof.generate import tables as T

CHUNK_ROWS = 250_000  # fixed, so the output never depends on the machine
FORMATS = ("csv", "parquet")
TRUTH_DIR = S.TRUTH_DIR
TRUTH_FILES = ("customers_truth.parquet", "accounts_truth.parquet", S.TRUTH_JSON)
STREAMS = ("customers", "customers_scoring", "accounts")


class TableSink:
    """Append Arrow tables to a CSV or Parquet file that appears only once complete."""

    def __init__(self, path: Path, schema: pa.Schema, fmt: str) -> None:
        self.path = path
        self.rows = 0
        self._partial = path.with_name(path.name + ".partial")
        if fmt == "csv":
            self._writer: Any = pa_csv.CSVWriter(str(self._partial), schema)
        else:
            # dictionary-encode only non-float columns: it is slow and useless on random floats
            dictionary = [f.name for f in schema if not pa.types.is_floating(f.type)]
            self._writer = pq.ParquetWriter(
                str(self._partial), schema, compression="zstd", use_dictionary=dictionary
            )

    def write(self, table: pa.Table) -> None:
        self._writer.write_table(table)
        self.rows += table.num_rows

    def __enter__(self) -> TableSink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._writer.close()
        if exc_type is None:
            os.replace(self._partial, self.path)
        else:
            self._partial.unlink(missing_ok=True)


def chunk_sizes(rows: int) -> list[int]:
    """Fixed-size chunks of CHUNK_ROWS (the last one shorter)."""
    return [min(CHUNK_ROWS, rows - start) for start in range(0, rows, CHUNK_ROWS)]


class Tally:
    """Running realised conversion counts by channel, platform and tool (clean rows)."""

    GROUPS: ClassVar[dict[str, tuple[str, ...]]] = {
        "channel": P.CHANNELS,
        "platform": P.PLATFORMS,
        "tool": P.TOOLS,
    }

    def __init__(self) -> None:
        self.n = {k: np.zeros(len(v), np.int64) for k, v in self.GROUPS.items()}
        self.y = {k: np.zeros(len(v), np.int64) for k, v in self.GROUPS.items()}

    def add(self, draw: C.CustomerDraw) -> None:
        index = {"channel": draw.channel, "platform": draw.platform, "tool": draw.tool}
        for key, names in self.GROUPS.items():
            self.n[key] += np.bincount(index[key], minlength=len(names))
            conv = np.bincount(index[key], weights=draw.conversion, minlength=len(names))
            self.y[key] += conv.astype(np.int64)

    @property
    def rate(self) -> float:
        return float(self.y["channel"].sum() / max(self.n["channel"].sum(), 1))

    def rates(self) -> dict[str, dict[str, float | None]]:
        return {
            key: {
                name: float(self.y[key][i] / self.n[key][i]) if self.n[key][i] else None
                for i, name in enumerate(names)
            }
            for key, names in self.GROUPS.items()
        }


def write_customers(
    sink: TableSink,
    truth_sink: TableSink | None,
    seeds: np.random.SeedSequence,
    rows: int,
    first_id: int,
    fmt: str,
    scoring: bool,
    bar: tqdm,
) -> tuple[Counter[str], Tally]:
    """Simulate one customers file chunk by chunk; returns the fault counts and the tally."""
    counts: Counter[str] = Counter()
    tally = Tally()
    b0 = C.baseline()
    sizes = chunk_sizes(rows)
    start = first_id
    for size, seq in zip(sizes, seeds.spawn(len(sizes)), strict=True):
        rng = np.random.default_rng(seq)
        draw = C.simulate_customers(rng, size, b0)
        plan = F.plan_faults(rng, size, P.FAULT_RATES, P.MISSING_RATES)
        table, chunk_counts = T.customer_table(draw, start, plan, fmt, scoring)
        sink.write(table)
        counts.update(chunk_counts)
        tally.add(draw)
        if truth_sink is not None:
            population = "scoring" if scoring else "train"
            truth_sink.write(T.customer_truth_table(draw, start, population))
        start += size
        bar.update(1)
    return counts, tally


def write_accounts(
    out: Path,
    truth_dir: Path | None,
    seeds: np.random.SeedSequence,
    rows: int,
    fmt: str,
    drift_shift: float,
) -> tuple[int, dict[str, int], A.AccountWaves]:
    """Simulate and write the B2B waves (small: one pass); returns rows, fault counts, waves."""
    rng = np.random.default_rng(seeds)
    waves = A.simulate_waves(rng, rows, drift_shift, A.baseline())
    plan = F.plan_faults(rng, waves.wave.shape[0], P.ACCOUNT_FAULT_RATES)
    table, counts = T.account_table(waves, plan, fmt)
    with TableSink(out / f"accounts.{fmt}", table.schema, fmt) as sink:
        sink.write(table)
    if truth_dir is not None:
        truth = T.account_truth_table(waves)
        with TableSink(truth_dir / "accounts_truth.parquet", truth.schema, "parquet") as t:
            t.write(truth)
    return sink.rows, counts, waves


def structural_parameters() -> dict[str, Any]:
    """Every constant of the data-generating process, plus the solved baselines."""
    out: dict[str, Any] = {n.lower(): getattr(P, n) for n in dir(P) if n.isupper()}
    out["conversion_baseline_logit"] = C.baseline()
    out["response_baseline_logit"] = A.baseline()
    return out


def _check_arguments(rows: int, scoring_rows: int, b2b_rows: int, fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    if rows < 1 or scoring_rows < 1:
        raise ValueError(f"rows and scoring rows must be >= 1, got {rows}, {scoring_rows}")
    if b2b_rows < P.N_WAVES:
        raise ValueError(f"b2b rows must be >= {P.N_WAVES} (one per wave), got {b2b_rows}")


def generate(
    out_dir: str | os.PathLike[str],
    rows: int = 48_000,
    seed: int = 0,
    fmt: str = "csv",
    b2b_rows: int = 20_000,
    scoring_rows: int | None = None,
    truth: bool = True,
    drift_shift: float = P.DEFAULT_DRIFT_SHIFT,
    progress: bool = False,
) -> dict[str, Any]:
    """Write customers, customers_scoring and accounts (and the `_truth/` sidecar) to `out_dir`.

    Deterministic given the arguments: chunk k of each file is seeded by a child of
    `SeedSequence(seed)`, so a larger dataset starts with the rows of a smaller one.
    Returns a summary: rows written per file, realised rates and fault counts.
    """
    scoring_rows = rows // 10 if scoring_rows is None else scoring_rows
    _check_arguments(rows, scoring_rows, b2b_rows, fmt)
    out = Path(out_dir)
    truth_dir = out / TRUTH_DIR
    out.mkdir(parents=True, exist_ok=True)
    if truth:
        truth_dir.mkdir(exist_ok=True)
    else:  # never leave behind a sidecar that describes other data (other datasets' stays)
        for name in TRUTH_FILES:
            if name != S.TRUTH_JSON:
                (truth_dir / name).unlink(missing_ok=True)
        S.write_truth_json(truth_dir / S.TRUTH_JSON, None, None)
    seeds = dict(zip(STREAMS, np.random.SeedSequence(seed).spawn(len(STREAMS)), strict=True))
    n_chunks = len(chunk_sizes(rows)) + len(chunk_sizes(scoring_rows)) + 1
    files: dict[str, int] = {}
    faults: dict[str, dict[str, int]] = {}
    tallies: dict[str, Tally] = {}
    with ExitStack() as stack:
        bar = stack.enter_context(
            tqdm(
                total=n_chunks, unit="chunk", desc="generate", file=sys.stderr, disable=not progress
            )
        )
        truth_sink = None
        if truth:
            path = truth_dir / "customers_truth.parquet"
            truth_sink = stack.enter_context(TableSink(path, T.customer_truth_schema(), "parquet"))
        for name, n, first_id in (
            ("customers", rows, 1),
            ("customers_scoring", scoring_rows, rows + 1),
        ):
            scoring = name == "customers_scoring"
            schema = T.customer_schema(fmt, scoring)
            with TableSink(out / f"{name}.{fmt}", schema, fmt) as sink:
                counts, tallies[name] = write_customers(
                    sink, truth_sink, seeds[name], n, first_id, fmt, scoring, bar
                )
            files[sink.path.name] = sink.rows
            faults[name] = dict(sorted(counts.items()))
        files[f"accounts.{fmt}"], faults["accounts"], waves = write_accounts(
            out, truth_dir if truth else None, seeds["accounts"], b2b_rows, fmt, drift_shift
        )
        bar.update(1)
    labelled = waves.wave < P.N_WAVES
    summary: dict[str, Any] = {
        "out_dir": str(out),
        "format": fmt,
        "seed": seed,
        "rows": rows,
        "scoring_rows": scoring_rows,
        "b2b_rows": b2b_rows,
        "drift_shift": drift_shift,
        "files": files,
        "conversion_rate": tallies["customers"].rate,
        "conversion_rate_by": tallies["customers"].rates(),
        "b2b_response_rate": float(waves.response[labelled].mean()),
        "faults": faults,
    }
    if truth:
        _write_truth_json(truth_dir / S.TRUTH_JSON, summary)
    return summary


def _write_truth_json(path: Path, summary: dict[str, Any]) -> None:
    document = {
        "generator": "leakproof.generate",
        **{k: v for k, v in summary.items() if k != "out_dir"},
        "chunk_rows": CHUNK_ROWS,
        "expected_conversion_rate_by": C.expected_rates(),
        "min_assignment_propensity": float(C.reference_population()[2].min()),
        "parameters": structural_parameters(),
        "notes": (
            "Fault counts are per distinct clean row (a duplicated faulty row repeats its fault "
            "in the file); duplicate_rows counts the extra copies. Truth is per clean "
            "CustomerID / (account_id, campaign_wave) and never carries faults."
        ),
    }
    S.write_truth_json(path, None, document)
