"""ml_trained_models: the registry rows of every use case's models (the model of record and the
comparison family), trained on the columns the leakage guard approved - or, with var retrain:
false, the registered ones read back and verified; nothing is trained."""

from pathlib import Path


def model(dbt, session):
    dbt.config(materialized="table")
    from dbt.flags import get_flags

    from leakproof import steps

    with steps.one_large_model_at_a_time(dbt.this.identifier):
        use_cases = dbt.ref("ml_use_cases").to_arrow_table().to_pandas()
        lineage = dbt.ref("ml_feature_lineage").to_arrow_table().to_pandas()
        table = steps.trained_models(
            steps.duckdb_reader(session),
            steps.use_case_tables(
                use_cases, Path(getattr(get_flags(), "PROJECT_DIR", None) or ".")
            ),
            lineage,
            artifact_dir=steps.resolve(dbt.config.get("artifact_dir")),
            retrain=steps.as_bool(dbt.config.get("retrain")),
        )
    return table
