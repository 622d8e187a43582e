"""The modelling steps: train (or load) each use case's registered models on the approved
features, score every feature row, freeze the PSI reference bins, run the leakage audit."""

from typing import Any

import pandas as pd

from leakproof import artifacts, audit, drift, train
from leakproof.declarations import Declaration
from leakproof.steps._session import (
    FEATURE_TABLE_KEYS,
    Reader,
    UseCaseTables,
    approved_features,
)


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
