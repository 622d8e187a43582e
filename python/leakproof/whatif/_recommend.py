"""What-if recommendations: score every row under every arm and recommend the one the model rates
highest (the marketing document's phase 5), vectorised.

Conceptually each row is replicated once per arm with the arm-decided features replaced
(`counterfactual_features` + `score_arms`: the reference path, for any `predict` function). A
trained model is scored without the replicas (`ArmDesign`): each chunk of rows is encoded once
and only the design columns an arm changes are rewritten per arm - the same numbers, bit for bit,
at a fraction of the time and memory. Rows are processed a chunk at a time end to end, so no
(rows x arms) array is ever held whole (5M customers x 49 arms score in ~2 minutes on 2 cores).

The recommendation is what the MODEL claims. Whether acting on it would really lift the outcome
is a causal question the model cannot answer by itself - the policy evaluation estimates it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from leakproof.exceptions import LeakproofError
from leakproof.whatif._arms import ArmSpace, arm_label, counterfactual_features

ROW_CHUNK = 8192  # rows per predict call (x arms rows): bounds memory, keeps speed
DESIGN_CHUNK = 65_536  # rows per ArmDesign chunk: one design matrix of this many

Predict = Callable[[pd.DataFrame], np.ndarray]


def segment_support(
    features: pd.DataFrame,
    space: ArmSpace,
    segment_columns: Sequence[str],
    split_column: str = "split",
) -> pd.DataFrame:
    """Training rows per segment (`segment_columns`) and arm: rows = segments (a MultiIndex,
    missing values kept as their own segment), columns = arms in arm order."""
    used = list(dict.fromkeys([*segment_columns, *space.treatments]))
    train_rows = features.loc[features[split_column] == "train", used]
    arm = space.arm_index(train_rows)
    keys = list(segment_columns) or ["_all"]
    frame = (
        train_rows[list(segment_columns)]
        if segment_columns
        else pd.DataFrame(
            {"_all": np.zeros(len(train_rows), dtype=np.int8)}, index=train_rows.index
        )
    )
    counts = frame.assign(_arm=arm).groupby([*keys, "_arm"], dropna=False).size()
    counts = counts.unstack("_arm", fill_value=0)
    counts = counts.reindex(columns=range(len(space)), fill_value=0)  # drops -1 (untrained)
    counts.columns = pd.Index(space.labels, name="_arm")
    return counts


def _segment_position(
    features: pd.DataFrame, support: pd.DataFrame, segment_columns: Sequence[str]
) -> np.ndarray:
    """Each row's segment as a row of `support`; len(support) for a segment without training
    rows (the zero row appended by `_support_table`)."""
    if not segment_columns:
        return np.zeros(len(features), dtype=np.int64)
    keys = pd.MultiIndex.from_frame(features[list(segment_columns)])
    if len(segment_columns) == 1:
        keys = keys.get_level_values(0)
    position = support.index.get_indexer(keys)
    return np.where(position >= 0, position, len(support))


def _support_table(support: pd.DataFrame) -> np.ndarray:
    """`support` as int32 with a zero row appended (for segments unseen in training)."""
    table = support.to_numpy(dtype=np.int64)
    if table.size and table.max() > np.iinfo(np.int32).max:
        raise LeakproofError("segment_support: a count does not fit in int32")
    return np.vstack([table, np.zeros((1, table.shape[1]), dtype=np.int64)]).astype(np.int32)


def _choose(score: np.ndarray, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the best and the runner-up allowed column per row (-1: none). Ties: first."""
    masked = np.where(allowed, score, -np.inf)
    rows = np.arange(len(score))
    best = np.argmax(masked, axis=1)
    best_value = masked[rows, best]
    masked[rows, best] = -np.inf
    runner = np.argmax(masked, axis=1)
    best = np.where(np.isfinite(best_value), best, -1)
    runner = np.where(np.isfinite(masked[rows, runner]), runner, -1)
    return best, runner


def score_arms(
    features: pd.DataFrame, predict: Predict, space: ArmSpace, chunk: int = ROW_CHUNK
) -> np.ndarray:
    """(rows x arms) predicted probabilities, one `predict` call per chunk of rows, through the
    replicated frames (the reference path)."""
    k = len(space)
    parts = []
    for start in range(0, len(features), chunk):
        block = counterfactual_features(features.iloc[start : start + chunk], space)
        parts.append(np.asarray(predict(block), dtype=np.float64).reshape(-1, k))
    return np.vstack(parts) if parts else np.zeros((0, k))


