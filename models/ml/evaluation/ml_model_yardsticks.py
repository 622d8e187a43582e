"""ml_model_yardsticks: what each use case's model of record is measured against on its own test
split - the generator's oracle (true probabilities; demo data only) and a plain standardised
logistic regression on the same approved features and training rows."""

from pathlib import Path


def model(dbt, session):
    dbt.config(materialized="table")
    from dbt.flags import get_flags

    from leakproof import steps, yardsticks

    with steps.one_large_model_at_a_time(dbt.this.identifier):
        use_cases = dbt.ref("ml_use_cases").to_arrow_table().to_pandas()
        registry = dbt.ref("ml_model_registry").to_arrow_table().to_pandas()
        table = yardsticks.model_yardsticks(
            steps.duckdb_reader(session),
            steps.use_case_tables(
                use_cases, Path(getattr(get_flags(), "PROJECT_DIR", None) or ".")
            ),
            registry,
            raw_dir=dbt.config.get("raw_dir"),
        )
    return table
