"""Reading a declaration: problems collected with their file and key, and the small readers of
YAML values every section uses."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


class Problems:
    """Problems found while reading one file, each prefixed with the file and the key."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.items: list[str] = []

    def add(self, key: str, problem: str) -> None:
        self.items.append(f"{self.path}: {key}: {problem}")

    def unknown(self, key: str, mapping: Mapping[str, Any], known: set[str]) -> None:
        for name in sorted(set(mapping) - known):
            self.add(
                f"{key}.{name}" if key else name, f"unknown key (known: {', '.join(sorted(known))})"
            )


def as_mapping(value: Any, key: str, problems: Problems) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        problems.add(key, f"must be a mapping, got {type(value).__name__}")
        return {}
    return dict(value)


def as_names(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def as_values(value: Any) -> list[Any]:
    """A YAML scalar or list as a list of its values, each as YAML typed it (a label's check needs
    to see an unquoted yes / no as the boolean YAML made of it)."""
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def as_label(value: Any, key: str, problems: Problems) -> str | None:
    if isinstance(value, bool):
        problems.add(
            key, f"{value!r} is a YAML boolean: quote labels such as 'yes', 'no', 'Y', 'N'"
        )
        return None
    if value is None:
        problems.add(key, "a label cannot be empty")
        return None
    return str(value)


def as_number(value: Any, key: str, problems: Problems) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.add(key, f"must be a number, got {value!r}")
        return None
    return float(value)


__all__ = ["IDENTIFIER", "Problems", "as_label", "as_mapping", "as_names", "as_number"]
