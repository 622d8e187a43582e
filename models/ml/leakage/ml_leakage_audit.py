"""ml_leakage_audit: layer 5 of the leakage guard - the seed document's scenario testing (A-F),
found automatically on each use case's features plus the leaky columns its declaration plants
(leakproof.steps.leakage_audits)."""

from pathlib import Path


def model(dbt, session):
    dbt.config(materialized="table")
    from dbt.flags import get_flags

    from leakproof import steps

    with steps.one_large_model_at_a_time(dbt.this.identifier):
        use_cases = dbt.ref("ml_use_cases").to_arrow_table().to_pandas()
        table = steps.leakage_audits(
            steps.duckdb_reader(session),
            steps.use_case_tables(
                use_cases, Path(getattr(get_flags(), "PROJECT_DIR", None) or ".")
            ),
            alarm_auc=float(dbt.config.get("alarm_auc")),
        )
    return table
