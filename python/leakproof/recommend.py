"""What-if recommendations: score every customer under every channel x platform combination and
recommend the one the model rates highest (the marketing document's phase 5), vectorised.

Conceptually each customer's feature row is replicated once per combination with
``campaign_channel`` and ``advertising_platform`` replaced and every feature that depends on them
recomputed (``counterfactual_features`` + ``score_combinations``: the reference path, used with
any ``predict`` function). A trained model is scored without the replicas
(``CombinationDesign``): each chunk of customers is encoded once and only the design columns a
combination changes are rewritten per combination - the same numbers, bit for bit, at a
fraction of the time and memory. Customers are processed a chunk at a time end to end, so no
(customers x 49) array is ever held whole (5M customers score in ~2 minutes on 2 cores).

The recommendation is what the MODEL claims. Whether acting on it would really lift conversions
is a causal question the model cannot answer by itself - ``leakproof.policy`` estimates it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leakproof import artifacts, policy, train

CHANNEL = "campaign_channel"
PLATFORM = "advertising_platform"
TOOL = "advertising_tool"
# Features the feature table derives from the channel alone: one value per channel.
PER_CHANNEL_FEATURES = (
    "is_paid_channel",
    "channel_avg_ad_spend",
    "channel_share_of_customers",
    "channel_conversion_rate_oof",
)
DEFAULT_SEGMENTS = ("age_group", "income_tier")
CUSTOMER_CHUNK = 8192  # customers per predict call (x 49 rows): bounds memory, keeps speed
DESIGN_CHUNK = 65_536  # customers per CombinationDesign chunk: one design matrix of this many

Predict = Callable[[pd.DataFrame], np.ndarray]


@dataclass(frozen=True)
class ChannelContext:
    """Everything needed to rebuild the channel-derived features of a row for any combination.

    ``channels`` x ``platforms`` are the combinations (those seen in training). ``per_channel``
    holds one value per channel of each PER_CHANNEL_FEATURES column present in the feature table;
    ``platform_tool`` the most common advertising tool of each platform among training rows.
    """

    channels: tuple[str, ...]
    platforms: tuple[str, ...]
    per_channel: pd.DataFrame  # index: channel
    platform_tool: dict[str, str]

    @property
    def combinations(self) -> pd.DataFrame:
        """One row per combination, channel-major: channel, platform, channel_platform."""
        channel = np.repeat(np.asarray(self.channels, dtype=object), len(self.platforms))
        platform = np.tile(np.asarray(self.platforms, dtype=object), len(self.channels))
        return pd.DataFrame(
            {
                "channel": channel,
                "platform": platform,
                "channel_platform": [f"{c} + {p}" for c, p in zip(channel, platform, strict=True)],
            }
        )


def channel_context(features: pd.DataFrame, split_column: str = "split") -> ChannelContext:
    """The per-channel feature values and the platform -> tool map of a feature table.

    Combinations: the channels and platforms of training rows. ``is_paid_channel``,
    ``channel_avg_ad_spend`` and ``channel_share_of_customers`` are constant per channel in the
    table. ``channel_conversion_rate_oof`` is out of fold on training rows; the value used for
    every simulated row is the one the table gives a test / score row of that channel (all
    training rows, no fold held out) - or the mean over the channel's training rows when no such
    row exists. The tool of a platform is its most common tool among training rows (ties: first
    alphabetically).
    """
    present = [c for c in PER_CHANNEL_FEATURES if c in features.columns]
    used = [CHANNEL, PLATFORM, *([TOOL] if TOOL in features.columns else []), *present]
    train_rows = features.loc[features[split_column] == "train", used]
    if train_rows.empty:
        raise ValueError("channel_context: the feature table has no training rows")
    channels = tuple(sorted(train_rows[CHANNEL].dropna().unique()))
    platforms = tuple(sorted(train_rows[PLATFORM].dropna().unique()))
    per_channel = train_rows.groupby(CHANNEL)[present].mean(numeric_only=False)
    if "channel_conversion_rate_oof" in present:
        held_out = features.loc[
            features[split_column] != "train", [CHANNEL, "channel_conversion_rate_oof"]
        ]
        encoded = held_out.groupby(CHANNEL)["channel_conversion_rate_oof"].first()
        per_channel["channel_conversion_rate_oof"] = encoded.reindex(per_channel.index).fillna(
            per_channel["channel_conversion_rate_oof"]
        )
    if "is_paid_channel" in present:
        per_channel["is_paid_channel"] = per_channel["is_paid_channel"].astype(bool)
    platform_tool: dict[str, str] = {}
    if TOOL in features.columns:
        counts = train_rows.groupby([PLATFORM, TOOL]).size().reset_index(name="n")
        counts = counts.sort_values([PLATFORM, "n", TOOL], ascending=[True, False, True])
        platform_tool = dict(counts.drop_duplicates(PLATFORM)[[PLATFORM, TOOL]].values.tolist())
    return ChannelContext(channels, platforms, per_channel.reindex(list(channels)), platform_tool)


def counterfactual_features(frame: pd.DataFrame, context: ChannelContext) -> pd.DataFrame:
    """Each row of ``frame`` repeated once per combination (row-major: all combinations of row 0,
    then row 1, ...) with the channel and platform replaced and every dependent column that is
    present recomputed: ``channel_platform``, the per-channel features and ``advertising_tool``
    (the customer's own tool on their own platform, otherwise the platform's most common tool -
    the tool follows the platform). The index is reset."""
    combos = context.combinations
    k, n = len(combos), len(frame)
    out = frame.iloc[np.repeat(np.arange(n), k)].reset_index(drop=True)
    channel = np.tile(combos["channel"].to_numpy(), n)
    platform = np.tile(combos["platform"].to_numpy(), n)
    if TOOL in out.columns:
        own_platform = out[PLATFORM].to_numpy(dtype=object)
        native = np.tile(np.array([context.platform_tool.get(p) for p in combos["platform"]]), n)
        out[TOOL] = np.where(platform == own_platform, out[TOOL].to_numpy(dtype=object), native)
    out[CHANNEL] = channel
    out[PLATFORM] = platform
    if "channel_platform" in out.columns:
        out["channel_platform"] = np.tile(combos["channel_platform"].to_numpy(), n)
    channel_codes = np.tile(np.repeat(np.arange(len(context.channels)), len(context.platforms)), n)
    for column in context.per_channel.columns:
        if column in out.columns:
            out[column] = context.per_channel[column].to_numpy()[channel_codes]
    return out


def segment_support(
    features: pd.DataFrame,
    context: ChannelContext,
    segment_columns: Sequence[str] = DEFAULT_SEGMENTS,
    split_column: str = "split",
) -> pd.DataFrame:
    """Training customers per segment (``segment_columns``) and combination: rows = segments
    (a MultiIndex, missing values kept as their own segment), columns = combinations in
    ``context.combinations`` order."""
    used = list(dict.fromkeys([*segment_columns, CHANNEL, PLATFORM]))
    train_rows = features.loc[features[split_column] == "train", used]
    combination = _combination_index(train_rows, context)
    counts = (
        train_rows[list(segment_columns)]
        .assign(_combo=combination)
        .groupby([*segment_columns, "_combo"], dropna=False)
        .size()
        .unstack("_combo", fill_value=0)
    )
    labels = context.combinations["channel_platform"]
    counts = counts.reindex(columns=range(len(labels)), fill_value=0)  # drops -1 (untrained)
    counts.columns = pd.Index(labels.to_numpy(), name="_combo")
    return counts


def _combination_index(features: pd.DataFrame, context: ChannelContext) -> np.ndarray:
    """Each row's position in ``context.combinations`` (-1: a channel or platform never trained
    on, or missing)."""
    channel = pd.Index(context.channels).get_indexer(features[CHANNEL])
    platform = pd.Index(context.platforms).get_indexer(features[PLATFORM])
    index = channel * len(context.platforms) + platform
    return np.where((channel >= 0) & (platform >= 0), index, -1)


def _segment_position(
    features: pd.DataFrame, support: pd.DataFrame, segment_columns: Sequence[str]
) -> np.ndarray:
    """Each row's segment as a row of ``support``; ``len(support)`` when the segment has no
    training customer (the zero row appended by ``_support_table``)."""
    keys = pd.MultiIndex.from_frame(features[list(segment_columns)])
    if len(segment_columns) == 1:
        keys = keys.get_level_values(0)
    position = support.index.get_indexer(keys)
    return np.where(position >= 0, position, len(support))


def _support_table(support: pd.DataFrame) -> np.ndarray:
    """``support`` as int32 with a zero row appended (for segments unseen in training)."""
    table = support.to_numpy(dtype=np.int64)
    if table.size and table.max() > np.iinfo(np.int32).max:
        raise ValueError("segment_support: a count does not fit in int32")
    return np.vstack([table, np.zeros((1, table.shape[1]), dtype=np.int64)]).astype(np.int32)


def _support_counts(
    features: pd.DataFrame, support: pd.DataFrame, segment_columns: Sequence[str]
) -> np.ndarray:
    """(customers x combinations) training-customer counts of each customer's segment."""
    return _support_table(support)[_segment_position(features, support, segment_columns)]


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


