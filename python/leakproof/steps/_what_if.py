"""The what-if steps: recommendations over the declared treatments and the policy evaluation of
each what-if use case, with the sidecar truth where the data has one."""

from typing import Any

import numpy as np
import pandas as pd

from leakproof import artifacts, whatif
from leakproof.declarations import Declaration
from leakproof.steps._session import (
    Reader,
    UseCaseTables,
)

RECOMMENDATION_SCHEMA = {
    **dict.fromkeys(["use_case", "model_id", "entity_key", "split", "current_arm"], "string"),
    "current_probability": "float64",
    "recommended_arm": "string",
    **dict.fromkeys(["recommended_probability", "absolute_lift", "relative_lift"], "float64"),
    "runner_up_arm": "string",
    "runner_up_probability": "float64",
    "is_recommendation_current": "bool",
    "recommendation_support_rows": "int64",
    **dict.fromkeys(
        ["is_recommendation_in_support", "is_current_in_support", "has_in_support_arm"], "bool"
    ),
    "arms_considered": "int64",
    "treatments": "string",
    "min_support_rows": "int64",
    **dict.fromkeys(["is_in_support_only", "is_model_claimed", "has_truth"], "bool"),
    **dict.fromkeys(["true_current_probability", "true_recommended_probability"], "float64"),
}
POLICY_SCHEMA = {
    **dict.fromkeys(
        ["use_case", "evaluated_split", "policy", "policy_kind", "arm", "estimator"], "string"
    ),
    "rows_evaluated": "int64",
    **dict.fromkeys(["status", "reason"], "string"),
    **dict.fromkeys(
        [
            "positive_rate",
            "std_error",
            "ci_lower",
            "ci_upper",
            "family_ci_lower",
            "family_ci_upper",
            "relative_lift",
            "lift_ci_lower",
            "lift_ci_upper",
        ],
        "float64",
    ),
    "lift_note": "string",
    "expected_positives": "float64",
    **dict.fromkeys(["is_headline", "is_model_claimed", "has_truth"], "bool"),
    **dict.fromkeys(["true_positive_rate", "bias_vs_truth"], "float64"),
    "is_truth_covered": "boolean",
    **dict.fromkeys(
        [
            "effective_sample_size",
            "effective_positives",
            "overlap",
            "matched_rows",
            "min_propensity_chosen",
            "share_weights_clipped",
            "clipping_shift",
            "share_out_of_support",
        ],
        "float64",
    ),
    "propensity_source": "string",
    **dict.fromkeys(
        ["propensity_mae_vs_truth", "propensity_corr_vs_truth", "outcome_brier"], "float64"
    ),
    "cross_fit_folds": "int64",
    **dict.fromkeys(
        ["min_propensity", "min_overlap", "min_ess", "min_effective_positives"], "float64"
    ),
    "estimator_order": "int64",
}


def empty_frame(schema: dict[str, str]) -> pd.DataFrame:
    """A frame with no rows and the columns and types of `schema`."""
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in schema.items()})


def what_if_inputs(
    tables: UseCaseTables, bundle: Any
) -> tuple[list[whatif.PerArmFeature], list[str]]:
    """The per-arm features of a what-if use case, and the feature-table columns it reads."""
    declaration = tables.declaration
    what_if = declaration.what_if
    assert what_if is not None
    grouped = {n: (r["by"], False) for n, r in declaration.aggregates.items()}
    grouped |= {n: (r["by"], True) for n, r in declaration.target_encodings.items()}
    derived = {name: sql for name, (sql, _) in declaration.derived.items()}
    per_arm = whatif.arm_dependent_features(
        what_if.treatments, derived, grouped, bundle.spec.features
    )
    columns = [
        "entity_key",
        "split",
        *what_if.treatments,
        *what_if.follows,
        *what_if.support_segments,
        *(f.name for f in per_arm),
        *bundle.spec.features,
    ]
    return per_arm, list(dict.fromkeys(columns))


def recommendations(
    read: Reader,
    use_cases: list[UseCaseTables],
    registry: pd.DataFrame,
    raw_dir: str | None,
) -> pd.DataFrame:
    """Every row of every what-if use case scored under every arm by its primary model: the
    current arm, the recommended one and the runner-up, the lift the model claims and whether the
    recommendation is in support - plus, for evaluation only, the TRUE probabilities from the
    generator's sidecar when there is one (never used to choose)."""
    frames = []
    for tables in use_cases:
        what_if = tables.declaration.what_if
        if what_if is None:
            continue
        rows = registry[(registry["use_case"] == tables.name) & (registry["role"] == "primary")]
        bundle = artifacts.load_registered(rows)
        per_arm, columns = what_if_inputs(tables, bundle)
        features = read(tables.features, columns, order_by="entity_key, split")
        space = whatif.arm_space(features, what_if.treatments, per_arm, what_if.follows)
        frames.append(recommendation_rows(features, space, tables, bundle, raw_dir))
        del features
    return pd.concat(frames, ignore_index=True) if frames else empty_frame(RECOMMENDATION_SCHEMA)