@dataclass(frozen=True)
class ArmDesign:
    """Scores a trained model's every arm from ONE design matrix per chunk of rows.

    Only some design columns depend on the arm: the encoded treatments, per-arm features and
    followed columns the model uses. `template` holds them for each arm, encoded by the model's
    own encoder from the arm frame (so imputation and scaling are the encoder's, bit for bit). A
    row's design row is encoded once and, per arm, those columns are overwritten from the
    template - except a followed column's, kept from the row's own design row when the arm keeps
    the row's own leader value. Every other column is the row's own, exactly as in the
    replicated frame, so the margins equal `score_arms` with the model's predict bit for bit."""

    bundle: Any  # train.ModelBundle: .encoder, .spec, .margin, .calibrator, .family
    space: ArmSpace
    template: np.ndarray  # (arms x design width)
    patched: np.ndarray  # design columns overwritten from the template (followed excluded)
    followed: tuple[tuple[str, np.ndarray, np.ndarray], ...]  # (leader, columns, arm leader)
    dtype: type

    @classmethod
    def build(cls, bundle: Any, space: ArmSpace) -> ArmDesign:
        spec, encoder = bundle.spec, bundle.encoder
        k = len(space)
        template = pd.DataFrame(
            {
                **{c: np.full(k, np.nan) for c in spec.numeric_features},
                **{c: np.full(k, None, dtype=object) for c in spec.categorical_features},
            }
        )
        arms = space.arm_frame()
        for column in arms.columns:
            if column in template.columns:
                template[column] = arms[column].to_numpy()
        feature_of = np.array([feature for feature, _ in encoder.columns], dtype=object)
        decided = [*space.treatments, *space.per_arm.columns]
        patched = np.flatnonzero(np.isin(feature_of, decided))
        followed = tuple(
            (leader, np.flatnonzero(feature_of == column), space.leader_position(leader))
            for column, leader in space.follows.items()
            if (feature_of == column).any()
        )
        # XGBoost compares float32 features with float32 split values: a float32 design (the
        # same rounding XGBoost applies to a float64 one) gives identical margins, in half the
        # memory; the logistic model's dot product needs float64.
        dtype = np.float32 if bundle.family == "xgboost" else np.float64
        return cls(
            bundle=bundle,
            space=space,
            template=encoder.transform(template[list(spec.features)], spec).astype(dtype),
            patched=patched,
            followed=followed,
            dtype=dtype,
        )

    def scores(self, features: pd.DataFrame, n_jobs: int | None = None) -> np.ndarray:
        """(rows x arms) calibrated probabilities of `features`' rows; the arms are scored on
        `n_jobs` threads (default the model's spec.n_jobs)."""
        design = self.bundle.design_matrix(features).astype(self.dtype, copy=False)
        kept = []
        for leader, columns, arm_leader in self.followed:
            values = self.space.values[self.space.treatments.index(leader)]
            own = pd.Index(values).get_indexer(features[leader])
            kept.append((_runs(columns), own, arm_leader))
        every = np.concatenate([self.patched, *(c for _, c, _ in self.followed)])
        patched = _runs(every)
        k = len(self.template)
        out = np.empty((len(design), k))

        def score_group(group: np.ndarray) -> None:
            x = design.copy()  # one buffer per thread; the patched columns are all rewritten
            for j in group:
                for a, b in patched:
                    x[:, a:b] = self.template[j, a:b]
                for runs, own, arm_leader in kept:  # the row's own follower on its own leader
                    rows = np.flatnonzero(own == arm_leader[j])
                    for a, b in runs:
                        x[rows, a:b] = design[rows, a:b]
                out[:, j] = self.bundle.margin(x)

        jobs = max(1, min(n_jobs or self.bundle.spec.n_jobs, k))
        groups = np.array_split(np.arange(k), jobs)
        if jobs > 1:
            with ThreadPoolExecutor(jobs) as pool:
                list(pool.map(score_group, groups))
        else:
            score_group(groups[0])
        return self.bundle.calibrator.predict(out.ravel()).reshape(out.shape)


def _runs(columns: np.ndarray) -> list[tuple[int, int]]:
    """Sorted column indices as [start, stop) runs of consecutive columns (slices are fast)."""
    columns = np.unique(columns)
    if not len(columns):
        return []
    breaks = np.flatnonzero(np.diff(columns) != 1) + 1
    return [(int(g[0]), int(g[-1]) + 1) for g in np.split(columns, breaks)]


