"""What-if recommendations: score every customer under every channel x platform combination and
recommend the one the model rates highest (the marketing document's phase 5), vectorised.

Each customer's feature row is replicated once per combination with ``campaign_channel`` and
``advertising_platform`` replaced and every feature that depends on them recomputed
(``counterfactual_features``); the whole block is scored in one call per chunk of customers, so
48,000 customers x 49 combinations take seconds, not a Python loop per customer.

The recommendation is what the MODEL claims. Whether acting on it would really lift conversions
is a causal question the model cannot answer by itself - ``leakproof.policy`` estimates it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
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
CUSTOMER_CHUNK = 8192  # customers per scoring call (x 49 rows): bounds memory, keeps speed

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
    train_rows = features[features[split_column] == "train"]
    if train_rows.empty:
        raise ValueError("channel_context: the feature table has no training rows")
    channels = tuple(sorted(train_rows[CHANNEL].dropna().unique()))
    platforms = tuple(sorted(train_rows[PLATFORM].dropna().unique()))
    present = [c for c in PER_CHANNEL_FEATURES if c in features.columns]
    per_channel = train_rows.groupby(CHANNEL)[present].mean(numeric_only=False)
    if "channel_conversion_rate_oof" in present:
        held_out = features[features[split_column] != "train"]
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
    train_rows = features[features[split_column] == "train"]
    label = train_rows[CHANNEL].astype(str) + " + " + train_rows[PLATFORM].astype(str)
    counts = (
        train_rows.assign(_combo=label)
        .groupby([*segment_columns, "_combo"], dropna=False)
        .size()
        .unstack("_combo", fill_value=0)
    )
    return counts.reindex(columns=context.combinations["channel_platform"], fill_value=0)


def _support_counts(
    features: pd.DataFrame, support: pd.DataFrame, segment_columns: Sequence[str]
) -> np.ndarray:
    """(customers x combinations) training-customer counts of each customer's segment."""
    keys = pd.MultiIndex.from_frame(features[list(segment_columns)])
    if len(segment_columns) == 1:
        keys = keys.get_level_values(0)
    position = support.index.get_indexer(keys)
    table = np.vstack([support.to_numpy(), np.zeros((1, support.shape[1]), dtype=np.int64)])
    return table[position]  # position -1 (segment unseen in training) -> the zero row


