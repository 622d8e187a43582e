"""ml_policy_experiment_design: the randomised test that would settle each what-if use case's
recommendation - control (the historical policy) vs treatment (the recommended one), allocation,
the customers needed for 80 % power at 5 % significance and the minimum detectable lift."""


def model(dbt, session):
    dbt.config(materialized="table")
    from leakproof import policy

    evaluation = dbt.ref("ml_policy_evaluation").to_arrow_table().to_pandas()
    return policy.experiment_design(
        evaluation,
        alpha=float(dbt.config.get("experiment_alpha")),
        power=float(dbt.config.get("experiment_power")),
    )
