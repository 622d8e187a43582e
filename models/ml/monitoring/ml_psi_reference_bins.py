"""ml_psi_reference_bins: the PSI reference bins of every use case's primary model, frozen at
training - computed from the training split (features and calibrated score) and saved with the
model's artifact with a sha256; with var retrain: false read back and verified, never recomputed."""

from pathlib import Path


def model(dbt, session):
    dbt.config(materialized="table")
    from dbt.flags import get_flags

    from leakproof import steps
    from leakproof.drift import SCORE_VARIABLE

    retrain = steps.as_bool(dbt.config.get("retrain"))
    with steps.one_large_model_at_a_time(dbt.this.identifier):
        use_cases = dbt.ref("ml_use_cases").to_arrow_table().to_pandas()
        registry = dbt.ref("ml_model_registry").to_arrow_table().to_pandas()
        lineage = dbt.ref("ml_feature_lineage").to_arrow_table().to_pandas()
        # only the training split's scores, filtered and projected in DuckDB
        training_scores = (
            dbt.ref("ml_scores")
            .filter("split = 'train'")
            .select(f"use_case, entity_key, split, {SCORE_VARIABLE}")
            .to_arrow_table()
            .to_pandas()
        )
        table = steps.reference_bins(
            steps.duckdb_reader(session),
            steps.use_case_tables(
                use_cases, Path(getattr(get_flags(), "PROJECT_DIR", None) or ".")
            ),
            registry,
            training_scores=training_scores if retrain else None,
            lineage=lineage,
            artifact_dir=steps.resolve(dbt.config.get("artifact_dir")),
            retrain=retrain,
            n_bins=int(dbt.config.get("psi_bins")),
        )
    return table
