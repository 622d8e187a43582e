"""Explain trained models: per-feature contributions, reason codes, importance, coefficients.

Contributions are additive on the model's raw (uncalibrated) logit, per *original* feature::

    base_value + sum of a row's feature contributions == raw logit of that row

- XGBoost: XGBoost's own TreeSHAP (``pred_contribs=True``); the one-hot columns of a categorical
  are summed back to their feature, so a reason reads ``campaign_channel=Referral``. XGBoost
  computes margins and SHAP values in float32, so the identity holds to float32 rounding: within
  1e-6 of the size of the terms (a few 1e-6 absolute at worst), not to float64 precision.
- Logistic: coefficient x standardized (imputed, scaled) value for a numeric; for a categorical,
  the coefficient of the row's category (0 for the reference category dropped by
  ``drop='first'``). The base value is the intercept. Exact in float64.

Functions take a fitted ``leakproof.train.ModelBundle`` (duck-typed: ``columns``, ``spec``,
``estimator``, ``booster``, ``design_matrix``, ``margin``, ``family``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import xgboost
from joblib import Parallel, delayed

from leakproof._text import string_array

# A fitted model bundle (``leakproof.train.ModelBundle``), duck-typed: this module never imports
# ``leakproof.train`` (training imports it for reason codes and importance).
ModelBundle = Any

MISSING_TEXT = "(missing)"
CONTRIBUTION_CHUNK_ROWS = 65_536
COEFFICIENT_COLUMNS = (
    "model_id",
    "use_case",
    "term",
    "feature",
    "category",
    "reference_category",
    "coefficient",
    "abs_coefficient",
    "odds_ratio",
    "rank",
)


def design_contributions(bundle: ModelBundle, design: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Contributions per design-matrix column (rows x columns) and the base value per row.

    XGBoost's TreeSHAP runs on chunks of rows spread over ``spec.n_jobs`` threads (each row's
    values do not depend on the chunk it is in).
    """
    if bundle.family == "xgboost":
        booster = bundle.booster

        def shap(rows: np.ndarray) -> np.ndarray:
            matrix = xgboost.DMatrix(rows, nthread=1)
            return booster.predict(matrix, pred_contribs=True, validate_features=False)

        chunk = min(CONTRIBUTION_CHUNK_ROWS, max(1, -(-len(design) // bundle.spec.n_jobs)))
        blocks = [design[start : start + chunk] for start in range(0, len(design), chunk)]
        if len(blocks) > 1:
            parts = Parallel(n_jobs=bundle.spec.n_jobs, backend="threading")(
                delayed(shap)(block) for block in blocks
            )
        else:
            parts = [shap(block) for block in blocks]
        width = design.shape[1] + 1
        contributions = np.vstack(parts) if parts else np.zeros((0, width), dtype=np.float32)
        contributions = contributions.astype(np.float64)
        # Copy the base column: a view would keep the whole (rows x columns) matrix alive.
        return contributions[:, :-1], contributions[:, -1].copy()
    estimator = bundle.estimator
    contributions = design * estimator.coef_[0][None, :]
    base = np.full(len(design), float(estimator.intercept_[0]))
    return contributions, base


def _feature_columns(bundle: ModelBundle) -> list[np.ndarray]:
    """For each original feature, the design-matrix columns it owns (possibly none)."""
    owners = np.array([feature for feature, _ in bundle.columns], dtype=object)
    return [np.flatnonzero(owners == feature) for feature in bundle.spec.features]


def feature_contributions_from_design(
    bundle: ModelBundle, design: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Contributions per original feature (rows x ``spec.features``) and the base value."""
    contributions, base = design_contributions(bundle, design)
    out = np.zeros((len(design), len(bundle.spec.features)))
    for j, columns in enumerate(_feature_columns(bundle)):
        if len(columns):
            out[:, j] = contributions[:, columns].sum(axis=1)
    return out, base


def feature_contributions(bundle: ModelBundle, frame: pd.DataFrame) -> pd.DataFrame:
    """One column per feature, plus ``base_value`` and the model's ``raw_logit``, per row."""
    design = bundle.design_matrix(frame)
    contributions, base = feature_contributions_from_design(bundle, design)
    out = pd.DataFrame(contributions, columns=list(bundle.spec.features), index=frame.index)
    out["base_value"] = base
    out["raw_logit"] = bundle.margin(design)
    return out


def _value_text(bundle: ModelBundle, frame: pd.DataFrame, feature: str) -> pa.Array:
    """How a feature's value is written in a reason code (numbers rounded to 4 decimals)."""

    series = frame[feature]
    if feature in bundle.spec.numeric_features:
        numbers = pd.to_numeric(series, errors="coerce").to_numpy(np.float64, na_value=np.nan)
        array = pa.array(np.round(numbers, 4), from_pandas=True).cast(pa.large_string())
    else:
        array = string_array(series)
    return pc.fill_null(array, MISSING_TEXT)


def reason_codes_from_contributions(
    bundle: ModelBundle, frame: pd.DataFrame, contributions: np.ndarray, n: int = 3
) -> pd.DataFrame:
    """The ``n`` features pushing each row's score up the most (positive contributions only).

    Columns ``reason_<k>`` (e.g. ``campaign_channel=Referral``), ``reason_<k>_feature`` and
    ``reason_<k>_contribution`` (log-odds); null where a row has fewer than k positive
    contributions. Ties go to the earlier feature in the spec. The text columns are built in
    Arrow (no Python string per row), so millions of rows stay compact.
    """
    features = bundle.spec.features
    rows = len(contributions)
    k = min(n, len(features))
    order = np.argsort(-contributions, axis=1, kind="stable")[:, :k]
    values = np.take_along_axis(contributions, order, axis=1)
    names = pa.array(list(features), type=pa.large_string())
    texts: dict[int, pa.Array] = {}
    empty = pa.nulls(rows, type=pa.large_string())
    out: dict[str, Any] = {}
    for rank in range(n):
        label = feature = empty
        amount = np.full(rows, np.nan)
        if rank < k and rows:
            positive = values[:, rank] > 0
            chosen = order[:, rank]
            used = np.unique(chosen[positive])
            for index in used:
                if index not in texts:
                    texts[int(index)] = _value_text(bundle, frame, features[index])
            if len(used):
                slot = np.searchsorted(used, chosen).clip(0, len(used) - 1).astype(np.int32)
                value_text = pc.choose(pa.array(slot), *(texts[int(i)] for i in used))
                mask = pa.array(~positive)
                feature = pc.if_else(mask, empty, pc.take(names, pa.array(chosen)))
                label = pc.binary_join_element_wise(
                    feature, value_text, pa.scalar("=", type=pa.large_string())
                )
            amount[positive] = values[positive, rank]
        out[f"reason_{rank + 1}"] = pd.array(label, dtype="str")
        out[f"reason_{rank + 1}_feature"] = pd.array(feature, dtype="str")
        out[f"reason_{rank + 1}_contribution"] = amount
    return pd.DataFrame(out, index=frame.index)


def reason_codes(bundle: ModelBundle, frame: pd.DataFrame, n: int | None = None) -> pd.DataFrame:
    """Reason codes for each row of ``frame`` (see ``reason_codes_from_contributions``)."""
    design = bundle.design_matrix(frame)
    contributions, base = feature_contributions_from_design(bundle, design)
    out = reason_codes_from_contributions(
        bundle, frame, contributions, n=n or bundle.spec.n_reason_codes
    )
    out.insert(0, "base_value", base)
    return out


def feature_importance(
    bundle: ModelBundle, frame: pd.DataFrame, *, contributions: np.ndarray | None = None
) -> pd.DataFrame:
    """Per original feature: mean |SHAP| on ``frame`` and, for XGBoost, split gain.

    ``mean_abs_shap`` is the mean absolute contribution (log-odds) over the rows of ``frame`` (the
    training rows, when called by ``train``); for the logistic model it is the mean absolute
    coefficient x standardized value. ``total_gain`` sums XGBoost's split gain over a feature's
    one-hot columns, ``gain`` is the average gain per split; both are null for the logistic model.
    ``contributions`` (rows of ``frame`` x features), when already computed, saves a SHAP pass.
    """
    features = list(bundle.spec.features)
    if contributions is None:
        contributions, _ = feature_contributions_from_design(bundle, bundle.design_matrix(frame))
    mean_abs = np.abs(contributions).mean(axis=0) if len(frame) else np.full(len(features), np.nan)
    total_gain = np.full(len(features), np.nan)
    gain = np.full(len(features), np.nan)
    if bundle.family == "xgboost":
        booster = bundle.booster
        gains = booster.get_score(importance_type="total_gain")
        splits = booster.get_score(importance_type="weight")
        owners = {name: j for j, name in enumerate(features)}
        total_gain[:] = 0.0
        split_count = np.zeros(len(features))
        for key, value in gains.items():
            owner = owners[bundle.columns[int(key.lstrip("f"))][0]]
            total_gain[owner] += value
            split_count[owner] += splits.get(key, 0.0)
        gain = np.divide(
            total_gain, split_count, out=np.zeros(len(features)), where=split_count > 0
        )
    out = pd.DataFrame(
        {
            "model_id": bundle.model_id,
            "use_case": bundle.use_case,
            "algorithm": bundle.algorithm,
            "feature": features,
            "feature_type": [
                "numeric" if f in bundle.spec.numeric_features else "categorical" for f in features
            ],
            "mean_abs_shap": mean_abs,
            "total_gain": total_gain,
            "gain": gain,
        }
    )
    gain_total = np.nansum(total_gain)
    out["gain_share"] = total_gain / gain_total if gain_total > 0 else np.nan
    out["shap_rank"] = _rank(out["mean_abs_shap"], out["feature"])
    out["gain_rank"] = _rank(out["total_gain"], out["feature"])
    return out


def _rank(values: pd.Series, names: pd.Series) -> pd.Series:
    """1 = largest value; ties by name; null where the value is null."""
    order = pd.DataFrame({"v": -values, "n": names}).sort_values(["v", "n"], kind="mergesort")
    ranks = pd.Series(pd.NA, index=values.index, dtype="Int64")
    present = order.index[order["v"].notna()]
    ranks.loc[present] = np.arange(1, len(present) + 1)
    return ranks


def empty_coefficients() -> pd.DataFrame:
    """The coefficients table with no rows (a use case without a logistic model)."""
    return pd.DataFrame({c: pd.Series(dtype="object") for c in COEFFICIENT_COLUMNS})


def coefficients(bundle: ModelBundle) -> pd.DataFrame:
    """Logistic coefficients ranked by |coefficient| (the B2B document's table).

    Numeric coefficients are per standard deviation (the pipeline scales them); a categorical's
    coefficient is relative to its ``reference_category`` (the level dropped by drop='first').
    The intercept is the last row, unranked.
    """
    if bundle.family != "logistic":
        raise ValueError(f"coefficients exist for the logistic model, not {bundle.family!r}")
    estimator = bundle.estimator
    encoder = bundle.encoder
    references = {}
    for i, feature in enumerate(encoder.categorical_features):
        dropped = encoder.categories[i][encoder.output_index[i] < 0]
        references[feature] = str(dropped[0]) if len(dropped) else None
    rows = []
    for (feature, category), value in zip(bundle.columns, estimator.coef_[0], strict=True):
        rows.append(
            {
                "term": feature if category is None else f"{feature}={category}",
                "feature": feature,
                "category": category,
                "reference_category": references.get(feature),
                "coefficient": float(value),
            }
        )
    table = pd.DataFrame(
        rows, columns=["term", "feature", "category", "reference_category", "coefficient"]
    )
    table["abs_coefficient"] = table["coefficient"].abs()
    table = table.sort_values(
        ["abs_coefficient", "term"], ascending=[False, True], kind="mergesort"
    ).reset_index(drop=True)
    table["rank"] = pd.array(np.arange(1, len(table) + 1), dtype="Int64")
    intercept = pd.DataFrame(
        [
            {
                "term": "(intercept)",
                "feature": None,
                "category": None,
                "reference_category": None,
                "coefficient": float(estimator.intercept_[0]),
                "abs_coefficient": abs(float(estimator.intercept_[0])),
                "rank": pd.NA,
            }
        ]
    )
    table = pd.concat([table, intercept], ignore_index=True)
    table["rank"] = table["rank"].astype("Int64")
    table["odds_ratio"] = np.exp(table["coefficient"])
    table.insert(0, "use_case", bundle.use_case)
    table.insert(0, "model_id", bundle.model_id)
    return table[list(COEFFICIENT_COLUMNS)]
