"""The pipeline steps the shared dbt Python models call (and the Spark job, on the spark target):
one function per step, each looping over the turned-on use cases.

A shared model reads `ml_use_cases` (one row per use case: its declaration file and the relation
names of its tables) and each use case's tables through a `Reader` - a function from a relation
name, optional columns and an optional filter to a pandas frame - so the steps do not depend on
the engine. `duckdb_reader(session)` is the one dbt-duckdb's Python models use.

Only the columns the leakage guard approved (`ml_feature_lineage`: status clean or allowed, role
feature) are ever given to a model.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leakproof import artifacts, audit, drift, train, whatif
from leakproof.declarations import Declaration, load
from leakproof.exceptions import LeakproofError

APPROVED_STATUSES = ("clean", "allowed")
# Not features in any feature table: the key, the split and fold (the target and ids come from
# the declaration).
FEATURE_TABLE_KEYS = ("entity_key", "split", "cv_fold")

Reader = Callable[..., pd.DataFrame]

# dbt runs two threads, so SQL models and tests overlap the Python models. Two Python models that
# each hold a whole feature table at once would add up, though: scores and recommendations side by
# side took the 5M-customer build to 13.4 GB (issue 9). Every Python model that reads a feature
# table whole takes its turn under this lock; the others (and all SQL) run alongside.
_LARGE_MODEL_TURN = threading.Lock()
# When set, each turn appends {"model", "waited_seconds"} to this file (JSON lines): the benchmark
# subtracts the wait from the node's time, which dbt reports including it.
TURNS_LOG_ENV = "LEAKPROOF_TURNS_LOG"


@contextmanager
def one_large_model_at_a_time(model: str) -> Iterator[None]:
    """Hold the process-wide turn of the large Python models (dbt runs them in one process);
    ``model`` names the waiting model (``dbt.this.identifier``) in the turns log."""
    started = time.perf_counter()
    with _LARGE_MODEL_TURN:
        log = os.environ.get(TURNS_LOG_ENV)
        if log:
            waited = time.perf_counter() - started
            with open(log, "a") as handle:
                handle.write(json.dumps({"model": model, "waited_seconds": waited}) + "\n")
        yield


def duckdb_reader(session: Any) -> Reader:
    """A Reader over a DuckDB connection: filter and projection run in DuckDB, the result
    arrives as Arrow (then pandas)."""

    def read(
        relation: str,
        columns: Sequence[str] | None = None,
        where: str | None = None,
        order_by: str | None = None,
    ) -> pd.DataFrame:
        select = ", ".join(f'"{c}"' for c in columns) if columns else "*"
        sql = f"select {select} from {relation}" + (f" where {where}" if where else "")
        sql += f" order by {order_by}" if order_by else ""
        return session.sql(sql).to_arrow_table().to_pandas()

    return read


def as_bool(value: Any) -> bool:
    """A dbt config value (bool, or its text after Jinja rendering) as a bool."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def resolve(path: str | Path) -> str:
    """A path as an absolute path (dbt runs from the project directory)."""
    return str(Path(path).resolve())


@dataclass(frozen=True)
class UseCaseTables:
    """One turned-on use case: its declaration and the relations of its tables."""

    declaration: Declaration
    features: str
    prepared: str

    @property
    def name(self) -> str:
        return self.declaration.name


def use_case_tables(use_cases: pd.DataFrame, project_dir: str | Path) -> list[UseCaseTables]:
    """The rows of `ml_use_cases` with their declarations loaded, in use-case order."""
    tables = []
    for row in use_cases.sort_values("use_case").itertuples(index=False):
        declaration = load(Path(project_dir) / str(row.declaration))
        tables.append(
            UseCaseTables(declaration, str(row.feature_relation), str(row.prepared_relation))
        )
    return tables


# ---- training and scoring ----------------------------------------------------------------------


def approved_features(lineage: pd.DataFrame, feature_table: str) -> list[str]:
    """Feature columns of `feature_table` whose every lineage row the guard approved."""
    rows = lineage[(lineage["model"] == feature_table) & (lineage["feature_role"] == "feature")]
    if rows.empty:
        raise LeakproofError(
            f"the leakage guard has no lineage for {feature_table}; nothing to train"
        )
    verdict = rows.groupby("feature")["status"].agg(lambda s: bool(s.isin(APPROVED_STATUSES).all()))
    rejected = sorted(verdict.index[~verdict])
    if rejected:
        raise LeakproofError(f"{feature_table}: the leakage guard rejected {', '.join(rejected)}")
    return sorted(verdict.index)


