"""Datasets of other shapes for declaration tests: telemarketing calls, a randomised e-mail test.

Each writes one CSV into the output directory and, with truth on, `_truth/<stem>_truth.parquet`
plus its own section of `_truth/truth.json`. Rows are simulated in fixed chunks of
`pipeline.CHUNK_ROWS`; chunk k is seeded by child k of the dataset's stream, child `stream` of
`SeedSequence(seed)` (the demo uses children 0-2), so a larger dataset begins with the rows of a
smaller one and the datasets share no random numbers.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.stats import rankdata
from tqdm import tqdm

from leakproof.generate import pipeline
from leakproof.generate import randomised as R
from leakproof.generate import sidecar as S
from leakproof.generate import telemarketing as TM

TELEMARKETING_FILE = "telemarketing.csv"
TELEMARKETING_ROWS = 20_000
TELEMARKETING_DELIMITER = ";"
EMAIL_TEST_FILE = "email_test.csv"
EMAIL_TEST_ROWS = 30_000
STREAMS: dict[str, int] = {"telemarketing": 3, "randomised": 4}

TELEMARKETING_TRUTH_SCHEMA = pa.schema(
    [("row_number", pa.int64()), ("p_true", pa.float64()), ("y_realised", pa.int8())]
)
EMAIL_TEST_SCHEMA = pa.schema(
    [
        ("recipient_id", pa.int64()),
        ("age", pa.int64()),
        ("tenure_months", pa.int64()),
        ("past_opens", pa.int64()),
        ("past_purchases", pa.int64()),
        ("device", pa.string()),
        ("region", pa.string()),
        ("subject_line", pa.string()),
        ("send_time", pa.string()),
        ("clicked", pa.int64()),
    ]
)
EMAIL_TEST_TRUTH_SCHEMA = pa.schema(
    [
        ("recipient_id", pa.int64()),
        ("clicked_realised", pa.int8()),
        ("p_realised", pa.float64()),
        ("propensity", pa.float64()),
        ("propensity_subject_line", pa.float64()),
        ("propensity_send_time", pa.float64()),
        *((R.truth_column(s, t), pa.float64()) for s, t in R.ARMS),
    ]
)


def truth_file_name(file_name: str) -> str:
    """The sidecar of a data file: `_truth/<stem>_truth.parquet`."""
    return f"{Path(file_name).stem}_truth.parquet"


def auc(y: np.ndarray, score: np.ndarray) -> float | None:
    """ROC AUC from ranks (ties averaged); None when `y` holds a single class."""
    positive = np.asarray(y).astype(bool)
    n1 = int(positive.sum())
    n0 = positive.shape[0] - n1
    if n1 == 0 or n0 == 0:
        return None
    ranks = rankdata(score)
    return float((ranks[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _chunks(seed: int, stream: int, rows: int) -> list[tuple[int, np.random.SeedSequence]]:
    sizes = pipeline.chunk_sizes(rows)
    children = np.random.SeedSequence(seed, spawn_key=(stream,)).spawn(len(sizes))
    return list(zip(sizes, children, strict=True))


@contextmanager
def _text_sink(path: Path) -> Iterator[IO[str]]:
    """A text file that appears (renamed from `*.partial`) only once complete."""
    partial = path.with_name(path.name + ".partial")
    try:
        with partial.open("w", encoding="utf-8", newline="\n") as handle:
            yield handle
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, path)


def _prepare(out_dir: str | os.PathLike[str], rows: int, name: str, truth: bool) -> Path:
    """Check `rows`, create the directories; without truth, remove this dataset's old truth."""
    if rows < 1:
        raise ValueError(f"{name} rows must be >= 1, got {rows}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    truth_dir = out / S.TRUTH_DIR
    if truth:
        truth_dir.mkdir(exist_ok=True)
    else:  # never leave behind a sidecar that describes other data
        file_name = DATASETS[name].file_name
        (truth_dir / truth_file_name(file_name)).unlink(missing_ok=True)
        S.write_truth_json(truth_dir / S.TRUTH_JSON, name, None)
    return out


def _progress(total: int, name: str, progress: bool) -> tqdm:
    return tqdm(total=total, unit="chunk", desc=name, file=sys.stderr, disable=not progress)


# --------------------------------------------------------------------------------------------
# telemarketing
# --------------------------------------------------------------------------------------------
def _text_cells(index: np.ndarray, names: tuple[str, ...], quoted: np.ndarray) -> pa.Array:
    """Category names (index -1: "unknown"), in double quotes on the `quoted` rows."""
    plain = [*names, TM.UNKNOWN]
    dictionary = pa.array(plain + [f'"{name}"' for name in plain], pa.string())
    codes = np.where(index < 0, len(names), index) + quoted * len(plain)
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), dictionary).cast(
        pa.string()
    )


