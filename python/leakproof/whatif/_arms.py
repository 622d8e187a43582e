"""The arms of a what-if use case and how a feature row changes under each of them.

An arm is one combination of the declared treatments' values (the marketing document's 7 x 7
channel x platform grid); the arms are every combination of the values seen in training rows,
the first treatment major. Under an arm a row keeps every feature of its own except the ones
the arm decides:
- the treatments themselves;
- `follows` columns (the advertising tool follows the platform): the row's own value when the
  arm keeps the row's own leader value, else the leader value's most common follower among
  training rows;
- per-arm features: features that are functions of the treatments only - a derived feature
  whose SQL reads only treatments (channel_platform, is_paid_channel), an aggregate or an
  out-of-fold encoding grouped by a treatment (channel_avg_ad_spend), a derived feature over
  those. Their value under each arm is computed once (`ArmSpace.per_arm`).
A model feature that mixes a treatment with the row's own columns cannot be varied this way and
is an error naming it (`arm_dependent_features`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import product
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import sqlglot
from sqlglot import exp

from leakproof.exceptions import LeakproofError

ARM_SEPARATOR = " + "


def arm_label(values: Sequence[Any]) -> str:
    """An arm as text: the treatments' values joined by ' + ' (Referral + Facebook)."""
    return ARM_SEPARATOR.join(str(v) for v in values)


def sql_columns(sql: str) -> set[str]:
    """The column names a SQL expression reads (lower case)."""
    try:
        tree = sqlglot.parse_one(f"select {sql}", dialect="duckdb")
    except sqlglot.errors.SqlglotError as error:
        raise LeakproofError(f"cannot parse the expression {sql!r}: {error}") from error
    return {column.name.lower() for column in tree.find_all(exp.Column)}


@dataclass(frozen=True)
class PerArmFeature:
    """A feature whose value is a function of the arm: `sql` over the arm's treatments (and the
    per-arm features before it), or the value of its group `by` (a treatment)."""

    name: str
    sql: str | None = None
    by: str | None = None
    out_of_fold: bool = False


def arm_dependent_features(
    treatments: Sequence[str],
    derived: Mapping[str, str],
    grouped: Mapping[str, tuple[str, bool]],
    model_features: Sequence[str],
) -> list[PerArmFeature]:
    """The per-arm features, in an order that lets each read the ones before it.

    `derived`: name -> SQL of the use case's derived features; `grouped`: name -> (group column,
    is an out-of-fold encoding) of its aggregates and target encodings. Raises when a model
    feature reads a treatment together with anything the arm does not decide."""
    per_arm: list[PerArmFeature] = []
    decided = set(treatments)
    for name, (by, out_of_fold) in grouped.items():
        if by in decided:
            per_arm.append(PerArmFeature(name, by=by, out_of_fold=out_of_fold))
    decided |= {f.name for f in per_arm}
    for name, sql in derived.items():
        reads = sql_columns(sql)
        if reads and reads <= decided:
            per_arm.append(PerArmFeature(name, sql=sql))
            decided.add(name)
        elif reads & decided and name in model_features:
            mixed = ", ".join(sorted(reads - decided))
            raise LeakproofError(
                f"derived feature {name} reads a treatment together with {mixed}: the what-if "
                "engine can vary only features that are functions of the treatments; drop it "
                "from the model's features or rewrite it"
            )
    return per_arm


@dataclass(frozen=True)
class ArmSpace:
    """Every arm, in order, with the values it gives the arm-decided features."""

    treatments: tuple[str, ...]
    values: tuple[tuple[Any, ...], ...]  # per treatment, the training values (sorted)
    follows: dict[str, str] = field(default_factory=dict)  # column -> its leader treatment
    follower_of: dict[str, dict[Any, Any]] = field(default_factory=dict)  # column -> leader -> v
    per_arm: pd.DataFrame = field(default_factory=pd.DataFrame)  # one row per arm

    @property
    def frame(self) -> pd.DataFrame:
        """One row per arm: the treatments' values."""
        rows = list(product(*self.values))
        return pd.DataFrame(rows, columns=list(self.treatments))

    @property
    def labels(self) -> np.ndarray:
        return np.array([arm_label(row) for row in product(*self.values)], dtype=object)

    def __len__(self) -> int:
        return int(np.prod([len(v) for v in self.values])) if self.values else 0

    def arm_index(self, frame: pd.DataFrame) -> np.ndarray:
        """Each row's arm (-1: a treatment value never trained on, or missing)."""
        index = np.zeros(len(frame), dtype=np.int64)
        known = np.ones(len(frame), dtype=bool)
        for treatment, values in zip(self.treatments, self.values, strict=True):
            position = pd.Index(values).get_indexer(frame[treatment])
            known &= position >= 0
            index = index * len(values) + np.maximum(position, 0)
        return np.where(known, index, -1)

    def leader_position(self, leader: str) -> np.ndarray:
        """The position of each arm's value of treatment `leader` in its values."""
        i = self.treatments.index(leader)
        return np.array([row[i] for row in product(*(range(len(v)) for v in self.values))])

    def arm_frame(self) -> pd.DataFrame:
        """One row per arm: the treatments, the followed columns (each leader value's most
        common follower) and the per-arm features."""
        out = self.frame
        for column, leader in self.follows.items():
            out[column] = out[leader].map(self.follower_of[column])
        for column in self.per_arm.columns:
            out[column] = self.per_arm[column].to_numpy()
        return out


