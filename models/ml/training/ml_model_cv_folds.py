"""ml_model_cv_folds: the table of that name saved with each use case's primary model at
training time, read back from its verified artifact (it always describes the registered model)."""


def model(dbt, session):
    dbt.config(materialized="table")
    from leakproof.steps import training_table

    registry = dbt.ref("ml_model_registry").to_arrow_table().to_pandas()
    return training_table(registry, "ml_model_cv_folds")