def recommend(
    features: pd.DataFrame,
    space: ArmSpace,
    predict: Predict | None = None,
    *,
    bundle: Any = None,
    id_columns: Sequence[str] = ("entity_key",),
    segment_columns: Sequence[str] = (),
    min_support: int = 20,
    in_support_only: bool = False,
    split_column: str = "split",
    chunk: int | None = None,
    support: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per row of `features`: the current arm and its predicted probability, the best
    and the runner-up of all arms, absolute and relative lift, and whether the recommendation
    is in support.

    Scored either by `predict` (a frame -> probability per row, through the replicated frames)
    or by a trained `bundle` (`ArmDesign`: the same numbers, much faster). Rows are processed
    `chunk` at a time, so the (rows x arms) scores, support counts and masks exist for one chunk
    only.

    An arm is in support for a row when at least `min_support` training rows of the same
    segment (`segment_columns`, e.g. age group x income tier; none: every row one segment) were
    historically given it. `in_support_only` restricts the choice to in-support arms (a row
    whose segment has none falls back to all, flagged by has_in_support_arm = false); keeping
    the row's current arm is always allowed. The current probability is the model's score of the
    row's own arm through the same simulation, so best >= current always holds."""
    if (predict is None) == (bundle is None):
        raise LeakproofError("recommend: give exactly one of predict and bundle")
    labels = space.labels
    k = len(space)
    features = features.reset_index(drop=True)
    n = len(features)
    if bundle is not None:
        score: Callable[[pd.DataFrame], np.ndarray] = ArmDesign.build(bundle, space).scores
        chunk = chunk or DESIGN_CHUNK
    else:

        def score(frame: pd.DataFrame) -> np.ndarray:
            return score_arms(frame, predict, space)

        chunk = chunk or ROW_CHUNK

    if support is None:
        support = segment_support(features, space, segment_columns, split_column)
    table = _support_table(support)
    segment = _segment_position(features, support, segment_columns)
    current = space.arm_index(features)  # -1: an arm never trained on

    best = np.empty(n, dtype=np.int64)
    runner = np.empty(n, dtype=np.int64)
    current_probability = np.full(n, np.nan)
    best_probability = np.empty(n)
    runner_probability = np.full(n, np.nan)
    best_support = np.empty(n, dtype=np.int64)
    best_in_support = np.empty(n, dtype=bool)
    current_in_support = np.zeros(n, dtype=bool)
    has_support = np.empty(n, dtype=bool)
    considered = np.empty(n, dtype=np.int64)
    for start in range(0, n, chunk):
        part = slice(start, min(start + chunk, n))
        probability = score(features.iloc[part])
        counts = table[segment[part]]  # (chunk x arms) int32
        in_support = counts >= min_support
        has = in_support.any(axis=1)
        allowed = in_support if in_support_only else np.ones((len(counts), k), dtype=bool)
        allowed[~has] = True
        rows = np.arange(len(counts))
        now = current[part]
        known = now >= 0
        allowed[rows[known], now[known]] = True  # keeping the current arm is always allowed
        chosen, second = _choose(probability, allowed)
        best[part], runner[part], has_support[part] = chosen, second, has
        best_probability[part] = probability[rows, chosen]
        runner_probability[part] = np.where(
            second >= 0, probability[rows, np.maximum(second, 0)], np.nan
        )
        current_probability[part][known] = probability[rows[known], now[known]]
        current_in_support[part][known] = in_support[rows[known], now[known]]
        best_support[part] = counts[rows, chosen]
        best_in_support[part] = in_support[rows, chosen]
        considered[part] = allowed.sum(axis=1)

    out = features[[*id_columns, split_column]].copy()
    out["current_arm"] = _current_labels(features, space, current, labels)
    out["current_probability"] = current_probability
    out["recommended_arm"] = labels[best]
    out["recommended_probability"] = best_probability
    out["absolute_lift"] = best_probability - current_probability
    # undefined (NULL), not infinite, where the current probability is 0 or unknown
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = best_probability / current_probability - 1.0
    out["relative_lift"] = np.where(current_probability > 0, relative, np.nan)
    out["runner_up_arm"] = np.where(runner >= 0, labels[np.maximum(runner, 0)], None)
    out["runner_up_probability"] = runner_probability
    out["is_recommendation_current"] = best == current
    out["recommendation_support_rows"] = best_support
    out["is_recommendation_in_support"] = best_in_support
    out["is_current_in_support"] = current_in_support
    out["has_in_support_arm"] = has_support
    out["arms_considered"] = considered
    return out


def _current_labels(
    features: pd.DataFrame, space: ArmSpace, current: np.ndarray, labels: np.ndarray
) -> np.ndarray:
    """The arm label of each row (spelt from the row's own values when it is not a trained
    arm)."""
    out = labels[np.maximum(current, 0)].astype(object)
    other = np.flatnonzero(current < 0)
    if len(other):
        rows = features.iloc[other][list(space.treatments)]
        out[other] = [arm_label(values) for values in rows.itertuples(index=False)]
    return out


__all__ = ["ArmDesign", "recommend", "score_arms", "segment_support"]
