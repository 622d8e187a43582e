"""The `_truth/truth.json` file shared by every dataset written to one output directory.

The demo dataset owns the top level (its keys, unchanged); each other dataset owns one section,
a top-level key named after it (SECTIONS). Writing a dataset replaces only what it owns, so the
file describes exactly the datasets whose truth sits beside it, whatever order they ran in.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

TRUTH_DIR = "_truth"
TRUTH_JSON = "truth.json"
SECTIONS: tuple[str, ...] = ("telemarketing", "randomised")


def json_default(value: Any) -> Any:
    """JSON encoder fallback for numpy scalars and tuples / sets."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _read(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return document if isinstance(document, dict) else {}


def write_truth_json(path: Path, section: str | None, document: dict[str, Any] | None) -> None:
    """Replace the part of truth.json that `section` owns (None: the demo's top-level keys).

    `document=None` removes that part; the file is removed once nothing is left in it.
    Written as `*.partial` and renamed, like the data files.
    """
    if section is not None and section not in SECTIONS:
        raise ValueError(f"unknown truth.json section {section!r}; expected one of {SECTIONS}")
    existing = _read(path)
    top = {k: v for k, v in existing.items() if k not in SECTIONS}
    sections = {k: existing[k] for k in SECTIONS if k in existing}
    if section is None:
        top = document or {}
    elif document is None:
        sections.pop(section, None)
    else:
        sections[section] = document
    merged = top | {k: sections[k] for k in SECTIONS if k in sections}
    if not merged:
        path.unlink(missing_ok=True)
        return
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(merged, indent=2, default=json_default) + "\n")
    os.replace(partial, path)
