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

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

ESTIMATORS = ("direct_method", "ipw", "snipw", "doubly_robust")
PROPENSITY_FLOOR = 0.001  # estimated propensities are clipped below at this value
# The propensity logit is fitted on at most this many training customers (a seeded sample beyond
# it): its memory is ~ rows x classes x 3 float64 (49 classes: ~1.2 GB per million rows), so an
# uncapped fit at 5M customers needs ~6 GB; below the cap every training customer is used.
PROPENSITY_MAX_ROWS = 1_000_000


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
    del q_target
    wy = w * y
    weighted = wy.sum(axis=1)
    del wy
    w_sum = w.sum(axis=1)
    residual = (w * (y - policy.q_logged[index])).mean(axis=1)
    return {
        "direct_method": dm,
        "ipw": weighted / y.shape[1],
        "snipw": np.divide(weighted, w_sum, out=np.full(len(w_sum), np.nan), where=w_sum > 0),
        "doubly_robust": dm + residual,
    }


def estimate_value(policy: LoggedPolicy) -> dict[str, float]:
    """Point estimates of the policy's value (mean outcome) by every estimator."""
    index = np.arange(len(policy.outcome))[None, :]
    return {name: float(v[0]) for name, v in _estimates(policy, index).items()}


BOOTSTRAP_BLOCK_CELLS = 4_000_000  # resampled rows held at once (replicates per block x n)


def bootstrap_index(n: int, samples: int, seed: int) -> np.ndarray:
    """(samples x n) seeded bootstrap resamples of n rows (all at once: small n only; see
    ``bootstrap_blocks``)."""
    return np.random.default_rng(seed).integers(0, n, size=(samples, n))


