"""ml_oracle_comparison: layer 4 of the leakage guard, too good to be true - each scored model's
test AUC against the oracle's (the generator's true probability, where the data has a sidecar)
on the same rows, with DeLong's paired interval of the difference, and against the declared
plausibility ceiling gates.max_auc (leakproof.oracle)."""

from pathlib import Path


def model(dbt, session):
    dbt.config(materialized="table")
    from dbt.flags import get_flags

    from leakproof import oracle, steps

    use_cases = dbt.ref("ml_use_cases").to_arrow_table().to_pandas()
    scores = dbt.ref("ml_scores").filter("split = 'test'")
    columns = "use_case, model_id, entity_key, actual_label, calibrated_probability"
    return oracle.oracle_comparisons(
        scores.project(columns).to_arrow_table().to_pandas(),
        steps.use_case_tables(use_cases, Path(getattr(get_flags(), "PROJECT_DIR", None) or ".")),
        raw_dir=dbt.config.get("raw_dir"),
        z=float(dbt.config.get("interval_z")),
    )
