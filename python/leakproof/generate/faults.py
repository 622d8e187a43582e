"""Fault injection: a random plan per chunk (drawn first, format-independent), then pure edits.

A row carries at most one row-level fault (its `kind`); missing values and exact duplicates are
drawn independently. Every random number is drawn whether or not the output format can hold the
fault, so CSV and Parquet outputs differ only in the cells Parquet's types cannot hold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from leakproof.generate import params as P

CASE_STYLES = 6  # lower, UPPER, "  lead", "trail ", "  lower", "UPPER "
DUPLICATE_MAX_OFFSET = 2_000  # a duplicate lands up to this many rows after its original


@dataclass(frozen=True)
class FaultPlan:
    """Which rows get which fault, plus the uniforms that choose columns and variants."""

    kinds: tuple[str, ...]
    kind: np.ndarray  # int8 index into `kinds`, -1 for none
    column_pick: np.ndarray  # uniform [0, 1): which eligible column the fault hits
    variant_pick: np.ndarray  # uniform [0, 1): which variant / token / case style
    missing: dict[str, np.ndarray]  # column -> bool mask
    order: np.ndarray  # output row order over clean rows, duplicates included

    def rows(self, kind: str) -> np.ndarray:
        """Boolean mask of the rows planned for `kind`."""
        return self.kind == self.kinds.index(kind)

    @property
    def n_duplicates(self) -> int:
        return int(self.order.shape[0] - self.kind.shape[0])


def plan_faults(
    rng: np.random.Generator,
    n: int,
    rates: dict[str, float],
    missing_rates: dict[str, float] | None = None,
    duplicate_rate: float = P.DUPLICATE_RATE,
) -> FaultPlan:
    """Draw the fault plan of a chunk of `n` clean rows."""
    edges = np.cumsum(list(rates.values()))
    kind = np.searchsorted(edges, rng.random(n), side="right").astype(np.int8)
    kind[kind >= len(rates)] = -1
    column_pick = rng.random(n)
    variant_pick = rng.random(n)
    missing = {c: rng.random(n) < r for c, r in (missing_rates or {}).items()}
    return FaultPlan(
        kinds=tuple(rates),
        kind=kind,
        column_pick=column_pick,
        variant_pick=variant_pick,
        missing=missing,
        order=duplicate_order(rng, n, duplicate_rate),
    )


def duplicate_order(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    """Row order with ~rate*n exact copies, each placed a little after its original."""
    originals = np.flatnonzero(rng.random(n) < rate)
    offsets = rng.uniform(0.5, DUPLICATE_MAX_OFFSET, originals.shape[0])
    keys = np.concatenate([np.arange(n, dtype=np.float64), originals + offsets])
    rows = np.concatenate([np.arange(n), originals])
    return rows[np.argsort(keys, kind="stable")]


def pick(u: np.ndarray, k: int | np.ndarray) -> np.ndarray:
    """Map uniforms in [0, 1) to integers 0..k-1 (k may vary per row)."""
    return np.minimum(np.floor(u * k).astype(np.int64), np.asarray(k) - 1)


def miscase(values: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Mis-case and/or pad category strings; the result always differs from the input."""
    values = values.astype(str)
    style = pick(u, CASE_STYLES)
    lower, upper = np.strings.lower(values), np.strings.upper(values)
    cased = np.where(np.isin(style, (0, 4)), lower, np.where(np.isin(style, (1, 5)), upper, values))
    out = np.where(np.isin(style, (2, 4)), np.strings.add("  ", cased), cased)
    out = np.where(np.isin(style, (3, 5)), np.strings.add(out, " "), out)
    return np.where(out == values, np.strings.add(out, " "), out)


def misspell(column: str, index: np.ndarray, u: np.ndarray) -> np.ndarray:
    """One of the fixed misspellings (params.MISSPELLINGS) of each category index."""
    table = P.MISSPELLINGS[column]
    width = max(len(v) for v in table.values())
    grid = np.array([[*v, *([v[0]] * (width - len(v)))] for v in table.values()])
    counts = np.array([len(v) for v in table.values()])
    return grid[index, pick(u, counts[index])]


def unparseable(values: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Strings that no strict number parser accepts (params.UNPARSEABLE_TOKENS)."""
    tokens = np.array(P.UNPARSEABLE_TOKENS)
    token = tokens[pick(u, len(tokens))]
    if np.issubdtype(values.dtype, np.integer):
        whole = np.abs(values)
        comma = np.strings.add(np.char.mod("%d", whole // 1000), np.char.mod(",%03d", whole % 1000))
    else:
        comma = np.strings.replace(np.char.mod("%.2f", values), ".", ",")
    return np.where(token == "<comma>", comma, token)


def impossible_ages(u: np.ndarray) -> np.ndarray:
    """Ages no customer can have (params.IMPOSSIBLE_AGES)."""
    return np.array(P.IMPOSSIBLE_AGES, dtype=np.int64)[pick(u, len(P.IMPOSSIBLE_AGES))]
