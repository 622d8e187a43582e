"""ml_marketing_scores: every row of ml_customer_features (train, test and the rows to score)
scored by the primary registered marketing model, loaded from its verified artifact."""


def model(dbt, session):
    dbt.config(materialized="table")
    from leakproof.models import one_large_model_at_a_time, scores

    with one_large_model_at_a_time(dbt.this.identifier):
        features = dbt.ref("ml_customer_features").to_arrow_table().to_pandas()
        registry = dbt.ref("ml_marketing_model").to_arrow_table().to_pandas()
        table = scores(features, registry)
    return table
