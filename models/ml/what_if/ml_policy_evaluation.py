"""ml_policy_evaluation: the value of each what-if use case's recommended policy vs the historical
one on its test split - the model's claim (direct method), IPW, self-normalised IPW and doubly
robust with bootstrap intervals, overlap diagnostics, and the TRUE values when the generator's
sidecar exists."""

from pathlib import Path


def model(dbt, session):
    dbt.config(materialized="table")
    from dbt.flags import get_flags

    from leakproof import steps

    with steps.one_large_model_at_a_time(dbt.this.identifier):
        use_cases = dbt.ref("ml_use_cases").to_arrow_table().to_pandas()
        recommendations = dbt.ref("ml_recommendations").filter("split = 'test'")
        table = steps.policy_evaluations(
            steps.duckdb_reader(session),
            steps.use_case_tables(
                use_cases, Path(getattr(get_flags(), "PROJECT_DIR", None) or ".")
            ),
            recommendations.to_arrow_table().to_pandas(),
            raw_dir=dbt.config.get("raw_dir"),
            samples=int(dbt.config.get("bootstrap_samples")),
            seed=int(dbt.config.get("policy_seed")),
            propensity_floor=float(dbt.config.get("propensity_floor")),
            propensity_max_rows=int(dbt.config.get("propensity_max_rows")),
        )
    return table
