"""ml_policy_evaluation: the value of each what-if use case's historical, recommended, in-support,
soft and every fixed-arm policy - the model's claim, the cross-fitted direct method, IPW, SNIPW and
doubly robust (the headline) with influence-function intervals, overlap diagnostics,
not_identifiable where the data cannot say, and the TRUE values when the generator's sidecar
exists."""

from pathlib import Path


def model(dbt, session):
    dbt.config(materialized="table")
    from dbt.flags import get_flags

    from leakproof import policy, steps

    with steps.one_large_model_at_a_time(dbt.this.identifier):
        use_cases = dbt.ref("ml_use_cases").to_arrow_table().to_pandas()
        recommendations = dbt.ref("ml_recommendations").filter("split in ('train', 'test')")
        thresholds = policy.Thresholds(
            min_propensity=float(dbt.config.get("policy_min_propensity")),
            min_overlap=float(dbt.config.get("policy_min_overlap")),
            min_ess=float(dbt.config.get("policy_min_ess")),
            min_effective_positives=float(dbt.config.get("policy_min_effective_positives")),
        )
        table = steps.policy_evaluations(
            steps.duckdb_reader(session),
            steps.use_case_tables(
                use_cases, Path(getattr(get_flags(), "PROJECT_DIR", None) or ".")
            ),
            recommendations.to_arrow_table().to_pandas(),
            raw_dir=dbt.config.get("raw_dir"),
            thresholds=thresholds,
            folds=int(dbt.config.get("policy_folds")),
            seed=int(dbt.config.get("policy_seed")),
            propensity_max_rows=int(dbt.config.get("propensity_max_rows")),
        )
    return table
