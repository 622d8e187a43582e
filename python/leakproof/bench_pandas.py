"""The staging benchmark: raw file -> staging -> the dimension / arm / segment rate tables of one
use case, in dbt (the project's models) and in pandas (a reference implementation of the same
cleaning and metrics), on the same file, side by side in one run.

The pandas reference reads the labelled file with every column as text, types each value exactly
(an integer is digits, a double a finite decimal number; anything else is quarantined), maps
categories through the declared accepted values and aliases, quarantines missing required values,
values out of range, unknown target labels and duplicate keys, collapses exact duplicate rows,
then computes for every declared dimension, every what-if arm and every segment band (alone, and
crossed with each dimension and the arm, as fct_segment_performance does) the labelled rows,
positives, rate with its Wilson interval, spend and cost per positive (spend capped at the
declared cap). Not done here, though the dbt side does it: the split and CV folds, the training
medians imputed and the outlier flags of int_<use case>__prepared, and the significance tests of
the marts. The dbt side is the sum of the execution times of every node `dbt run` builds for
the same marts (preflight, raw files, rejects, validated, staged, split, prepared, the four
performance marts), parsing excluded. `leakproof bench --versus-pandas` prints the ratio.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from leakproof.declarations import Declaration, load
from leakproof.generate import generate

__all__ = ["Comparison", "compare", "comparison_table", "pandas_reference"]

MARTS = [
    "fct_dimension_performance",
    "fct_treatment_performance",
    "fct_segment_performance",
    "fct_budget_reallocation",
]
_INTEGER = r"[+-]?[0-9]+"
_DOUBLE = r"[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]+)?"


@dataclass(frozen=True)
class Comparison:
    rows: int
    dbt_seconds: float
    pandas_seconds: float

    @property
    def ratio(self) -> float:
        """How many times faster dbt is than pandas."""
        return self.pandas_seconds / self.dbt_seconds


def _key(values: pd.Series) -> pd.Series:
    return values.str.lower().str.replace(r"[^a-z0-9]+", "", regex=True)


def _typed(raw: pd.Series, data_type: str) -> pd.Series:
    if data_type in ("integer", "bigint"):
        ok = raw.str.fullmatch(_INTEGER).fillna(False)
        return pd.to_numeric(raw.where(ok), errors="coerce")
    if data_type == "double":
        ok = raw.str.fullmatch(_DOUBLE).fillna(False)
        number = pd.to_numeric(raw.where(ok), errors="coerce")
        return number.where(np.isfinite(number))
    return raw


def _clean(frame: pd.DataFrame, declaration: Declaration) -> pd.DataFrame:
    """Staged rows: typed, canonical, valid, exact duplicates collapsed (snake_case columns)."""
    frame = frame.drop_duplicates()
    out = pd.DataFrame(index=frame.index)
    problem = pd.Series(False, index=frame.index)
    for column in declaration.columns:
        raw = frame[column.name].str.strip().replace("", np.nan)
        if column.role == "target":
            label = raw.str.lower()
            value = pd.Series(np.nan, index=raw.index)
            value[label.isin([p.lower() for p in declaration.positive])] = 1
            value[label.isin([n.lower() for n in declaration.negative])] = 0
            problem |= raw.notna() & value.isna()
        elif column.accepted_values:
            lookup = {_key(pd.Series([a])).iloc[0]: a for a in column.accepted_values}
            for alias, canonical in column.aliases.items():
                lookup.setdefault(_key(pd.Series([alias])).iloc[0], canonical)
            value = _key(raw).map(lookup).fillna(raw)
        else:
            value = _typed(raw, column.data_type)
            problem |= raw.notna() & value.isna()
        if column.required:
            problem |= raw.isna()
        if column.min is not None:
            problem |= value.lt(column.min) if value.dtype != object else False
        if column.max is not None:
            problem |= value.gt(column.max) if value.dtype != object else False
        out[column.column] = value
    if declaration.grain:
        problem |= out.duplicated(list(declaration.grain), keep=False)
    return out[~problem]


def _rates(staged: pd.DataFrame, by: list[str], target: str, spend: str | None) -> pd.DataFrame:
    grouped = staged.groupby(by, dropna=False)
    table = grouped[target].agg(rows="size", positives="sum")
    if spend:
        table["spend"] = grouped[spend].sum()
        table["cost_per_positive"] = table["spend"] / table["positives"].replace(0, np.nan)
    z = 1.959963984540054
    n, p = table["rows"], table["positives"] / table["rows"]
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return table.assign(rate=p, rate_low=centre - half, rate_high=centre + half)


def pandas_reference(path: Path, declaration: Declaration) -> dict[str, pd.DataFrame]:
    """The rate tables of the labelled file, computed with pandas (see the module)."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    staged = _clean(frame, declaration)
    target = declaration.column(declaration.target).column
    staged = staged[staged[target].notna()]
    spend = None
    if declaration.spend:
        spend_column = declaration.spend.removesuffix("_capped")
        _, cap = declaration.outliers.get(spend_column, (None, None))
        staged = staged.assign(_spend=staged[spend_column].clip(upper=cap))
        spend = "_spend"
    tables = {}
    for name, _ in declaration.dimensions:
        if name in staged:
            tables[f"dimension:{name}"] = _rates(staged, [name], target, spend)
    if declaration.what_if:
        tables["arms"] = _rates(staged, list(declaration.what_if.treatments), target, spend)
    # every segment alone and crossed with each dimension and the arm, as fct_segment_performance
    crossings = [name for name, _ in declaration.dimensions if name in staged]
    if declaration.what_if and len(declaration.what_if.treatments) > 1:
        crossings.append("_arm")
        first, *others = declaration.what_if.treatments
        arm = staged[first].astype(str)
        for treatment in others:  # vectorised (a row-wise join would slow pandas down tenfold)
            arm = arm + " + " + staged[treatment].astype(str)
        staged = staged.assign(_arm=arm)
    for name, (column, segment_bands) in declaration.segments.items():
        edges = [band.up_to for band in segment_bands if band.up_to is not None]
        labels = np.array([band.label for band in segment_bands], dtype=object)
        bands = labels[np.searchsorted(np.array(edges, dtype=float), staged[column], "left")]
        banded = staged.assign(_band=bands)
        tables[f"segment:{name}"] = _rates(banded, ["_band"], target, spend)
        for crossing in crossings:
            by = ["_band", crossing]
            tables[f"segment:{name}:{crossing.strip('_')}"] = _rates(banded, by, target, spend)
    return tables


