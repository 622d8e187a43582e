"""ml_scores: every row of every use case's feature table (train, test and the rows to score)
scored by its primary registered model, loaded from its verified artifact, with reason codes."""

from pathlib import Path


def model(dbt, session):
    dbt.config(materialized="table")
    from dbt.flags import get_flags

    from leakproof import steps

    with steps.one_large_model_at_a_time(dbt.this.identifier):
        use_cases = dbt.ref("ml_use_cases").to_arrow_table().to_pandas()
        registry = dbt.ref("ml_model_registry").to_arrow_table().to_pandas()
        table = steps.scores(
            steps.duckdb_reader(session),
            steps.use_case_tables(
                use_cases, Path(getattr(get_flags(), "PROJECT_DIR", None) or ".")
            ),
            registry,
        )
    return table