def render_calls(draw: TM.CallDraw) -> str:
    """The chunk's data lines: `;`-delimited, text fields quoted on the rows marked `quoted`."""
    cells = []
    for column in TM.COLUMNS:
        if column == TM.TARGET:
            cells.append(_text_cells(draw.y, TM.YES_NO, draw.quoted))
        elif column in TM.CATEGORIES:
            cells.append(_text_cells(draw.cov[column], TM.CATEGORIES[column], draw.quoted))
        else:
            values = draw.call_duration if column == TM.POST_OUTCOME else draw.cov[column]
            cells.append(pa.array(values).cast(pa.string()))
    lines = pc.binary_join_element_wise(*cells, TELEMARKETING_DELIMITER)
    return "\n".join(lines.to_pylist()) + "\n"


def generate_telemarketing(
    out_dir: str | os.PathLike[str],
    rows: int = TELEMARKETING_ROWS,
    seed: int = 0,
    truth: bool = True,
    progress: bool = False,
) -> dict[str, Any]:
    """Write `telemarketing.csv` (and its truth) to `out_dir`; returns a summary."""
    out = _prepare(out_dir, rows, "telemarketing", truth)
    truth_dir = out / S.TRUTH_DIR
    chunks = _chunks(seed, STREAMS["telemarketing"], rows)
    b0 = TM.baseline()
    p, y, duration = [], [], []
    messiness: Counter[str] = Counter()
    with ExitStack() as stack:
        bar = stack.enter_context(_progress(len(chunks), "telemarketing", progress))
        handle = stack.enter_context(_text_sink(out / TELEMARKETING_FILE))
        truth_sink = None
        if truth:
            path = truth_dir / truth_file_name(TELEMARKETING_FILE)
            truth_sink = stack.enter_context(
                pipeline.TableSink(path, TELEMARKETING_TRUTH_SCHEMA, "parquet")
            )
        handle.write(TELEMARKETING_DELIMITER.join(TM.COLUMNS) + "\n")
        first = 1
        for size, seq in chunks:
            draw = TM.simulate_calls(np.random.default_rng(seq), size, b0)
            handle.write(render_calls(draw))
            if truth_sink is not None:
                row_number = pa.array(first + np.arange(size))
                columns = [row_number, pa.array(draw.p_true), pa.array(draw.y)]
                truth_sink.write(pa.table(columns, schema=TELEMARKETING_TRUTH_SCHEMA))
            p.append(draw.p_true)
            y.append(draw.y)
            duration.append(draw.call_duration)
            messiness.update(draw.messiness())
            first += size
            bar.update(1)
    y_all = np.concatenate(y)
    summary: dict[str, Any] = {
        "dataset": "telemarketing",
        "out_dir": str(out),
        "format": "csv",
        "seed": seed,
        "rows": rows,
        "files": {TELEMARKETING_FILE: rows},
        "positive_rate": float(y_all.mean()),
        "oracle_auc": auc(y_all, np.concatenate(p)),
        "call_duration_auc": auc(y_all, np.concatenate(duration)),
        "messiness": {k: messiness[k] for k in TM.MESSINESS_RATES},
    }
    if truth:
        section = {
            "generator": "leakproof.generate.telemarketing",
            **{k: v for k, v in summary.items() if k not in ("dataset", "out_dir")},
            "truth_file": truth_file_name(TELEMARKETING_FILE),
            "delimiter": TELEMARKETING_DELIMITER,
            "target": TM.TARGET,
            "positive_label": "yes",
            "row_key": "row_number",
            "post_outcome_columns": [TM.POST_OUTCOME],
            "expected_rate": float(TM.expected_rate()),
            "chunk_rows": pipeline.CHUNK_ROWS,
            "parameters": TM.parameters(),
            "notes": (
                "row_number is the 1-based data line of telemarketing.csv (the header is not "
                "counted). oracle_auc is p_true against y; p_true uses no call_duration, and the "
                "true job / education where the file says unknown."
            ),
        }
        S.write_truth_json(truth_dir / S.TRUTH_JSON, "telemarketing", section)
    return summary