def model_spec(
    declaration: Declaration,
    features: pd.DataFrame,
    approved: list[str],
    artifact_dir: str,
) -> train.ModelSpec:
    """The ModelSpec of a use case: the approved features split by type, plus the declaration's
    `model` keys (any ModelSpec field: primary_family, seed, imbalance_treatments, ...)."""
    categorical = [c for c in approved if _is_categorical(features[c])]
    numeric = [c for c in approved if c not in categorical]
    return train.ModelSpec.from_dict(
        {
            **dict(declaration.model),
            "use_case": declaration.name,
            "id_columns": ("entity_key",),
            "target": declaration.target,
            "numeric_features": tuple(numeric),
            "categorical_features": tuple(categorical),
            "cv_fold_column": "cv_fold",
            "cv_group_column": declaration.split.fold_group,
            "artifact_dir": artifact_dir,
        }
    )


def _is_categorical(values: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values))


def trained_models(
    read: Reader,
    use_cases: list[UseCaseTables],
    lineage: pd.DataFrame,
    artifact_dir: str,
    retrain: bool,
) -> pd.DataFrame:
    """The registry rows of every use case: train and register its models (`retrain`), or read
    the ones registered by the last training run (verified by sha256 when they are loaded)."""
    frames = []
    for tables in use_cases:
        if not retrain:
            frames.append(artifacts.read_current(artifact_dir, tables.name))
            continue
        approved = approved_features(lineage, tables.declaration.feature_table)
        keys = [*FEATURE_TABLE_KEYS, tables.declaration.target]
        group = tables.declaration.split.fold_group
        columns = list(dict.fromkeys([*keys, *([group] if group else []), *approved]))
        # ordered by key: a fit must not depend on the order the engine returns rows in
        features = read(tables.features, columns, "split in ('train', 'test')", "entity_key")
        spec = model_spec(tables.declaration, features, approved, artifact_dir)
        frames.append(train.train(features, spec, save=True, score_rows=False).registry)
        del features
    return pd.concat(frames, ignore_index=True) if frames else artifacts.registry_frame([])


def scores(read: Reader, use_cases: list[UseCaseTables], registry: pd.DataFrame) -> pd.DataFrame:
    """Every row of every use case's feature table scored by its primary registered model."""
    frames = []
    for tables in use_cases:
        rows = registry[(registry["use_case"] == tables.name) & (registry["role"] == "primary")]
        bundle = artifacts.load_registered(rows)
        columns = list(
            dict.fromkeys([*FEATURE_TABLE_KEYS, tables.declaration.target, *bundle.spec.features])
        )
        features = read(tables.features, columns)
        frames.append(train.score_frame(bundle, features))
        del features
    return pd.concat(frames, ignore_index=True)


def training_table(registry: pd.DataFrame, name: str) -> pd.DataFrame:
    """One training table (e.g. ml_model_comparison) of every use case's primary model, read
    from the artifacts and verified, stacked."""
    frames = []
    for _, rows in registry.groupby("use_case", sort=True):
        frames.append(artifacts.load_training_tables(rows)[name])
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def reference_bins(
    read: Reader,
    use_cases: list[UseCaseTables],
    registry: pd.DataFrame,
    training_scores: pd.DataFrame | None,
    lineage: pd.DataFrame | None,
    artifact_dir: str,
    retrain: bool,
    n_bins: int,
) -> pd.DataFrame:
    """The PSI reference bins of every use case's primary model: computed from its training
    split (`training_scores`: use_case, entity_key, split, calibrated_probability of the training
    rows) and frozen with the model (`retrain`), or read back and verified."""
    inputs: dict[str, Any] = {}
    for tables in use_cases:
        if not retrain or training_scores is None:
            inputs[tables.name] = None
            continue
        features = read(tables.features, where="split = 'train'")
        encodings = {
            name: str(spec["by"])
            for name, spec in tables.declaration.target_encodings.items()
            if name in features and spec.get("by") in features
        }
        if encodings:  # out-of-fold encodings: the reference computed the way test rows get it
            others = read(
                tables.features,
                list(dict.fromkeys([*encodings, *encodings.values()])),
                "split <> 'train'",
            )
            features = drift.like_for_like_encodings(features, others, encodings)
            if lineage is not None:  # comparable now, so gated like every feature
                lineage = lineage[
                    ~(
                        (lineage["model"] == tables.declaration.feature_table)
                        & lineage["feature"].isin(list(encodings))
                    )
                ]
        scored = training_scores[training_scores["use_case"] == tables.name]
        inputs[tables.name] = (features, scored, ["entity_key"], tables.declaration.feature_table)
    return drift.frozen_reference_bins(
        registry, inputs, artifact_dir=artifact_dir, retrain=retrain, n_bins=n_bins, lineage=lineage
    )