def bootstrap_blocks(
    n: int, samples: int, seed: int, block_cells: int = BOOTSTRAP_BLOCK_CELLS
) -> Iterator[np.ndarray]:
    """``bootstrap_index(n, samples, seed)`` in consecutive blocks of replicates (about
    ``block_cells`` indices each, at least one replicate): the same generator drawn block after
    block gives the same numbers, so stacking the blocks equals ``bootstrap_index`` exactly while
    memory stays bounded by the block, not by samples x n."""
    rng = np.random.default_rng(seed)
    per_block = max(1, block_cells // max(n, 1))
    for start in range(0, samples, per_block):
        yield rng.integers(0, n, size=(min(per_block, samples - start), n))


def bootstrap_statistics(
    n: int,
    samples: int,
    seed: int,
    statistics: Callable[[np.ndarray], Mapping[str, np.ndarray]],
    block_cells: int = BOOTSTRAP_BLOCK_CELLS,
) -> dict[str, np.ndarray]:
    """``statistics`` (index block -> one value per replicate, by name) over the resamples of
    ``bootstrap_index(n, samples, seed)``, computed block by block: each name's ``samples``
    values, equal to computing them on the whole index at once (every statistic is per row of
    the index)."""
    parts: dict[str, list[np.ndarray]] = {}
    for index in bootstrap_blocks(n, samples, seed, block_cells):
        for name, values in statistics(index).items():
            parts.setdefault(name, []).append(np.asarray(values))
    return {name: np.concatenate(values) for name, values in parts.items()}


def compare_policies(
    policies: Mapping[str, LoggedPolicy],
    baseline: str,
    *,
    samples: int = 200,
    seed: int = 0,
    level: float = 0.95,
    block_cells: int = BOOTSTRAP_BLOCK_CELLS,
) -> pd.DataFrame:
    """One row per policy x estimator: value, percentile bootstrap interval, and the relative
    lift over the ``baseline`` policy by the same estimator with its interval (the same
    resamples for every policy, so the lift interval is paired). The resamples are drawn and
    used ``block_cells`` indices at a time (``bootstrap_statistics``): bounded memory, the same
    numbers as one (samples x n) index."""
    n = len(next(iter(policies.values())).outcome)
    full = np.arange(n)[None, :]
    alpha = (1.0 - level) / 2.0
    point = {name: _estimates(p, full) for name, p in policies.items()}

    def statistics(index: np.ndarray) -> dict[str, np.ndarray]:
        return {
            f"{name}\t{estimator}": values
            for name, p in policies.items()
            for estimator, values in _estimates(p, index).items()
        }

    draws_of = bootstrap_statistics(n, samples, seed, statistics, block_cells)
    boot = {
        name: {estimator: draws_of[f"{name}\t{estimator}"] for estimator in ESTIMATORS}
        for name in policies
    }
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
# The columns evaluate_recommendations reads (the dbt model reads only these).
FEATURE_COLUMNS = (
    "customer_id",
    "split",
    "campaign_channel",
    "advertising_platform",
    "conversion",
    *PROPENSITY_NUMERIC,
    *PROPENSITY_CATEGORICAL,
)
RECOMMENDATION_COLUMNS = (
    "customer_id",
    "split",
    "current_probability",
    "recommended_channel_platform",
    "recommended_probability",
    "is_recommendation_in_support",
)


def load_truth(raw_dir: str | None) -> pd.DataFrame | None:
    """The generator's ground-truth sidecar of ``raw_dir``, or None when there is none (a user's
    own data): customer_id, p_realised, propensity_realised and one p__<channel>__<platform>
    column per combination."""
    path = truth_file(raw_dir)
    if path is None:
        return None
    truth = pd.read_parquet(path)
    keep = ["CustomerID", "p_realised", "propensity_realised"]
    keep += [c for c in truth.columns if c.startswith("p__")]
    truth = truth[keep].rename(columns={"CustomerID": "customer_id"})
    truth["customer_id"] = truth["customer_id"].astype(np.int64)
    return truth


def truth_file(raw_dir: str | None) -> Path | None:
    """The path of ``raw_dir``'s ground-truth sidecar, or None when there is none."""
    if not raw_dir:
        return None
    path = Path(raw_dir) / TRUTH_FILE
    return path if path.exists() else None


def truth_values(
    truth: pd.DataFrame | str | Path,
    customer_id: pd.Series | np.ndarray,
    wanted: Mapping[str, tuple[np.ndarray, Sequence[str]]],
) -> dict[str, np.ndarray]:
    """Per customer, a value picked from a sidecar column that may differ row by row.

    ``truth``: a frame as ``load_truth`` gives it, or the sidecar's path (then only the columns
    asked for are read, one at a time: memory is a few arrays of len(customer_id), not the
    whole sidecar). ``wanted`` maps an output name to (codes, names): row i takes column
    ``names[codes[i]]`` (code -1, a column the sidecar lacks, or a customer it lacks: NaN).
    """
    if isinstance(truth, pd.DataFrame):
        available = set(truth.columns)

        def column(name: str) -> np.ndarray:
            return truth[name].to_numpy()
    else:
        import pyarrow.parquet as pq

        available = {"customer_id" if c == "CustomerID" else c for c in pq.read_schema(truth).names}

        def column(name: str) -> np.ndarray:
            source = "CustomerID" if name == "customer_id" else name
            return pq.read_table(truth, columns=[source]).column(0).to_numpy()

    ids = pd.Index(column("customer_id").astype(np.int64))
    row = ids.get_indexer(np.asarray(customer_id, dtype=np.int64))  # -1: not in the sidecar
    out = {}
    for output, (codes, names) in wanted.items():
        values = np.full(len(row), np.nan)
        codes = np.asarray(codes)
        for j, name in enumerate(names):
            if name not in available:
                continue
            take = np.flatnonzero((codes == j) & (row >= 0))
            if len(take):
                values[take] = column(name)[row[take]].astype(np.float64)
        out[output] = values
    return out


def evaluate_recommendations(
    features: pd.DataFrame,
    recommendations: pd.DataFrame,
    truth: pd.DataFrame | str | Path | None = None,
    *,
    samples: int = 200,
    seed: int = 0,
    propensity_floor: float = PROPENSITY_FLOOR,
    level: float = 0.95,
    propensity_max_rows: int | None = PROPENSITY_MAX_ROWS,
) -> pd.DataFrame:
    """The value of the recommended policy vs the historical one on the TEST split (customers
    held out from training): one row per policy x estimator (observed, direct_method - the
    model's claim -, ipw, snipw, doubly_robust, and truth when the sidecar exists), with
    bootstrap intervals, the relative lift over historical, the bias against the truth and the
    overlap diagnostics. Propensities: a multinomial logit of 'channel + platform' on pre-treatment
    covariates fitted on training customers (a seeded sample of ``propensity_max_rows`` of them
    when there are more; None: all), clipped at ``propensity_floor``."""
    features = features[[c for c in FEATURE_COLUMNS if c in features.columns]]
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
    fit_rows: slice | np.ndarray = slice(0, len(train_rows))
    if propensity_max_rows is not None and len(train_rows) > propensity_max_rows:
        rng = np.random.default_rng(seed)
        fit_rows = np.sort(rng.choice(len(train_rows), int(propensity_max_rows), replace=False))
    scaler, model = fit_propensities(
        covariates[fit_rows],
        train_rows["_action"].to_numpy(dtype=object)[fit_rows],
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

    alpha = (1.0 - level) / 2.0
    observed = bootstrap_statistics(
        len(y), samples, seed, lambda index: {"observed": y[index].mean(axis=1)}
    )["observed"]
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
        codes, uniques = pd.factorize(test["recommended_channel_platform"].astype(str))
        every_row = (np.zeros(len(test), dtype=np.int64), ["p_realised"])
        values = truth_values(
            truth,
            test["customer_id"],
            {
                "p_realised": every_row,
                "propensity_realised": (every_row[0], ["propensity_realised"]),
                "p_recommended": (
                    codes,
                    ["p__" + "__".join(str(label).split(" + ", 1)) for label in uniques],
                ),
            },
        )
        truth_rate["historical"] = float(np.nanmean(values["p_realised"]))
        truth_rate["recommended"] = float(np.nanmean(values["p_recommended"]))
        true_e = values["propensity_realised"]
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
    """``evaluate_recommendations`` with the truth sidecar of ``raw_dir`` when it exists (read
    column by column, only the test customers' values kept)."""
    return evaluate_recommendations(features, recommendations, truth_file(raw_dir), **options)
