"""Is a recommended policy's promised lift real? The recommended vs the historical policy of a
what-if use case on its held-out test split, estimated off-policy (leakproof.policy) with the
model's own claim beside, and - on generated data - the truth from the sidecar.

The logging policy's propensities are the declared assignment probabilities when the use case
declares its assignment randomised, else a multinomial logit of the arm on the declared
pre-treatment covariates, fitted on training rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from leakproof import policy
from leakproof.exceptions import LeakproofError
from leakproof.whatif._truth import TruthSource, arm_codes, truth_values

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
    samples: int = 200,
    seed: int = 0,
    propensity_floor: float = policy.PROPENSITY_FLOOR,
    level: float = 0.95,
    propensity_max_rows: int | None = policy.PROPENSITY_MAX_ROWS,
) -> pd.DataFrame:
    """One row per policy x estimator (observed, direct_method - the model's claim -, ipw,
    snipw, doubly_robust, and truth when the sidecar exists), with bootstrap intervals, the
    relative lift over historical, the bias against the truth and the overlap diagnostics."""
    arm = (
        features[list(treatments)].astype(str).agg(" + ".join, axis=1)
        if len(treatments) > 1
        else features[treatments[0]].astype(str)
    )
    features = features.assign(_arm=arm.where(features[list(treatments)].notna().all(axis=1)))
    train_rows = features[features["split"] == "train"]
    arms = sorted(train_rows["_arm"].dropna().unique())
    recs = recommendations.loc[recommendations["split"] == "test", list(RECOMMENDATION_COLUMNS)]
    test = features[features["split"] == "test"].merge(
        recs.drop(columns="split"), on="entity_key", how="inner"
    )
    if test.empty:
        raise LeakproofError("policy evaluation: no test row has a recommendation")
    position = pd.Index(arms)
    rows = np.arange(len(test))
    logged = position.get_indexer(test["_arm"])
    recommended = position.get_indexer(test["recommended_arm"])
    e = known_propensities(arms, known_probabilities, logged)
    propensity_source = "declared" if e is not None else "estimated"
    if e is None:
        both = pd.concat([train_rows, test], ignore_index=True)
        covariates = policy.covariate_matrix(both, numeric_covariates, categorical_covariates)
        fit_rows: slice | np.ndarray = slice(0, len(train_rows))
        if propensity_max_rows is not None and len(train_rows) > propensity_max_rows:
            rng = np.random.default_rng(seed)
            fit_rows = np.sort(rng.choice(len(train_rows), int(propensity_max_rows), replace=False))
        scaler, model = policy.fit_propensities(
            covariates[fit_rows],
            train_rows["_arm"].to_numpy(dtype=object)[fit_rows],
            arms,
            seed=seed,
        )
        e = policy.predict_propensities(
            scaler, model, covariates[len(train_rows) :], arms, propensity_floor
        )
    e_logged = np.where(logged >= 0, e[rows, np.maximum(logged, 0)], propensity_floor)
    e_recommended = np.where(
        recommended >= 0, e[rows, np.maximum(recommended, 0)], propensity_floor
    )

    y = test[target].to_numpy(dtype=float)
    q_logged = test["current_probability"].to_numpy(dtype=float)
    q_recommended = test["recommended_probability"].to_numpy(dtype=float)
    matched = (test["_arm"] == test["recommended_arm"]).to_numpy()
    policies = {
        "historical": policy.LoggedPolicy(y, e_logged, e_logged, q_logged, q_logged),
        "recommended": policy.LoggedPolicy(
            y, matched.astype(float), e_logged, q_logged, q_recommended
        ),
    }
    table = policy.compare_policies(policies, "historical", samples=samples, seed=seed, level=level)
    table = table.rename(columns={"conversion_rate": "positive_rate"})

    alpha = (1.0 - level) / 2.0
    observed = policy.bootstrap_statistics(
        len(y), samples, seed, lambda index: {"observed": y[index].mean(axis=1)}
    )["observed"]
    extra = [
        {
            "policy": "historical",
            "estimator": "observed",
            "positive_rate": float(y.mean()),
            "ci_lower": float(np.quantile(observed, alpha)),
            "ci_upper": float(np.quantile(observed, 1.0 - alpha)),
        }
    ]
    truth_rate: dict[str, float] = {}
    propensity_mae = propensity_corr = np.nan
    if truth is not None:
        every_row = np.zeros(len(test), dtype=np.int64)
        wanted = {"p_realised": (every_row, [truth.probability])}
        if truth.propensity:
            wanted["propensity_realised"] = (every_row, [truth.propensity])
        if truth.arm_probability:
            wanted["p_recommended"] = arm_codes(truth, treatments, test["recommended_arm"])
        values = truth_values(truth, test["entity_key"], wanted)
        truth_rate["historical"] = float(np.nanmean(values["p_realised"]))
        if "p_recommended" in values:
            truth_rate["recommended"] = float(np.nanmean(values["p_recommended"]))
        if "propensity_realised" in values:
            true_e = values["propensity_realised"]
            propensity_mae = float(np.nanmean(np.abs(e_logged - true_e)))
            propensity_corr = float(pd.Series(e_logged).corr(pd.Series(true_e)))
        for name, rate in truth_rate.items():
            extra.append(
                {
                    "policy": name,
                    "estimator": "truth",
                    "positive_rate": rate,
                    "relative_lift": (
                        rate / truth_rate["historical"] - 1.0 if name != "historical" else np.nan
                    ),
                }
            )
    table = pd.concat([pd.DataFrame(extra[:1]), table, pd.DataFrame(extra[1:])], ignore_index=True)

    n = len(test)
    weights = matched / e_logged
    table.insert(0, "evaluated_split", "test")
    table.insert(3, "rows_evaluated", n)
    table["expected_positives"] = table["positive_rate"] * n
    table["is_model_claimed"] = table["estimator"] == "direct_method"
    table["has_truth"] = truth is not None
    table["true_positive_rate"] = table["policy"].map(truth_rate).astype(float)
    table["bias_vs_truth"] = table["positive_rate"] - table["true_positive_rate"]
    table["matched_rows"] = int(matched.sum())
    table["min_propensity_logged"] = float(e_logged.min())
    table["min_propensity_recommended"] = float(e_recommended.min())
    table["effective_sample_size"] = policy.effective_sample_size(weights)
    table["share_out_of_support"] = float(
        1.0 - test["is_recommendation_in_support"].astype(bool).mean()
    )
    table["propensity_source"] = propensity_source
    table["propensity_floor"] = float(propensity_floor)
    table["propensity_mae_vs_truth"] = propensity_mae
    table["propensity_corr_vs_truth"] = propensity_corr
    table["bootstrap_samples"] = int(samples)
    order = ["observed", *policy.ESTIMATORS, "truth"]
    table["estimator_order"] = table["estimator"].map({e: i for i, e in enumerate(order)})
    return table.sort_values(["policy", "estimator_order"], ignore_index=True)


__all__ = ["RECOMMENDATION_COLUMNS", "evaluate_policy", "known_propensities"]