def _telemarketing_headline(summary: dict[str, Any]) -> list[str]:
    return [
        f"  y = yes                      {summary['positive_rate']:>12.2%}",
        f"  oracle AUC (no duration)     {_number(summary['oracle_auc'])}",
    ]


# --------------------------------------------------------------------------------------------
# randomised e-mail test
# --------------------------------------------------------------------------------------------
def _email_table(draw: R.EmailDraw, first: int) -> pa.Table:
    cov, n = draw.cov, draw.arm.shape[0]
    columns = {
        "recipient_id": pa.array(first + np.arange(n)),
        **{c: pa.array(cov[c]) for c in ("age", "tenure_months", "past_opens", "past_purchases")},
        "device": pa.array(np.asarray(R.DEVICES)[cov["device"]]),
        "region": pa.array(np.asarray(R.REGIONS)[cov["region"]]),
        "subject_line": pa.array(np.asarray(R.SUBJECT_LINES)[draw.subject_line]),
        "send_time": pa.array(np.asarray(R.SEND_TIMES)[draw.send_time]),
        "clicked": pa.array(draw.clicked.astype(np.int64)),
    }
    return pa.table([columns[c] for c in R.COLUMNS], schema=EMAIL_TEST_SCHEMA)


def _email_truth(draw: R.EmailDraw, first: int) -> pa.Table:
    n = draw.arm.shape[0]
    columns = [
        pa.array(first + np.arange(n)),
        pa.array(draw.clicked),
        pa.array(draw.p_realised),
        pa.array(np.full(n, R.PROPENSITY)),
        pa.array(np.full(n, 1.0 / len(R.SUBJECT_LINES))),
        pa.array(np.full(n, 1.0 / len(R.SEND_TIMES))),
        *(pa.array(draw.p_all[:, a]) for a in range(R.N_ARMS)),
    ]
    return pa.table(columns, schema=EMAIL_TEST_TRUTH_SCHEMA)


