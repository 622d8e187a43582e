"""Off-policy evaluation: what would a targeting policy really achieve, estimated from logged
data in which the historical policy chose the action?

The estimators work on any data with an action, an outcome and the (known or estimated)
probability the logging policy gave the logged action - a randomised experiment (1/3 each) or
observational data with estimated propensities:

- direct method (DM): the outcome model's own claim, mean of q(x, pi(x)) - biased when q is;
- inverse propensity weighting (IPW): mean of w * y with w = pi(a|x) / e(a|x);
- self-normalised IPW (SNIPW): sum(w * y) / sum(w) - a little bias, much less variance;
- doubly robust (DR): DM + mean of w * (y - q(x, a)) - unbiased when either e or q is right.

Each comes with a seeded percentile-bootstrap interval (customers resampled), and the policies
are compared on the same resamples so a lift has an interval too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

ESTIMATORS = ("direct_method", "ipw", "snipw", "doubly_robust")
PROPENSITY_FLOOR = 0.001  # estimated propensities are clipped below at this value


@dataclass(frozen=True)
class LoggedPolicy:
    """One target policy's inputs over the logged rows (all arrays of length n).

    ``target_probability``: pi(a_i | x_i), the probability the target policy gives the LOGGED
    action (1/0 for a deterministic policy). ``propensity``: e(a_i | x_i), the logging policy's
    probability of the logged action. ``q_logged``: the outcome model at the logged action.
    ``q_target``: the outcome model's expected value under the target policy,
    sum_a pi(a | x_i) q(x_i, a).
    """

    outcome: np.ndarray
    target_probability: np.ndarray
    propensity: np.ndarray
    q_logged: np.ndarray
    q_target: np.ndarray

    @property
    def weights(self) -> np.ndarray:
        return self.target_probability / self.propensity


def _estimates(policy: LoggedPolicy, index: np.ndarray) -> dict[str, np.ndarray]:
    """Every estimator on each resample; ``index`` is (replicates x n) row indices."""
    y = policy.outcome[index]
    w = policy.weights[index]
    q_target = policy.q_target[index]
    dm = q_target.mean(axis=1)
    weighted = (w * y).sum(axis=1)
    w_sum = w.sum(axis=1)
    return {
        "direct_method": dm,
        "ipw": weighted / y.shape[1],
        "snipw": np.divide(weighted, w_sum, out=np.full(len(w_sum), np.nan), where=w_sum > 0),
        "doubly_robust": dm + (w * (y - policy.q_logged[index])).mean(axis=1),
    }


def estimate_value(policy: LoggedPolicy) -> dict[str, float]:
    """Point estimates of the policy's value (mean outcome) by every estimator."""
    index = np.arange(len(policy.outcome))[None, :]
    return {name: float(v[0]) for name, v in _estimates(policy, index).items()}


def bootstrap_index(n: int, samples: int, seed: int) -> np.ndarray:
    """(samples x n) seeded bootstrap resamples of n rows."""
    return np.random.default_rng(seed).integers(0, n, size=(samples, n))


def compare_policies(
    policies: Mapping[str, LoggedPolicy],
    baseline: str,
    *,
    samples: int = 200,
    seed: int = 0,
    level: float = 0.95,
) -> pd.DataFrame:
    """One row per policy x estimator: value, percentile bootstrap interval, and the relative
    lift over the ``baseline`` policy by the same estimator with its interval (the same
    resamples for every policy, so the lift interval is paired)."""
    n = len(next(iter(policies.values())).outcome)
    index = bootstrap_index(n, samples, seed)
    full = np.arange(n)[None, :]
    alpha = (1.0 - level) / 2.0
    point = {name: _estimates(p, full) for name, p in policies.items()}
    boot = {name: _estimates(p, index) for name, p in policies.items()}
    rows = []
    for name in policies:
        for estimator in ESTIMATORS:
            value = float(point[name][estimator][0])
            draws = boot[name][estimator]
            base_value = float(point[baseline][estimator][0])
            lift_draws = draws / boot[baseline][estimator] - 1.0
            rows.append(
                {
                    "policy": name,
                    "estimator": estimator,
                    "conversion_rate": value,
                    "ci_lower": float(np.nanquantile(draws, alpha)),
                    "ci_upper": float(np.nanquantile(draws, 1.0 - alpha)),
                    "relative_lift": value / base_value - 1.0 if name != baseline else np.nan,
                    "lift_ci_lower": (
                        float(np.nanquantile(lift_draws, alpha)) if name != baseline else np.nan
                    ),
                    "lift_ci_upper": (
                        float(np.nanquantile(lift_draws, 1.0 - alpha))
                        if name != baseline
                        else np.nan
                    ),
                }
            )
    return pd.DataFrame(rows)


def effective_sample_size(weights: np.ndarray) -> float:
    """Kish's effective sample size of importance weights, (sum w)^2 / sum w^2."""
    total = float(np.sum(weights**2))
    return float(np.sum(weights) ** 2 / total) if total > 0 else 0.0