# ---- what-if -----------------------------------------------------------------------------------

# The columns of ml_recommendations and ml_policy_evaluation, typed, for a project whose use cases
# declare no treatments (the tables then exist, empty).
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


def _what_if_inputs(
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
        per_arm, columns = _what_if_inputs(tables, bundle)
        features = read(tables.features, columns, order_by="entity_key, split")
        space = whatif.arm_space(features, what_if.treatments, per_arm, what_if.follows)
        out = whatif.recommend(
            features,
            space,
            bundle=bundle,
            segment_columns=what_if.support_segments,
            min_support=what_if.min_support,
            in_support_only=what_if.in_support_only,
        )
        del features
        out.insert(0, "model_id", bundle.model_id)
        out.insert(0, "use_case", tables.name)
        out["treatments"] = whatif.ARM_SEPARATOR.join(what_if.treatments)
        out["min_support_rows"] = int(what_if.min_support)
        out["is_in_support_only"] = bool(what_if.in_support_only)
        out["is_model_claimed"] = True
        frames.append(_with_truth(out, tables, raw_dir))
    return pd.concat(frames, ignore_index=True) if frames else empty_frame(RECOMMENDATION_SCHEMA)


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


def leakage_audits(read: Reader, use_cases: list[UseCaseTables], alarm_auc: float) -> pd.DataFrame:
    """The seed document's scenario testing, for every use case that plants leaky columns
    (`audit.leaky_features`: name -> SQL over its prepared rows, e.g. the target-derived rate or
    AdSpend / (Conversion + 1)): its feature table plus those columns, labelled rows only. The
    audit is not told which columns leak; `was_planted` and `planted_not_dropped` compare what
    it dropped with what was planted."""
    frames = []
    for tables in use_cases:
        planted = dict(tables.declaration.audit.get("leaky_features") or {})
        if not planted:
            continue
        target = tables.declaration.target
        expressions = ", ".join(f"{sql} as {name}" for name, sql in planted.items())
        leaky = read(
            f"(select features.*, {', '.join(f'planted.{n}' for n in planted)} "
            f"from {tables.features} as features inner join (select entity_key, split, "
            f"{expressions} from {tables.prepared} where split in ('train', 'test')) as planted "
            "using (entity_key, split))"
        )
        not_features = {*FEATURE_TABLE_KEYS, target, *tables.declaration.id_columns}
        features = [c for c in leaky.columns if c not in not_features]
        table = audit.leakage_audit(
            leaky, target, features, settings=audit.AuditSettings(alarm_auc=alarm_auc)
        )
        dropped = [c for c in table["dropped_column"] if isinstance(c, str)]
        table.insert(0, "use_case", tables.name)
        table["was_planted"] = [
            None if c is None else c in planted for c in table["dropped_column"]
        ]
        table["planted_not_dropped"] = ", ".join(sorted(set(planted) - set(dropped)))
        frames.append(table)
        del leaky
    columns = ["use_case", *audit.AUDIT_COLUMNS, "was_planted", "planted_not_dropped"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


__all__ = [
    "APPROVED_STATUSES",
    "FEATURE_TABLE_KEYS",
    "UseCaseTables",
    "approved_features",
    "as_bool",
    "duckdb_reader",
    "leakage_audits",
    "model_spec",
    "one_large_model_at_a_time",
    "policy_evaluations",
    "recommendations",
    "reference_bins",
    "resolve",
    "scores",
    "trained_models",
    "training_table",
    "use_case_tables",
]