def _choose(score: np.ndarray, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the best and the runner-up allowed column per row (-1: none). Ties: first."""
    masked = np.where(allowed, score, -np.inf)
    best = np.argmax(masked, axis=1)
    rows = np.arange(len(score))
    second_masked = masked.copy()
    second_masked[rows, best] = -np.inf
    runner = np.argmax(second_masked, axis=1)
    best = np.where(np.isfinite(masked[rows, best]), best, -1)
    runner = np.where(np.isfinite(second_masked[rows, runner]), runner, -1)
    return best, runner


def score_combinations(
    features: pd.DataFrame,
    predict: Predict,
    context: ChannelContext,
    chunk: int = CUSTOMER_CHUNK,
) -> np.ndarray:
    """(customers x combinations) predicted probabilities, one ``predict`` call per chunk of
    ``chunk`` customers (``predict`` maps a feature frame to one probability per row)."""
    k = len(context.combinations)
    parts = []
    for start in range(0, len(features), chunk):
        block = counterfactual_features(features.iloc[start : start + chunk], context)
        parts.append(np.asarray(predict(block), dtype=np.float64).reshape(-1, k))
    return np.vstack(parts) if parts else np.zeros((0, k))


def recommend(
    features: pd.DataFrame,
    predict: Predict,
    *,
    context: ChannelContext | None = None,
    id_columns: Sequence[str] = ("customer_id",),
    segment_columns: Sequence[str] = DEFAULT_SEGMENTS,
    min_support_customers: int = 20,
    in_support_only: bool = False,
    split_column: str = "split",
) -> pd.DataFrame:
    """One row per customer of ``features``: the current combination and its predicted
    probability, the best and the runner-up of all combinations, absolute and relative lift,
    and whether the recommendation is in support.

    A combination is in support for a customer when at least ``min_support_customers``
    training customers of the same segment (``segment_columns``, default age group x income
    tier) were historically given it. ``in_support_only`` restricts the choice to in-support
    combinations (a customer whose segment has none falls back to all of them, flagged by
    ``has_in_support_combination`` = false); keeping the customer's current combination is always
    allowed. The current probability is the model's score of the customer's own combination
    through the same simulation, so best >= current always holds.
    """
    context = context or channel_context(features, split_column)
    combos = context.combinations
    labels = combos["channel_platform"].to_numpy()
    features = features.reset_index(drop=True)
    probability = score_combinations(features, predict, context)

    support = segment_support(features, context, segment_columns, split_column)
    counts = _support_counts(features, support, segment_columns)
    in_support = counts >= min_support_customers
    has_support = in_support.any(axis=1)
    rows = np.arange(len(features))
    current_label = (
        features[CHANNEL].astype(str) + " + " + features[PLATFORM].astype(str)
    ).to_numpy()
    current = pd.Index(labels).get_indexer(current_label)  # -1: a combination never trained on
    allowed = in_support.copy() if in_support_only else np.ones_like(in_support)
    allowed = np.where(has_support[:, None], allowed, True)
    known = current >= 0
    allowed[rows[known], current[known]] = True  # keeping the current one is always allowed
    best, runner = _choose(probability, allowed)
    current_probability = np.where(current >= 0, probability[rows, np.maximum(current, 0)], np.nan)
    best_probability = probability[rows, best]
    runner_probability = np.where(runner >= 0, probability[rows, np.maximum(runner, 0)], np.nan)

    out = features[[*id_columns, split_column, *segment_columns]].copy()
    out["current_channel"] = features[CHANNEL].to_numpy()
    out["current_platform"] = features[PLATFORM].to_numpy()
    out["current_channel_platform"] = current_label
    out["current_probability"] = current_probability
    out["recommended_channel"] = combos["channel"].to_numpy()[best]
    out["recommended_platform"] = combos["platform"].to_numpy()[best]
    out["recommended_channel_platform"] = labels[best]
    out["recommended_probability"] = best_probability
    out["absolute_lift"] = best_probability - current_probability
    out["relative_lift"] = best_probability / current_probability - 1.0
    out["runner_up_channel_platform"] = np.where(runner >= 0, labels[runner], None)
    out["runner_up_probability"] = runner_probability
    out["is_recommendation_current"] = best == current
    out["recommendation_support_customers"] = counts[rows, best].astype(np.int64)
    out["is_recommendation_in_support"] = in_support[rows, best]
    out["is_current_in_support"] = np.where(
        current >= 0, in_support[rows, np.maximum(current, 0)], False
    )
    out["has_in_support_combination"] = has_support
    out["combinations_considered"] = allowed.sum(axis=1).astype(np.int64)
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

    def predict(frame: pd.DataFrame) -> np.ndarray:
        return train.predict_proba_frame(bundle, frame)["calibrated_probability"].to_numpy()

    out = recommend(
        features[keep],
        predict,
        context=channel_context(features),
        segment_columns=segment_columns,
        min_support_customers=min_support_customers,
        in_support_only=in_support_only,
    )
    out.insert(0, "model_id", bundle.model_id)
    out["min_support_customers"] = int(min_support_customers)
    out["is_in_support_only"] = bool(in_support_only)
    out["is_model_claimed"] = True
    return with_true_probabilities(out, policy.load_truth(raw_dir))


def with_true_probabilities(
    recommendations: pd.DataFrame, truth: pd.DataFrame | None
) -> pd.DataFrame:
    """Add the TRUE conversion probability of the current and the recommended combination from
    the generator's sidecar (``policy.load_truth``: customer_id and p__<channel>__<platform>
    columns) and ``has_truth``; NULL for a customer the sidecar lacks, or when there is none."""
    out = recommendations.copy()
    out["has_truth"] = truth is not None
    out["true_current_probability"] = np.nan
    out["true_recommended_probability"] = np.nan
    if truth is None:
        return out
    columns = [c for c in truth.columns if c.startswith("p__")]
    joined = out[["customer_id"]].merge(
        truth[["customer_id", *columns]], on="customer_id", how="left"
    )
    matrix = joined[columns].to_numpy(dtype=np.float64)
    rows = np.arange(len(out))
    for side in ("current", "recommended"):
        wanted = (
            "p__" + out[f"{side}_channel"].astype(str) + "__" + out[f"{side}_platform"].astype(str)
        )
        position = pd.Index(columns).get_indexer(wanted)
        picked = matrix[rows, np.maximum(position, 0)]
        out[f"true_{side}_probability"] = np.where(position >= 0, picked, np.nan)
    return out


def as_bool(value: Any) -> bool:
    """A dbt config value (bool, or its text after Jinja rendering) as a bool."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)
