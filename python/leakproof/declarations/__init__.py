"""Use-case declarations: `use_cases/<name>.yml`, one per use case, read by dbt (from its graph)
and by this package alike.

    declarations = load_project(Path("."))      # the use cases dbt_project.yml turns on
    marketing = declarations["marketing"]
    marketing.target, marketing.grain, marketing.split.method, marketing.what_if.treatments
"""

from __future__ import annotations

from pathlib import Path

import yaml

from leakproof.declarations._add import add_use_case, sniff_dialect, turn_on
from leakproof.declarations._check import check_use_cases
from leakproof.declarations._model import (
    BLOCKED_ROLES,
    FEATURE_ROLES,
    ROLES,
    Band,
    Column,
    Declaration,
    RawTable,
    Split,
    Truth,
    WhatIf,
    snake_case,
)
from leakproof.declarations._parse import load
from leakproof.declarations._preflight import preflight
from leakproof.declarations._scaffold import stale_thin_files, thin_files, write_thin_files
from leakproof.exceptions import DeclarationError

USE_CASES_DIR = "use_cases"

__all__ = [
    "BLOCKED_ROLES",
    "FEATURE_ROLES",
    "ROLES",
    "Band",
    "Column",
    "Declaration",
    "DeclarationError",
    "RawTable",
    "Split",
    "Truth",
    "WhatIf",
    "add_use_case",
    "check_use_cases",
    "enabled_use_cases",
    "load",
    "load_project",
    "preflight",
    "snake_case",
    "sniff_dialect",
    "stale_thin_files",
    "thin_files",
    "turn_on",
    "write_thin_files",
]


def enabled_use_cases(project_dir: Path | str) -> list[str]:
    """The use cases dbt builds: var `use_cases` of the project's dbt_project.yml."""
    path = Path(project_dir) / "dbt_project.yml"
    project = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    names = (project.get("vars") or {}).get("use_cases") or []
    if isinstance(names, str):
        names = [names]
    return [str(name) for name in names]


def load_project(project_dir: Path | str, names: list[str] | None = None) -> dict[str, Declaration]:
    """The declarations of `names` (default: the enabled use cases), every problem of every file
    collected into one DeclarationError."""
    project_dir = Path(project_dir)
    names = enabled_use_cases(project_dir) if names is None else names
    declarations: dict[str, Declaration] = {}
    problems: list[str] = []
    for name in names:
        path = project_dir / USE_CASES_DIR / f"{name}.yml"
        if not path.is_file():
            problems.append(
                f"{path}: missing, but use case {name!r} is turned on in var use_cases "
                "(dbt_project.yml); write it with `leakproof use-case add` or remove the name"
            )
            continue
        try:
            declarations[name] = load(path)
        except DeclarationError as error:
            problems.extend(error.problems)
    if problems:
        raise DeclarationError(problems)
    return declarations
