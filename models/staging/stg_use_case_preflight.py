"""stg_use_case_preflight: one row per turned-on use case and check - its declaration is valid
and its raw files can be read as declared (leakproof.declarations.preflight). Every use case's
models run after it; its test prints each problem and stops the build before any raw row is
read."""

from pathlib import Path


def model(dbt, session):
    dbt.config(materialized="table")
    from dbt.flags import get_flags

    from leakproof.declarations import preflight

    return preflight(
        Path(getattr(get_flags(), "PROJECT_DIR", None) or "."),
        list(dbt.config.get("use_cases")),
        dbt.config.get("raw_dir"),
        dbt.config.get("raw_format"),
    )
