-- One row per registered model of every use case: the registry rows ml_trained_models wrote, in
-- one relation with a fixed column list for analysts and BI.
with

models as (

    select * from {{ ref('ml_trained_models') }}

),

final as (

    select
        model_id,
        use_case,
        role,
        selection_rule,
        algorithm,
        imbalance_treatment,
        smote_k_neighbors,
        calibration_method,
        params,
        feature_list,
        numeric_features,
        categorical_features,
        n_features,
        training_rows,
        training_split_rows,
        training_positives,
        training_negatives,
        training_base_rate,
        test_rows,
        threshold,
        threshold_objective,
        threshold_probability,
        threshold_f1,
        threshold_cost,
        contact_cost,
        conversion_value,
        cv_folds,
        cv_auc_mean,
        cv_auc_sd,
        train_auc,
        test_auc,
        train_test_auc_gap,
        seed,
        library_versions,
        training_data_sha256,
        artifact_path,
        artifact_sha256,
        booster_json_path,
        booster_json_sha256,
        metadata_path,
        trained_at
    from models

)

select * from final