def recommendation_rows(
    features: pd.DataFrame,
    space: whatif.ArmSpace,
    tables: UseCaseTables,
    bundle: Any,
    raw_dir: str | None,
    support: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The ml_recommendations rows of `features` (rows of a what-if use case's feature table):
    whatif.recommend over the declared settings, the model, and the sidecar truth (evaluation
    only). Row by row given `support` (whatif.segment_support of every row; computed from
    `features` when None), so any slice of the rows (a Spark partition) gets the same values."""
    what_if = tables.declaration.what_if
    assert what_if is not None
    out = whatif.recommend(
        features,
        space,
        bundle=bundle,
        segment_columns=what_if.support_segments,
        min_support=what_if.min_support,
        in_support_only=what_if.in_support_only,
        support=support,
    )
    out.insert(0, "model_id", bundle.model_id)
    out.insert(0, "use_case", tables.name)
    out["treatments"] = whatif.ARM_SEPARATOR.join(what_if.treatments)
    out["min_support_rows"] = int(what_if.min_support)
    out["is_in_support_only"] = bool(what_if.in_support_only)
    out["is_model_claimed"] = True
    return _with_truth(out, tables, raw_dir)


def _with_truth(out: pd.DataFrame, tables: UseCaseTables, raw_dir: str | None) -> pd.DataFrame:
    source = whatif.truth_source(tables.declaration, raw_dir)
    out["has_truth"] = source is not None and bool(source.arm_probability)
    out["true_current_probability"] = np.nan
    out["true_recommended_probability"] = np.nan
    if source is None or not source.arm_probability:
        return out
    treatments = tables.declaration.what_if.treatments  # type: ignore[union-attr]
    wanted = {
        f"true_{side}_probability": whatif.arm_codes(source, treatments, out[f"{side}_arm"])
        for side in ("current", "recommended")
    }
    for column, values in whatif.truth_values(source, out["entity_key"], wanted).items():
        out[column] = values
    return out


def policy_evaluations(
    read: Reader,
    use_cases: list[UseCaseTables],
    recommendations: pd.DataFrame,
    raw_dir: str | None,
    **options: Any,
) -> pd.DataFrame:
    """The recommended vs the historical policy of every what-if use case (whatif.evaluate_policy),
    stacked."""
    frames = []
    for tables in use_cases:
        declaration, what_if = tables.declaration, tables.declaration.what_if
        if what_if is None:
            continue
        numeric, categorical = _covariates(declaration)
        columns = [
            "entity_key",
            "split",
            declaration.target,
            *what_if.treatments,
            *numeric,
            *categorical,
        ]
        features = read(tables.features, list(dict.fromkeys(columns)), "split in ('train', 'test')")
        recs = recommendations[recommendations["use_case"] == tables.name]
        table = whatif.evaluate_policy(
            features,
            recs,
            target=declaration.target,
            treatments=what_if.treatments,
            numeric_covariates=numeric,
            categorical_covariates=categorical,
            known_probabilities=what_if.known_probabilities,
            truth=whatif.truth_source(declaration, raw_dir),
            **options,
        )
        table.insert(0, "use_case", tables.name)
        frames.append(table)
    if not frames:
        return empty_frame(POLICY_SCHEMA)
    out = pd.concat(frames, ignore_index=True)
    return out[list(POLICY_SCHEMA)].astype(POLICY_SCHEMA)


def _covariates(declaration: Declaration) -> tuple[list[str], list[str]]:
    """The pre-treatment covariates of a use case's historical assignment: what_if.covariates when
    declared, else every declared feature column but the treatments and the columns they decide."""
    what_if = declaration.what_if
    assert what_if is not None
    names = list(what_if.covariates) or [
        c
        for c in declaration.raw_features
        if c not in what_if.treatments and c not in what_if.follows
    ]
    numeric_types = {"integer", "bigint", "double"}
    numeric, categorical = [], []
    for name in names:
        try:
            column = declaration.column(name.removesuffix("_capped"))
            is_numeric = column.data_type in numeric_types
        except KeyError:  # a segment or a derived feature: bands and flags are categories
            is_numeric = False
        (numeric if is_numeric else categorical).append(name)
    return numeric, categorical


# ---- the leakage audit ----------------------------------------------------------------------