def generate_randomised(
    out_dir: str | os.PathLike[str],
    rows: int = EMAIL_TEST_ROWS,
    seed: int = 0,
    truth: bool = True,
    progress: bool = False,
) -> dict[str, Any]:
    """Write `email_test.csv` (and its truth) to `out_dir`; returns a summary."""
    out = _prepare(out_dir, rows, "randomised", truth)
    truth_dir = out / S.TRUTH_DIR
    chunks = _chunks(seed, STREAMS["randomised"], rows)
    b0 = R.baseline()
    tally = R.ArmTally()
    p_realised, clicked = [], []
    with ExitStack() as stack:
        bar = stack.enter_context(_progress(len(chunks), "randomised", progress))
        sink = stack.enter_context(
            pipeline.TableSink(out / EMAIL_TEST_FILE, EMAIL_TEST_SCHEMA, "csv")
        )
        truth_sink = None
        if truth:
            path = truth_dir / truth_file_name(EMAIL_TEST_FILE)
            truth_sink = stack.enter_context(
                pipeline.TableSink(path, EMAIL_TEST_TRUTH_SCHEMA, "parquet")
            )
        first = 1
        for size, seq in chunks:
            covariates, assignment = (np.random.default_rng(s) for s in seq.spawn(2))
            draw = R.simulate_recipients(covariates, assignment, size, b0)
            sink.write(_email_table(draw, first))
            if truth_sink is not None:
                truth_sink.write(_email_truth(draw, first))
            tally.add(draw)
            p_realised.append(draw.p_realised)
            clicked.append(draw.clicked)
            first += size
            bar.update(1)
    summary: dict[str, Any] = {
        "dataset": "randomised",
        "out_dir": str(out),
        "format": "csv",
        "seed": seed,
        "rows": rows,
        "files": {EMAIL_TEST_FILE: rows},
        "oracle_auc": auc(np.concatenate(clicked), np.concatenate(p_realised)),
        **tally.summary(),
    }
    if truth:
        section = {
            "generator": "leakproof.generate.randomised",
            **{k: v for k, v in summary.items() if k not in ("dataset", "out_dir")},
            "truth_file": truth_file_name(EMAIL_TEST_FILE),
            "id_column": "recipient_id",
            "target": R.TARGET,
            "treatments": {"subject_line": R.SUBJECT_LINES, "send_time": R.SEND_TIMES},
            "propensity": R.PROPENSITY,
            "propensity_by_treatment": {
                "subject_line": 1.0 / len(R.SUBJECT_LINES),
                "send_time": 1.0 / len(R.SEND_TIMES),
            },
            "expected_rate": float(R.expected_rate()),
            "chunk_rows": pipeline.CHUNK_ROWS,
            "parameters": R.parameters(),
            "notes": (
                "subject_line and send_time are drawn uniformly and independently, from a random "
                "stream that sees nothing else. arm_rate_true is the mean true p of each arm over "
                "the recipients written; best_arm_policy_value the mean of each recipient's "
                "largest p; uniform_policy_value the expected rate of the randomised assignment."
            ),
        }
        S.write_truth_json(truth_dir / S.TRUTH_JSON, "randomised", section)
    return summary


def _randomised_headline(summary: dict[str, Any]) -> list[str]:
    best = summary["best_arm"]
    label = f"{best['subject_line']} / {best['send_time']}"
    return [
        f"  clicked                      {summary['click_rate']:>12.2%}",
        f"  best arm for everyone        {best['rate']:>12.2%}  {label}",
        f"  best arm per recipient       {summary['best_arm_policy_value']:>12.2%}",
    ]


def _number(value: float | None) -> str:
    return f"{value:>12.3f}" if value is not None else f"{'n/a':>12}"


# --------------------------------------------------------------------------------------------
# registry
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Dataset:
    """One generatable dataset besides the demo: its file, default size, writer and headline."""

    name: str
    file_name: str
    default_rows: int
    write: Callable[..., dict[str, Any]]
    headline: Callable[[dict[str, Any]], list[str]]


DATASETS: dict[str, Dataset] = {
    "telemarketing": Dataset(
        "telemarketing",
        TELEMARKETING_FILE,
        TELEMARKETING_ROWS,
        generate_telemarketing,
        _telemarketing_headline,
    ),
    "randomised": Dataset(
        "randomised", EMAIL_TEST_FILE, EMAIL_TEST_ROWS, generate_randomised, _randomised_headline
    ),
}


def generate_dataset(
    name: str,
    out_dir: str | os.PathLike[str],
    rows: int | None = None,
    seed: int = 0,
    truth: bool = True,
    progress: bool = False,
) -> dict[str, Any]:
    """Write dataset `name` (a key of DATASETS) with its default size unless `rows` is given."""
    if name not in DATASETS:
        raise ValueError(f"dataset must be one of {tuple(DATASETS)}, got {name!r}")
    dataset = DATASETS[name]
    rows = dataset.default_rows if rows is None else rows
    return dataset.write(out_dir, rows=rows, seed=seed, truth=truth, progress=progress)
