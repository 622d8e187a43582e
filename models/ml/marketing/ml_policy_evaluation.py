"""ml_policy_evaluation: the value of the recommended policy vs the historical one on the test
split - the model's claim (direct method), IPW, self-normalised IPW and doubly robust with
bootstrap intervals, overlap diagnostics, and the TRUE values when the generator's sidecar
exists."""


def model(dbt, session):
    dbt.config(materialized="table")
    from leakproof.policy import evaluate_marketing_policy

    features = dbt.ref("ml_customer_features").to_arrow_table().to_pandas()
    recommendations = dbt.ref("ml_recommendations").to_arrow_table().to_pandas()
    return evaluate_marketing_policy(
        features,
        recommendations,
        dbt.config.get("raw_dir"),
        samples=int(dbt.config.get("bootstrap_samples")),
        seed=int(dbt.config.get("policy_seed")),
        propensity_floor=float(dbt.config.get("propensity_floor")),
    )
