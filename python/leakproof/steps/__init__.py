"""The pipeline steps the shared dbt Python models call (and the Spark job, on the spark target):
one function per step, each looping over the turned-on use cases.

A shared model reads `ml_use_cases` (one row per use case: its declaration file and the relation
names of its tables) and each use case's tables through a `Reader` - a function from a relation
name, optional columns and an optional filter to a pandas frame - so the steps do not depend on
the engine. `duckdb_reader(session)` is the one dbt-duckdb's Python models use.

Only the columns the leakage guard approved (`ml_feature_lineage`: status clean or allowed, role
feature) are ever given to a model.
"""

from leakproof.steps._models import (
    leakage_audits,
    model_spec,
    reference_bins,
    scores,
    trained_models,
    training_table,
)
from leakproof.steps._session import (
    APPROVED_STATUSES,
    FEATURE_TABLE_KEYS,
    TURNS_LOG_ENV,
    Reader,
    UseCaseTables,
    approved_features,
    as_bool,
    duckdb_reader,
    one_large_model_at_a_time,
    resolve,
    select_sql,
    use_case_tables,
)
from leakproof.steps._what_if import (
    POLICY_SCHEMA,
    RECOMMENDATION_SCHEMA,
    empty_frame,
    policy_evaluations,
    recommendation_rows,
    recommendations,
    what_if_inputs,
)

__all__ = [
    "APPROVED_STATUSES",
    "FEATURE_TABLE_KEYS",
    "POLICY_SCHEMA",
    "RECOMMENDATION_SCHEMA",
    "TURNS_LOG_ENV",
    "Reader",
    "UseCaseTables",
    "approved_features",
    "as_bool",
    "duckdb_reader",
    "empty_frame",
    "leakage_audits",
    "model_spec",
    "one_large_model_at_a_time",
    "policy_evaluations",
    "recommendation_rows",
    "recommendations",
    "reference_bins",
    "resolve",
    "scores",
    "select_sql",
    "trained_models",
    "training_table",
    "use_case_tables",
    "what_if_inputs",
]
