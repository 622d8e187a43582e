"""ml_psi_reference_bins: the PSI reference bins of every use case's primary model, frozen at
training - computed from the training split (features and calibrated score) and saved with the
model's artifact with a sha256; with var retrain: false read back and verified, never recomputed."""


def model(dbt, session):
    dbt.config(materialized="table")
    from leakproof.drift import SCORE_VARIABLE, frozen_reference_bins
    from leakproof.models import USE_CASES, as_bool, one_large_model_at_a_time, resolve

    with one_large_model_at_a_time(dbt.this.identifier):
        registry = dbt.ref("ml_model_registry").to_arrow_table().to_pandas()
        lineage = dbt.ref("ml_feature_lineage")
        # The refs are literal so dbt sees the edges; ids and table names come from USE_CASES.
        relations = {
            "marketing": (dbt.ref("ml_customer_features"), dbt.ref("ml_marketing_scores")),
            "b2b": (dbt.ref("ml_account_features"), dbt.ref("ml_b2b_scores")),
        }
        retrain = as_bool(dbt.config.get("retrain"))

        def training_rows(relation, columns=None):
            # Only the training split is binned: filter (and project) in DuckDB, not in pandas.
            rows = relation.filter("split = 'train'")
            return (rows.select(*columns) if columns else rows).to_arrow_table().to_pandas()

        inputs = {}
        for use_case, (features, scores) in relations.items():
            ids = USE_CASES[use_case].id_columns
            inputs[use_case] = (
                (
                    training_rows(features),
                    training_rows(scores, [*ids, "split", SCORE_VARIABLE]),
                    ids,
                    USE_CASES[use_case].feature_table,
                )
                if retrain
                else None
            )
        table = frozen_reference_bins(
            registry,
            inputs,
            artifact_dir=resolve(dbt.config.get("artifact_dir")),
            retrain=retrain,
            n_bins=int(dbt.config.get("psi_bins")),
            lineage=lineage.to_arrow_table().to_pandas() if retrain else None,
        )
    return table
