"""ml_recommendations: every row of every what-if use case scored under every arm (combination of
its treatments) by its primary registered model; the model's best arm, its runner-up, the lift
over the current arm and whether the recommendation is in support (plus the TRUE probabilities
when the generator's sidecar exists, for evaluation only)."""

from pathlib import Path


def model(dbt, session):
    dbt.config(materialized="table")
    from dbt.flags import get_flags

    from leakproof import steps

    with steps.one_large_model_at_a_time(dbt.this.identifier):
        use_cases = dbt.ref("ml_use_cases").to_arrow_table().to_pandas()
        registry = dbt.ref("ml_model_registry").to_arrow_table().to_pandas()
        table = steps.recommendations(
            steps.duckdb_reader(session),
            steps.use_case_tables(
                use_cases, Path(getattr(get_flags(), "PROJECT_DIR", None) or ".")
            ),
            registry,
            raw_dir=dbt.config.get("raw_dir"),
        )
    return table
