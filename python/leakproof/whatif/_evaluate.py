"""Is a recommended policy's promised lift real? The historical, recommended, in-support, soft
and every fixed-arm policy of a what-if use case, estimated off-policy (leakproof.policy) with the
model's own claim beside, and - on generated data - the truth from the sidecar.

The nuisance models are cross-fitted over every labelled row (train and test). The policies that
come from the recommending model are evaluated on the test split only - the model has seen the
training rows' outcomes, so its choices there are judged by outcomes it was fitted to -, the
historical and fixed-arm policies on every labelled row. The logging policy's propensities are
the declared assignment probabilities when the use case declares its assignment randomised, else
a cross-fitted multinomial logit of the arm on the declared pre-treatment covariates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from leakproof import policy
from leakproof.exceptions import LeakproofError
from leakproof.whatif._truth import TruthSource, truth_values

RECOMMENDATION_COLUMNS = (
    "entity_key",
    "split",
    "current_probability",
    "recommended_arm",
    "recommended_probability",
    "is_recommendation_in_support",
)


def known_propensities(
    arms: Sequence[str], known: Mapping[str, float] | None, logged: np.ndarray
) -> np.ndarray | None:
    """(rows x arms) declared assignment probabilities: {} = uniform over the arms; arm label ->
    probability otherwise; None when the assignment is to be estimated."""
    if known is None:
        return None
    if not known:
        return np.full((len(logged), len(arms)), 1.0 / len(arms))
    missing = [a for a in arms if a not in known]
    if missing:
        raise LeakproofError(f"declared assignment probabilities lack arm(s) {missing}")
    return np.tile(np.array([known[a] for a in arms], dtype=float), (len(logged), 1))


def _truth(
    truth: TruthSource, keys: pd.Series, treatments: Sequence[str], arms: Sequence[str]
) -> policy.Truth:
    """Every arm's true probability, the logged arm's and its true propensity, from the sidecar."""
    every_row = np.zeros(len(keys), dtype=np.int64)
    wanted = {"p_realised": (every_row, [truth.probability])}
    if truth.propensity:
        wanted["propensity"] = (every_row, [truth.propensity])
    for arm in arms:
        column = truth.arm_column(dict(zip(treatments, arm.split(" + "), strict=False)))
        wanted[f"arm\t{arm}"] = (every_row, [column])
    values = truth_values(truth, keys, wanted)
    return policy.Truth(
        np.column_stack([values[f"arm\t{arm}"] for arm in arms]),
        values["p_realised"],
        values.get("propensity"),
    )


def evaluate_policy(
    features: pd.DataFrame,
    recommendations: pd.DataFrame,
    *,
    target: str,
    treatments: Sequence[str],
    numeric_covariates: Sequence[str],
    categorical_covariates: Sequence[str],
    known_probabilities: Mapping[str, float] | None = None,
    truth: TruthSource | None = None,
    thresholds: policy.Thresholds | None = None,
    folds: int = policy.DEFAULT_FOLDS,
    seed: int = 0,
    soft_share: float = 0.5,
    propensity_max_rows: int | None = policy.PROPENSITY_MAX_ROWS,
) -> pd.DataFrame:
    """One row per policy x estimator (policy.evaluate_recommendation) over the labelled rows of
    ``features`` (split train / test) joined to their ``recommendations``."""
    arm = (
        features[list(treatments)].astype(str).agg(" + ".join, axis=1)
        if len(treatments) > 1
        else features[treatments[0]].astype(str)
    )
    features = features.assign(_arm=arm.where(features[list(treatments)].notna().all(axis=1)))
    arms = sorted(features.loc[features["split"] == "train", "_arm"].dropna().unique())
    recs = recommendations[list(RECOMMENDATION_COLUMNS)]
    frame = features[features["split"].isin(["train", "test"])].merge(
        recs, on=["entity_key", "split"], how="inner"
    )
    if not (frame["split"] == "test").any():
        raise LeakproofError("policy evaluation: no test row has a recommendation")
    position = pd.Index(arms)
    action = position.get_indexer(frame["_arm"])
    recommended = position.get_indexer(frame["recommended_arm"])
    unknown = np.flatnonzero(recommended < 0)
    if len(unknown):
        raise LeakproofError(
            f"policy evaluation: {len(unknown)} recommendation(s) name an arm no training row "
            f"received (entity_key {frame['entity_key'].iloc[unknown[0]]!r})"
        )
    table = policy.evaluate_recommendation(
        policy.covariate_design(frame, numeric_covariates, categorical_covariates),
        action,
        frame[target].to_numpy(dtype=float),
        arms,
        recommended,
        held_out=(frame["split"] == "test").to_numpy(),
        claim_current=frame["current_probability"].to_numpy(dtype=float),
        claim_recommended=frame["recommended_probability"].to_numpy(dtype=float),
        declared_propensity=known_propensities(arms, known_probabilities, action),
        truth=_truth(truth, frame["entity_key"], treatments, arms) if truth is not None else None,
        thresholds=thresholds,
        folds=folds,
        seed=seed,
        soft_share=soft_share,
        propensity_max_rows=propensity_max_rows,
    )
    on_test = table["policy_kind"].isin(["argmax", "in_support", "soft"]) | (
        table["estimator"] == "model_claim"
    )
    table.insert(0, "evaluated_split", np.where(on_test, "test", "labelled"))
    table["share_out_of_support"] = float(
        1.0
        - frame.loc[frame["split"] == "test", "is_recommendation_in_support"].astype(bool).mean()
    )
    return table


__all__ = ["RECOMMENDATION_COLUMNS", "evaluate_policy", "known_propensities"]
