"""ml_b2b_model: the registered b2b models, one row per model (the primary family's model of
record and the other family for comparison). Trains them on the columns the leakage guard
approved, or with var retrain: false reads the registered ones and trains nothing."""


def model(dbt, session):
    dbt.config(materialized="table")
    from leakproof.models import (
        as_bool,
        one_large_model_at_a_time,
        registered_models,
        resolve,
    )

    with one_large_model_at_a_time(dbt.this.identifier):
        features = dbt.ref("ml_account_features").to_arrow_table().to_pandas()
        lineage = dbt.ref("ml_feature_lineage").to_arrow_table().to_pandas()
        table = registered_models(
            "b2b",
            features,
            lineage,
            settings=dbt.config.get("model_settings"),
            artifact_dir=resolve(dbt.config.get("artifact_dir")),
            retrain=as_bool(dbt.config.get("retrain")),
        )
    return table