# --------------------------------------------------------------------------------------------
# Propensities of the historical assignment
# --------------------------------------------------------------------------------------------


def covariate_matrix(
    frame: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str]
) -> np.ndarray:
    """Numeric columns (missing -> column median) and one-hot categoricals (missing its own
    level), unscaled."""
    parts = []
    for column in numeric:
        values = pd.to_numeric(frame[column], errors="coerce").astype(float)
        parts.append(values.fillna(values.median()).to_numpy()[:, None])
    for column in categorical:
        parts.append(pd.get_dummies(frame[column].astype(str), dtype=float).to_numpy())
    return np.hstack(parts) if parts else np.zeros((len(frame), 0))


def fit_propensities(
    covariates: np.ndarray,
    actions: np.ndarray,
    classes: Sequence[str],
    *,
    seed: int = 0,
    regularisation: float = 1.0,
) -> tuple[StandardScaler, LogisticRegression]:
    """A multinomial logistic regression of the action on (pre-treatment) covariates."""
    scaler = StandardScaler().fit(covariates)
    model = LogisticRegression(C=regularisation, max_iter=500, random_state=seed)
    known = np.isin(actions, np.asarray(classes, dtype=object))
    model.fit(scaler.transform(covariates[known]), actions[known])
    return scaler, model


def predict_propensities(
    scaler: StandardScaler,
    model: LogisticRegression,
    covariates: np.ndarray,
    classes: Sequence[str],
    floor: float = PROPENSITY_FLOOR,
) -> np.ndarray:
    """(rows x classes) estimated propensities in ``classes`` order, clipped below at ``floor``
    (a class the model never saw gets the floor)."""
    raw = model.predict_proba(scaler.transform(covariates))
    out = np.full((len(covariates), len(classes)), floor)
    position = {c: i for i, c in enumerate(model.classes_)}
    for j, cls in enumerate(classes):
        if cls in position:
            out[:, j] = np.maximum(raw[:, position[cls]], floor)
    return out


# --------------------------------------------------------------------------------------------
# The marketing recommendations, evaluated on the held-out test split
# --------------------------------------------------------------------------------------------

# Pre-treatment covariates of the historical assignment: who the customer is, not what the
# campaign did to them (no outcome, no engagement, no channel-derived feature).
PROPENSITY_NUMERIC = ("age", "income", "loyalty_points", "previous_purchases")
PROPENSITY_CATEGORICAL = ("gender", "age_group", "income_tier")
TRUTH_FILE = "_truth/customers_truth.parquet"


def load_truth(raw_dir: str | None) -> pd.DataFrame | None:
    """The generator's ground-truth sidecar of ``raw_dir``, or None when there is none (a user's
    own data): customer_id, p_realised, propensity_realised and one p__<channel>__<platform>
    column per combination."""
    if not raw_dir:
        return None
    path = Path(raw_dir) / TRUTH_FILE
    if not path.exists():
        return None
    truth = pd.read_parquet(path)
    keep = ["CustomerID", "p_realised", "propensity_realised"]
    keep += [c for c in truth.columns if c.startswith("p__")]
    truth = truth[keep].rename(columns={"CustomerID": "customer_id"})
    truth["customer_id"] = truth["customer_id"].astype(np.int64)
    return truth


def _true_probability(truth: pd.DataFrame, labels: np.ndarray) -> np.ndarray:
    """The true conversion probability of each row's 'channel + platform' combination."""
    columns = {c: i for i, c in enumerate(truth.columns)}
    matrix = truth.to_numpy()
    out = np.full(len(labels), np.nan)
    for j, label in enumerate(labels):
        column = "p__" + "__".join(str(label).split(" + ", 1))
        if column in columns:
            out[j] = float(matrix[j, columns[column]])
    return out