def score_combinations(
    features: pd.DataFrame,
    predict: Predict,
    context: ChannelContext,
    chunk: int = CUSTOMER_CHUNK,
) -> np.ndarray:
    """(customers x combinations) predicted probabilities, one ``predict`` call per chunk of
    ``chunk`` customers (``predict`` maps a feature frame to one probability per row).

    The reference path: every customer replicated once per combination
    (``counterfactual_features``). ``CombinationDesign`` gives the same numbers for a trained
    model without building the replicated frames."""
    k = len(context.combinations)
    parts = []
    for start in range(0, len(features), chunk):
        block = counterfactual_features(features.iloc[start : start + chunk], context)
        parts.append(np.asarray(predict(block), dtype=np.float64).reshape(-1, k))
    return np.vstack(parts) if parts else np.zeros((0, k))


@dataclass(frozen=True)
class CombinationDesign:
    """Scores a trained model's every combination from ONE design matrix per chunk of customers.

    Only some design columns depend on the combination: the one-hot columns of the channel, the
    platform, the tool and ``channel_platform`` and the per-channel numeric features (those the
    model uses). ``template`` holds them for each combination, encoded by the model's own
    encoder from a k-row frame built as ``counterfactual_features`` builds them (so imputation
    and scaling are the encoder's, bit for bit). A customer's design row is encoded once and,
    per combination, those columns are overwritten from the template - except the tool's, kept
    from the customer's own row on their own platform (the tool follows the platform). Every
    other column is the customer's own, exactly as in the replicated frame, so the margins and
    probabilities equal ``score_combinations`` with ``train.predict_proba_frame`` bit for bit
    (the encoder and both model families score row by row).
    """

    bundle: Any  # train.ModelBundle: .encoder, .spec, .margin, .calibrator, .family
    context: ChannelContext
    template: np.ndarray  # (combinations x design width), the combination's encoded row
    patched: np.ndarray  # design columns overwritten from the template, tool columns excluded
    tool_columns: np.ndarray  # design columns of the advertising tool (empty: not a feature)
    combination_platform: np.ndarray  # platform position of each combination
    dtype: type

    @classmethod
    def build(cls, bundle: Any, context: ChannelContext) -> CombinationDesign:
        spec, encoder = bundle.spec, bundle.encoder
        combos = context.combinations
        k = len(combos)
        template = pd.DataFrame(
            {
                **{c: np.full(k, np.nan) for c in spec.numeric_features},
                **{c: np.full(k, None, dtype=object) for c in spec.categorical_features},
            }
        )
        template[CHANNEL] = combos["channel"].to_numpy()
        template[PLATFORM] = combos["platform"].to_numpy()
        template["channel_platform"] = combos["channel_platform"].to_numpy()
        template[TOOL] = np.array([context.platform_tool.get(p) for p in combos["platform"]])
        channel_codes = np.repeat(np.arange(len(context.channels)), len(context.platforms))
        for column in context.per_channel.columns:
            template[column] = context.per_channel[column].to_numpy()[channel_codes]
        dependent = {CHANNEL, PLATFORM, "channel_platform", *context.per_channel.columns}
        feature_of = np.array([feature for feature, _ in encoder.columns], dtype=object)
        patched = np.flatnonzero(np.isin(feature_of, list(dependent)))
        tool_columns = np.flatnonzero(feature_of == TOOL)
        # XGBoost compares float32 features with float32 split values: a float32 design (the
        # same rounding XGBoost applies to a float64 one) gives identical margins, in half the
        # memory; the logistic model's dot product needs float64.
        dtype = np.float32 if bundle.family == "xgboost" else np.float64
        return cls(
            bundle=bundle,
            context=context,
            template=encoder.transform(template[list(spec.features)], spec).astype(dtype),
            patched=patched,
            tool_columns=tool_columns,
            combination_platform=np.tile(np.arange(len(context.platforms)), len(context.channels)),
            dtype=dtype,
        )

    def scores(self, features: pd.DataFrame, n_jobs: int | None = None) -> np.ndarray:
        """(customers x combinations) calibrated probabilities of ``features``' rows; the
        combinations are scored on ``n_jobs`` threads (default the model's ``spec.n_jobs``)."""
        design = self.bundle.design_matrix(features).astype(self.dtype, copy=False)
        own_platform = pd.Index(self.context.platforms).get_indexer(features[PLATFORM])
        on_platform = [
            np.flatnonzero(own_platform == p) for p in range(len(self.context.platforms))
        ]
        k = len(self.template)
        patched = _runs(np.union1d(self.patched, self.tool_columns))
        tool = _runs(self.tool_columns)
        out = np.empty((len(design), k))

        def score_group(group: np.ndarray) -> None:
            x = design.copy()  # one buffer per thread; the patched columns are all rewritten
            for j in group:
                for a, b in patched:
                    x[:, a:b] = self.template[j, a:b]
                own = on_platform[self.combination_platform[j]]
                for a, b in tool:  # the customer's own tool on their own platform
                    x[own, a:b] = design[own, a:b]
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
    predict: Predict | None = None,
    *,
    bundle: Any = None,
    context: ChannelContext | None = None,
    id_columns: Sequence[str] = ("customer_id",),
    segment_columns: Sequence[str] = DEFAULT_SEGMENTS,
    min_support_customers: int = 20,
    in_support_only: bool = False,
    split_column: str = "split",
    chunk: int | None = None,
) -> pd.DataFrame:
    """One row per customer of ``features``: the current combination and its predicted
    probability, the best and the runner-up of all combinations, absolute and relative lift,
    and whether the recommendation is in support.

    Scored either by ``predict`` (a frame -> probability per row, through the replicated frames
    of ``score_combinations``) or by a trained ``bundle`` (``CombinationDesign``: the same
    numbers, much faster). Customers are processed ``chunk`` at a time (default
    ``CUSTOMER_CHUNK`` / ``DESIGN_CHUNK``), so the (customers x combinations) scores, support
    counts and masks exist for one chunk only.

    A combination is in support for a customer when at least ``min_support_customers``
    training customers of the same segment (``segment_columns``, default age group x income
    tier) were historically given it. ``in_support_only`` restricts the choice to in-support
    combinations (a customer whose segment has none falls back to all of them, flagged by
    ``has_in_support_combination`` = false); keeping the customer's current combination is always
    allowed. The current probability is the model's score of the customer's own combination
    through the same simulation, so best >= current always holds.
    """
    if (predict is None) == (bundle is None):
        raise ValueError("recommend: give exactly one of predict and bundle")
    context = context or channel_context(features, split_column)
    combos = context.combinations
    labels = combos["channel_platform"].to_numpy()
    k = len(combos)
    features = features.reset_index(drop=True)
    n = len(features)
    if bundle is not None:
        design = CombinationDesign.build(bundle, context)
        score: Callable[[pd.DataFrame], np.ndarray] = design.scores
        chunk = chunk or DESIGN_CHUNK
    else:

        def score(frame: pd.DataFrame) -> np.ndarray:
            return score_combinations(frame, predict, context)

        chunk = chunk or CUSTOMER_CHUNK

    support = segment_support(features, context, segment_columns, split_column)
    table = _support_table(support)
    segment = _segment_position(features, support, segment_columns)
    current = _combination_index(features, context)  # -1: a combination never trained on

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
        counts = table[segment[part]]  # (chunk x combinations) int32
        in_support = counts >= min_support_customers
        has = in_support.any(axis=1)
        allowed = in_support if in_support_only else np.ones((len(counts), k), dtype=bool)
        allowed[~has] = True
        rows = np.arange(len(counts))
        now = current[part]
        known = now >= 0
        allowed[rows[known], now[known]] = True  # keeping the current one is always allowed
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

    out = features[[*id_columns, split_column, *segment_columns]].copy()
    out["current_channel"] = features[CHANNEL].to_numpy()
    out["current_platform"] = features[PLATFORM].to_numpy()
    out["current_channel_platform"] = _current_labels(features, current, labels)
    out["current_probability"] = current_probability
    out["recommended_channel"] = combos["channel"].to_numpy()[best]
    out["recommended_platform"] = combos["platform"].to_numpy()[best]
    out["recommended_channel_platform"] = labels[best]
    out["recommended_probability"] = best_probability
    out["absolute_lift"] = best_probability - current_probability
    out["relative_lift"] = best_probability / current_probability - 1.0
    out["runner_up_channel_platform"] = np.where(runner >= 0, labels[np.maximum(runner, 0)], None)
    out["runner_up_probability"] = runner_probability
    out["is_recommendation_current"] = best == current
    out["recommendation_support_customers"] = best_support
    out["is_recommendation_in_support"] = best_in_support
    out["is_current_in_support"] = current_in_support
    out["has_in_support_combination"] = has_support
    out["combinations_considered"] = considered
    return out


