"""ml_recommendations: every customer of ml_customer_features scored under all channel x platform
combinations by the primary registered marketing model; the model's best combination, its
runner-up, the lift over the current one and whether the recommendation is in support (plus
the TRUE probabilities when the generator's sidecar exists, for evaluation only)."""


def model(dbt, session):
    dbt.config(materialized="table")
    from leakproof.models import as_bool, one_large_model_at_a_time
    from leakproof.recommend import recommend_with_model

    with one_large_model_at_a_time(dbt.this.identifier):
        features = dbt.ref("ml_customer_features").to_arrow_table().to_pandas()
        registry = dbt.ref("ml_marketing_model").to_arrow_table().to_pandas()
        table = recommend_with_model(
            features,
            registry,
            min_support_customers=int(dbt.config.get("min_support_customers")),
            in_support_only=as_bool(dbt.config.get("recommend_in_support_only")),
            raw_dir=dbt.config.get("raw_dir"),
        )
    return table
