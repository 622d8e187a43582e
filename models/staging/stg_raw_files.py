"""stg_raw_files: one row per raw file of the turned-on use cases - its data lines, how many
parse and how many are rejected (leakproof.raw.prepare_raw_files). Building it defines the
readers every use case's staging models read through: read_raw_<use case>__<table>() (the
parsable rows) and read_rejected_<use case>() (the rejected lines, with their reason)."""

from pathlib import Path


def model(dbt, session):
    dbt.config(materialized="table")
    from dbt.flags import get_flags

    from leakproof.raw import prepare_raw_files

    dbt.ref("stg_use_case_preflight")
    return prepare_raw_files(
        session,
        Path(getattr(get_flags(), "PROJECT_DIR", None) or "."),
        list(dbt.config.get("use_cases")),
        dbt.config.get("raw_dir"),
        dbt.config.get("raw_format"),
    )