def compare(
    rows: int, out: Path, project_dir: Path, dbt: str, use_case: str = "marketing"
) -> Comparison:
    """Generate `rows` customers, time dbt and pandas on the same file."""
    data, work = out / "data" / str(rows), out / "staging" / str(rows)
    work.mkdir(parents=True, exist_ok=True)
    if not (data / "customers.csv").exists():
        generate(data, rows=rows, b2b_rows=1000, truth=False)
    declaration = load(project_dir / "use_cases" / f"{use_case}.yml")
    warehouse = work / "leakproof.duckdb"
    warehouse.unlink(missing_ok=True)
    selection = ["stg_use_case_preflight", "stg_raw_files", *[f"+{m}" for m in MARTS]]
    dbt_vars = json.dumps({"raw_dir": str(data), "use_cases": [use_case]})
    env = {**os.environ, "LEAKPROOF_WAREHOUSE": str(warehouse), "DBT_LOG_PATH": str(work)}
    command = [dbt, "run", "--select", *selection, "--vars", dbt_vars]
    subprocess.run(
        [*command, "--target-path", str(work / "target")],
        cwd=project_dir,
        env=env,
        check=True,
        capture_output=True,
    )
    results = json.loads((work / "target" / "run_results.json").read_text())["results"]
    dbt_seconds = sum(float(r["execution_time"]) for r in results)
    started = time.perf_counter()
    path = declaration.table.paths(data)["labelled"]
    pandas_reference(path, declaration)
    return Comparison(rows, dbt_seconds, time.perf_counter() - started)


def comparison_table(comparisons: list[Comparison]) -> str:
    lines = [f"{'customers':>10} {'dbt (s)':>8} {'pandas (s)':>10} {'dbt faster by':>14}"]
    lines += [
        f"{c.rows:>10,} {c.dbt_seconds:>8.1f} {c.pandas_seconds:>10.1f} {c.ratio:>13.2f}x"
        for c in comparisons
    ]
    lines.append("target (issue 16): dbt at least 5x faster than pandas at 1M and 5M customers")
    return "\n".join(lines)
