"""ml_feature_lineage: layer 2 of the leakage guard (see leakproof.lineage).

Traces every column of every feature table (config meta leakage_guard: features) through the
SQL dbt compiled in this invocation back to the source columns; the test on this table fails the
build, naming each column and its path, when a feature reaches a target / target-derived /
post-outcome column or cannot be traced. The classifiers read the approved feature list from this
table, so they never run on a table the guard has not passed.
"""

from pathlib import Path


def model(dbt, session):
    dbt.config(materialized="table")
    # every use case's feature table is compiled (and built) before this model traces it
    dbt.ref("ml_use_cases")

    from dbt.flags import get_flags

    from leakproof.lineage import feature_lineage_from_target

    flags = get_flags()
    project_dir = Path(getattr(flags, "PROJECT_DIR", None) or ".")
    target_path = Path(getattr(flags, "TARGET_PATH", None) or "target")
    if not target_path.is_absolute():
        target_path = project_dir / target_path
    return feature_lineage_from_target(target_path, project_dir)
