"""`leakproof use-case check`: everything that can be checked before a build - the declarations
parse and agree with the data, their thin dbt files are present and untouched, the raw files can
be read as declared, and each target's declared labels occur in the data."""

from __future__ import annotations

from pathlib import Path

import duckdb

from leakproof.declarations._model import Declaration
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
    raw = Path(raw_dir) if Path(raw_dir).is_absolute() else project_dir / raw_dir
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
        labelled = declaration.table.paths(raw, raw_format)["labelled"]
        if labelled.is_file() and not any(p.startswith(str(labelled)) for p in problems):
            problems.extend(_label_problems(declaration, labelled, raw_format))
    return problems


def _label_problems(declaration: Declaration, path: Path, raw_format: str) -> list[str]:
    """The declared positive and negative labels must occur in the target column."""
    table = declaration.table
    target = declaration.column(declaration.target)
    quoted = "'" + str(path).replace("'", "''") + "'"
    if table.file_format(raw_format) == "parquet":
        reader = f"read_parquet({quoted})"
    else:
        q = table.quote.replace("'", "''")
        d = table.delimiter.replace("'", "''")
        reader = (
            f"read_csv({quoted}, header = true, all_varchar = true, delim = '{d}', "
            f"quote = '{q}', escape = '{q}', encoding = '{table.encoding}', ignore_errors = true)"
        )
    column = '"' + target.name.replace('"', '""') + '"'
    found = {
        str(value).strip().lower()
        for (value,) in duckdb.sql(
            f"select distinct cast({column} as varchar) from {reader} where {column} is not null"
        ).fetchall()
    }
    problems = []
    for kind, labels in (("positive", declaration.positive), ("negative", declaration.negative)):
        absent = [label for label in labels if label.lower() not in found]
        if absent:
            problems.append(
                f"{declaration.path}: use_case.target.{kind}: label(s) {absent} never occur in "
                f"{target.name} of {path} (it has {sorted(found)[:10]})"
            )
    return problems


__all__ = ["check_use_cases"]
