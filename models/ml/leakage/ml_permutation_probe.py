"""ml_permutation_probe: layer 3 of the leakage guard - each use case's feature table rebuilt from
its staged rows with every target / post-outcome / target-derived column permuted, compared
column by column with the real one (leakproof.probe). A feature whose values move depends on
the target, whatever computed it."""

from pathlib import Path


def model(dbt, session):
    dbt.config(materialized="table")
    from dbt.flags import get_flags

    from leakproof import probe, steps

    flags = get_flags()
    project_dir = Path(getattr(flags, "PROJECT_DIR", None) or ".")
    target_path = Path(getattr(flags, "TARGET_PATH", None) or "target")
    if not target_path.is_absolute():
        target_path = project_dir / target_path
    # every use case's feature table is built (and compiled) before the probe rebuilds it
    use_cases = dbt.ref("ml_use_cases").to_arrow_table().to_pandas()
    return probe.permutation_probes(
        session,
        steps.use_case_tables(use_cases, project_dir),
        target_path,
        seed=int(dbt.config.get("permutation_seed")),
    )
