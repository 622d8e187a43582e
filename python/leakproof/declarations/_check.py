"""`leakproof use-case check`: everything that can be checked before a build - the preflight (the
declarations parse, the raw files can be read as declared, each target's declared labels occur in
the data) and the thin dbt files are present and untouched."""

from __future__ import annotations

from pathlib import Path

from leakproof.declarations._parse import load
from leakproof.declarations._preflight import preflight
from leakproof.declarations._scaffold import stale_thin_files
from leakproof.exceptions import DeclarationError


def check_use_cases(
    project_dir: Path, names: list[str], raw_dir: Path | str, raw_format: str = "csv"
) -> list[str]:
    """Every problem found, one line each naming the file and the key or column (empty: ok)."""
    rows = preflight(project_dir, names, raw_dir, raw_format)
    problems = list(rows.loc[rows["status"] == "problem", "message"])
    for name in names:
        path = project_dir / "use_cases" / f"{name}.yml"
        try:
            declaration = load(path)
        except (DeclarationError, OSError):
            continue  # preflight reported it
        for relative in stale_thin_files(project_dir, name, declaration.table.name):
            problems.append(
                f"{relative}: missing or edited; it is generated for use case {name} - "
                "restore it with `leakproof use-case add` (or `git checkout`)"
            )
    return problems


__all__ = ["check_use_cases"]
