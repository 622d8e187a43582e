"""ml_leakage_audit: layer 4 of the leakage guard - the seed's scenario A-F, found automatically
(leakproof.audit.leakage_audit over ml_customer_features_leaky)."""

NOT_FEATURES = ("customer_id", "split", "cv_fold", "conversion")


def model(dbt, session):
    dbt.config(materialized="table")
    from leakproof.audit import AuditSettings, leakage_audit
    from leakproof.models import one_large_model_at_a_time

    with one_large_model_at_a_time(dbt.this.identifier):
        frame = dbt.ref("ml_customer_features_leaky").to_arrow_table().to_pandas()
        features = [column for column in frame.columns if column not in NOT_FEATURES]
        settings = AuditSettings(alarm_auc=float(dbt.config.get("alarm_auc")))
        table = leakage_audit(frame, "conversion", features, settings=settings)
    return table
