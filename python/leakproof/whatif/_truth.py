"""A use case's ground-truth sidecar (generated data only): the true probability of each row, of
each row under each arm, and the true propensity of the logged arm. Read by evaluation, never by
training; absent on a user's own data, and then every true_ column is NULL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from string import Formatter

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from leakproof.declarations import Declaration


@dataclass(frozen=True)
class TruthSource:
    """Where a use case's sidecar is and how to read it: its id columns (joined by '/' they are
    the rows' entity_key), the column of the true probability, the per-arm column template
    ('p__{campaign_channel}__{advertising_platform}') and the true-propensity column."""

    path: Path
    id_columns: tuple[str, ...]
    probability: str
    arm_probability: str | None = None
    propensity: str | None = None

    def arm_column(self, arm: Mapping[str, object]) -> str | None:
        """The sidecar column of one arm (treatment -> value), or None without a template."""
        if not self.arm_probability:
            return None
        names = [f for _, f, _, _ in Formatter().parse(self.arm_probability) if f]
        return self.arm_probability.format(**{n: arm.get(n) for n in names})


def truth_source(declaration: Declaration, raw_dir: str | Path | None) -> TruthSource | None:
    """The declared sidecar when its file exists in `raw_dir`, else None."""
    truth = declaration.truth
    if truth is None or not raw_dir:
        return None
    path = Path(raw_dir) / truth.file
    if not path.is_file():
        return None
    return TruthSource(path, truth.id, truth.probability, truth.arm_probability, truth.propensity)


def truth_values(
    source: TruthSource,
    entity_keys: Sequence[str] | pd.Series,
    wanted: Mapping[str, tuple[np.ndarray, Sequence[str | None]]],
) -> dict[str, np.ndarray]:
    """Per row, a value picked from a sidecar column that may differ row by row: `wanted` maps an
    output name to (codes, column names); row i takes column names[codes[i]] (code -1, a column
    the sidecar lacks, or a row it lacks: NaN). Only the columns asked for are read, one at a
    time, so memory is a few arrays of len(entity_keys), not the whole sidecar."""
    available = set(pq.read_schema(source.path).names)

    def column(name: str) -> np.ndarray:
        return pq.read_table(source.path, columns=[name]).column(0).to_numpy(zero_copy_only=False)

    parts = [pd.Series(column(c)).astype(str) for c in source.id_columns]
    keys = parts[0]
    for part in parts[1:]:
        keys = keys + "/" + part
    row = pd.Index(keys).get_indexer(pd.Index(np.asarray(entity_keys, dtype=object)))
    out = {}
    for output, (codes, names) in wanted.items():
        values = np.full(len(row), np.nan)
        codes = np.asarray(codes)
        for j, name in enumerate(names):
            if name is None or name not in available:
                continue
            take = np.flatnonzero((codes == j) & (row >= 0))
            if len(take):
                values[take] = column(name)[row[take]].astype(np.float64)
        out[output] = values
    return out


def arm_codes(
    source: TruthSource, treatments: Sequence[str], arms: pd.Series
) -> tuple[np.ndarray, list[str | None]]:
    """(codes, sidecar columns) of arm labels ('A + B'), for `truth_values`."""
    codes, uniques = pd.factorize(arms.astype(str))
    columns = [
        source.arm_column(dict(zip(treatments, str(label).split(" + "), strict=False)))
        for label in uniques
    ]
    return np.where(arms.isna().to_numpy(), -1, codes), columns


__all__ = ["TruthSource", "arm_codes", "truth_source", "truth_values"]
