"""ml_policy_evaluation: the value of the recommended policy vs the historical one on the test
split - the model's claim (direct method), IPW, self-normalised IPW and doubly robust with
bootstrap intervals, overlap diagnostics, and the TRUE values when the generator's sidecar
exists."""


def model(dbt, session):
    dbt.config(materialized="table")
    from leakproof.models import one_large_model_at_a_time
    from leakproof.policy import (
        FEATURE_COLUMNS,
        RECOMMENDATION_COLUMNS,
        evaluate_marketing_policy,
    )

    with one_large_model_at_a_time(dbt.this.identifier):
        # only the columns the evaluation reads: a fraction of the two tables' memory at scale
        features = dbt.ref("ml_customer_features").select(*FEATURE_COLUMNS)
        recommendations = dbt.ref("ml_recommendations").select(*RECOMMENDATION_COLUMNS)
        table = evaluate_marketing_policy(
            features.to_arrow_table().to_pandas(),
            recommendations.to_arrow_table().to_pandas(),
            dbt.config.get("raw_dir"),
            samples=int(dbt.config.get("bootstrap_samples")),
            seed=int(dbt.config.get("policy_seed")),
            propensity_floor=float(dbt.config.get("propensity_floor")),
            propensity_max_rows=int(dbt.config.get("propensity_max_rows")),
        )
    return table