def arm_space(
    features: pd.DataFrame,
    treatments: Sequence[str],
    per_arm: Sequence[PerArmFeature] = (),
    follows: Mapping[str, str] | None = None,
    split_column: str = "split",
) -> ArmSpace:
    """The arm space of a feature table: the treatments' values among training rows, the
    followed columns' most common value per leader value (ties: first alphabetically), and the
    per-arm features' values. A grouped feature takes its value per group from the table: an
    out-of-fold encoding the value a test / score row of the group has (every training row, no
    fold held out) - or the mean over the group's training rows when there is none; any other
    the mean over the group's training rows (it is constant there)."""
    follows = dict(follows or {})
    train_rows = features.loc[features[split_column] == "train"]
    if train_rows.empty:
        raise LeakproofError("the what-if engine needs training rows")
    values = tuple(tuple(sorted(train_rows[t].dropna().unique())) for t in treatments)
    follower_of: dict[str, dict[Any, Any]] = {}
    for column, leader in follows.items():
        counts = train_rows.groupby([leader, column]).size().reset_index(name="n")
        counts = counts.sort_values([leader, "n", column], ascending=[True, False, True])
        follower_of[column] = dict(counts.drop_duplicates(leader)[[leader, column]].values.tolist())
    space = ArmSpace(tuple(treatments), values, follows, follower_of)
    arms = space.frame
    for feature in per_arm:
        if feature.by is not None:
            arms[feature.name] = arms[feature.by].map(
                _group_values(features, train_rows, feature, split_column)
            )
        else:
            arms[feature.name] = _evaluate(arms, feature.sql or "")
    per_arm_frame = arms[[f.name for f in per_arm]].reset_index(drop=True)
    return ArmSpace(space.treatments, values, follows, follower_of, per_arm_frame)


def _group_values(
    features: pd.DataFrame, train_rows: pd.DataFrame, feature: PerArmFeature, split_column: str
) -> pd.Series:
    by, name = feature.by, feature.name
    value = train_rows.groupby(by)[name].mean(numeric_only=False)
    if feature.out_of_fold:
        held_out = features.loc[features[split_column] != "train", [by, name]]
        value = held_out.groupby(by)[name].first().reindex(value.index).fillna(value)
    if pd.api.types.is_bool_dtype(train_rows[name]):
        value = value.astype(bool)
    return value


def _evaluate(arms: pd.DataFrame, sql: str) -> np.ndarray:
    """A SQL expression over the arm frame, one value per arm (in DuckDB, as the feature table
    computes it)."""
    connection = duckdb.connect()
    try:
        connection.register("arms", arms)
        return connection.sql(f"select {sql} as value from arms").to_df()["value"].to_numpy()
    finally:
        connection.close()


def counterfactual_features(frame: pd.DataFrame, space: ArmSpace) -> pd.DataFrame:
    """Each row of `frame` repeated once per arm (row-major: every arm of row 0, then row 1,
    ...) with the arm-decided columns replaced: the treatments, the per-arm features, and each
    followed column (the row's own value under its own leader value, else the leader value's
    most common follower). The index is reset. The reference the fast `ArmDesign` must equal."""
    arms = space.arm_frame()
    k, n = len(arms), len(frame)
    out = frame.iloc[np.repeat(np.arange(n), k)].reset_index(drop=True)
    for column, leader in space.follows.items():
        if column in out.columns:
            own_leader = out[leader].to_numpy(dtype=object)
            arm_leader = np.tile(arms[leader].to_numpy(dtype=object), n)
            native = np.tile(arms[column].to_numpy(dtype=object), n)
            out[column] = np.where(
                arm_leader == own_leader, out[column].to_numpy(dtype=object), native
            )
    for column in [*space.treatments, *space.per_arm.columns]:
        if column in out.columns:
            out[column] = np.tile(arms[column].to_numpy(), n)
    return out


__all__ = [
    "ARM_SEPARATOR",
    "ArmSpace",
    "PerArmFeature",
    "arm_dependent_features",
    "arm_label",
    "arm_space",
    "counterfactual_features",
    "sql_columns",
]