def _current_labels(features: pd.DataFrame, current: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """'channel + platform' of each row (the combination's label; spelt from the row's own
    values when it is not a trained combination)."""
    out = labels[np.maximum(current, 0)].astype(object)
    other = np.flatnonzero(current < 0)
    if len(other):
        rows = features.iloc[other]
        spelt = rows[CHANNEL].astype(str) + " + " + rows[PLATFORM].astype(str)
        out[other] = spelt.to_numpy(dtype=object)
    return out


def recommend_with_model(
    features: pd.DataFrame,
    registry: pd.DataFrame,
    *,
    min_support_customers: int = 20,
    in_support_only: bool = False,
    segment_columns: Sequence[str] = DEFAULT_SEGMENTS,
    raw_dir: str | None = None,
) -> pd.DataFrame:
    """``recommend`` with the primary registered model (sha256-verified) and its calibrated
    probability; adds ``model_id``, the vars used, the claim flag and - for evaluation only,
    never used to choose - the true probabilities from the generator's sidecar in ``raw_dir``
    when there is one (``with_true_probabilities``)."""
    bundle = artifacts.load_registered(registry)
    columns = list(dict.fromkeys([*bundle.spec.features, CHANNEL, PLATFORM]))
    keep = [c for c in features.columns if c in columns or c in ("customer_id", "split")]
    keep += [c for c in segment_columns if c not in keep]
    out = recommend(
        features[keep],
        bundle=bundle,
        context=channel_context(features),
        segment_columns=segment_columns,
        min_support_customers=min_support_customers,
        in_support_only=in_support_only,
    )
    out.insert(0, "model_id", bundle.model_id)
    out["min_support_customers"] = int(min_support_customers)
    out["is_in_support_only"] = bool(in_support_only)
    out["is_model_claimed"] = True
    return with_true_probabilities(out, policy.truth_file(raw_dir))


def reference_predict(bundle: Any) -> Predict:
    """The model as a frame -> calibrated probability function (``train.predict_proba_frame``):
    with ``recommend(features, predict)`` the reference that ``CombinationDesign`` must equal."""

    def predict(frame: pd.DataFrame) -> np.ndarray:
        return train.predict_proba_frame(bundle, frame)["calibrated_probability"].to_numpy()

    return predict


def with_true_probabilities(
    recommendations: pd.DataFrame, truth: pd.DataFrame | str | Path | None
) -> pd.DataFrame:
    """Add the TRUE conversion probability of the current and the recommended combination from
    the generator's sidecar (a frame as ``policy.load_truth`` gives it - customer_id and
    p__<channel>__<platform> columns - or the sidecar's path, read one column at a time) and
    ``has_truth``; NULL for a customer the sidecar lacks, or when there is none."""
    out = recommendations.copy(deep=False)
    out["has_truth"] = truth is not None
    out["true_current_probability"] = np.nan
    out["true_recommended_probability"] = np.nan
    if truth is None:
        return out
    wanted = {}
    for side in ("current", "recommended"):
        # missing -> code -1 -> NaN, as 'p__nan__...' matches no sidecar column
        channel_code, channels = pd.factorize(out[f"{side}_channel"])
        platform_code, platforms = pd.factorize(out[f"{side}_platform"])
        codes = np.where(
            (channel_code >= 0) & (platform_code >= 0),
            channel_code * len(platforms) + platform_code,
            -1,
        )
        names = [f"p__{c}__{p}" for c in channels for p in platforms]
        wanted[f"true_{side}_probability"] = (codes, names)
    for column, values in policy.truth_values(truth, out["customer_id"], wanted).items():
        out[column] = values
    return out
