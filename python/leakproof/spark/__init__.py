"""The ML steps on Spark (the spark target, where dbt-spark runs no Python model): training,
scoring with reason codes, the what-if recommendations and the PSI reference bins as one Spark
job, started by `leakproof spark-ml` between dbt selections. It reads the tables dbt-spark built
(ml.ml_use_cases and each use case's feature table) through a session on the same warehouse and
metastore, and writes ml_trained_models, ml_scores, ml_recommendations and ml_psi_reference_bins
with the columns of the DuckDB Python models; the artifacts are the DuckDB trainer's format
(ModelBundle, sha256-registered).

    spark = spark_session(project_dir)
    run_ml_job(spark, JobSettings(project_dir, target_path, artifact_dir, raw_dir))

Needs pyspark and xgboost's Spark estimator: .venv-spark (make spark).
"""

from leakproof.spark._design import design_frame, fit_encoder
from leakproof.spark._job import JOB_TABLES, JobSettings, run_ml_job
from leakproof.spark._pipeline import run_pipeline
from leakproof.spark._score import recommendation_frame, score_frame
from leakproof.spark._session import (
    ML_SCHEMA,
    SparkJobError,
    double_decimals,
    session_settings,
    spark_reader,
    spark_session,
    write_frame,
)
from leakproof.spark._train import SparkTraining, train_on_spark

__all__ = [
    "JOB_TABLES",
    "ML_SCHEMA",
    "JobSettings",
    "SparkJobError",
    "SparkTraining",
    "design_frame",
    "double_decimals",
    "fit_encoder",
    "recommendation_frame",
    "run_ml_job",
    "run_pipeline",
    "score_frame",
    "session_settings",
    "spark_reader",
    "spark_session",
    "train_on_spark",
    "write_frame",
]