def evaluate_recommendations(
    features: pd.DataFrame,
    recommendations: pd.DataFrame,
    truth: pd.DataFrame | None = None,
    *,
    samples: int = 200,
    seed: int = 0,
    propensity_floor: float = PROPENSITY_FLOOR,
    level: float = 0.95,
) -> pd.DataFrame:
    """The value of the recommended policy vs the historical one on the TEST split (customers
    held out from training): one row per policy x estimator (observed, direct_method - the
    model's claim -, ipw, snipw, doubly_robust, and truth when the sidecar exists), with
    bootstrap intervals, the relative lift over historical, the bias against the truth and the
    overlap diagnostics. Propensities: a multinomial logit of 'channel + platform' on pre-treatment
    covariates fitted on training customers, clipped at ``propensity_floor``."""
    label = features["campaign_channel"].astype(str) + " + " + features["advertising_platform"]
    features = features.assign(_action=label.astype(str))
    train_rows = features[features["split"] == "train"]
    classes = sorted(train_rows["_action"].unique())
    recs = recommendations[recommendations["split"] == "test"]
    test = features[features["split"] == "test"].merge(
        recs[
            [
                "customer_id",
                "current_probability",
                "recommended_channel_platform",
                "recommended_probability",
                "is_recommendation_in_support",
            ]
        ],
        on="customer_id",
        how="inner",
    )
    if test.empty:
        raise ValueError("evaluate_recommendations: no test-split customer has a recommendation")
    numeric, categorical = list(PROPENSITY_NUMERIC), list(PROPENSITY_CATEGORICAL)
    both = pd.concat([train_rows, test], ignore_index=True)
    covariates = covariate_matrix(both, numeric, categorical)
    scaler, model = fit_propensities(
        covariates[: len(train_rows)],
        train_rows["_action"].to_numpy(dtype=object),
        classes,
        seed=seed,
    )
    e = predict_propensities(
        scaler, model, covariates[len(train_rows) :], classes, propensity_floor
    )
    position = pd.Index(classes)
    rows = np.arange(len(test))
    logged = position.get_indexer(test["_action"])
    recommended = position.get_indexer(test["recommended_channel_platform"])
    e_logged = np.where(logged >= 0, e[rows, np.maximum(logged, 0)], propensity_floor)
    e_recommended = np.where(
        recommended >= 0, e[rows, np.maximum(recommended, 0)], propensity_floor
    )

    y = test["conversion"].to_numpy(dtype=float)
    q_logged = test["current_probability"].to_numpy(dtype=float)
    q_recommended = test["recommended_probability"].to_numpy(dtype=float)
    matched = (test["_action"] == test["recommended_channel_platform"]).to_numpy()
    policies = {
        "historical": LoggedPolicy(y, e_logged, e_logged, q_logged, q_logged),
        "recommended": LoggedPolicy(y, matched.astype(float), e_logged, q_logged, q_recommended),
    }
    table = compare_policies(policies, "historical", samples=samples, seed=seed, level=level)

    index = bootstrap_index(len(y), samples, seed)
    alpha = (1.0 - level) / 2.0
    observed = y[index].mean(axis=1)
    extra = [
        {
            "policy": "historical",
            "estimator": "observed",
            "conversion_rate": float(y.mean()),
            "ci_lower": float(np.quantile(observed, alpha)),
            "ci_upper": float(np.quantile(observed, 1.0 - alpha)),
        }
    ]
    truth_rate: dict[str, float] = {}
    propensity_mae = propensity_corr = np.nan
    if truth is not None:
        joined = test[["customer_id"]].merge(truth, on="customer_id", how="left")
        truth_rate["historical"] = float(np.nanmean(joined["p_realised"].to_numpy(dtype=float)))
        p_rec = _true_probability(joined, test["recommended_channel_platform"].to_numpy())
        truth_rate["recommended"] = float(np.nanmean(p_rec))
        true_e = joined["propensity_realised"].to_numpy(dtype=float)
        propensity_mae = float(np.nanmean(np.abs(e_logged - true_e)))
        propensity_corr = float(pd.Series(e_logged).corr(pd.Series(true_e)))
        for name, rate in truth_rate.items():
            extra.append(
                {
                    "policy": name,
                    "estimator": "truth",
                    "conversion_rate": rate,
                    "relative_lift": (
                        rate / truth_rate["historical"] - 1.0 if name != "historical" else np.nan
                    ),
                }
            )
    table = pd.concat([pd.DataFrame(extra[:1]), table, pd.DataFrame(extra[1:])], ignore_index=True)

    n = len(test)
    weights = matched / e_logged
    table.insert(0, "evaluated_split", "test")
    table.insert(3, "customers", n)
    table["expected_conversions"] = table["conversion_rate"] * n
    table["is_model_claimed"] = table["estimator"] == "direct_method"
    table["has_truth"] = truth is not None
    table["true_conversion_rate"] = table["policy"].map(truth_rate).astype(float)
    table["bias_vs_truth"] = table["conversion_rate"] - table["true_conversion_rate"]
    table["matched_customers"] = int(matched.sum())
    table["min_propensity_logged"] = float(e_logged.min())
    table["min_propensity_recommended"] = float(e_recommended.min())
    table["effective_sample_size"] = effective_sample_size(weights)
    table["share_out_of_support"] = float(
        1.0 - test["is_recommendation_in_support"].astype(bool).mean()
    )
    table["propensity_floor"] = float(propensity_floor)
    table["propensity_mae_vs_truth"] = propensity_mae
    table["propensity_corr_vs_truth"] = propensity_corr
    table["bootstrap_samples"] = int(samples)
    order = ["observed", *ESTIMATORS, "truth"]
    table["estimator_order"] = table["estimator"].map({e: i for i, e in enumerate(order)})
    return table.sort_values(["policy", "estimator_order"], ignore_index=True)


def evaluate_marketing_policy(
    features: pd.DataFrame,
    recommendations: pd.DataFrame,
    raw_dir: str | None,
    **options: float,
) -> pd.DataFrame:
    """``evaluate_recommendations`` with the truth sidecar of ``raw_dir`` when it exists."""
    return evaluate_recommendations(features, recommendations, load_truth(raw_dir), **options)
