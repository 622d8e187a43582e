"""Preflight of the turned-on use cases, before any of their models reads a raw row: every
declaration is valid, and every declared raw file exists and can be read as declared (its
header has the declared columns, its dialect and encoding look right, it has rows).

`preflight(project_dir, raw_dir)` never raises for a problem it finds: it returns one row per use
case and check ('ok' or 'problem' with a message naming the file, the problem and the fix), so
the dbt test on stg_use_case_preflight prints every message and stops the build cleanly.
"""

from __future__ import annotations

import codecs
import csv
from pathlib import Path

import duckdb
import pandas as pd

from leakproof.declarations._model import BLOCKED_ROLES, Declaration
from leakproof.declarations._parse import load
from leakproof.exceptions import DeclarationError

COLUMNS = ["use_case", "declaration", "check_name", "status", "message"]
_SNIFF_BYTES = 64 * 1024
_LABEL_SAMPLE_ROWS = 100_000  # the label check reads the whole file only when these miss one
_OTHER_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe", ",": "comma"}


def preflight(
    project_dir: Path | str,
    use_cases: list[str],
    raw_dir: Path | str,
    raw_format: str = "csv",
) -> pd.DataFrame:
    """One row per use case and check; status 'problem' rows stop the build."""
    project_dir = Path(project_dir)
    raw_dir = Path(raw_dir) if Path(raw_dir).is_absolute() else project_dir / raw_dir
    rows: list[dict[str, str]] = []
    if not use_cases:
        rows.append(
            _row(
                "",
                "",
                "use_cases",
                "problem",
                "var use_cases (dbt_project.yml) turns no use case on",
            )
        )
    declared: list[tuple[str, Declaration]] = []
    for name in use_cases:
        path = project_dir / "use_cases" / f"{name}.yml"
        relative = str(path.relative_to(project_dir))
        if not path.is_file():
            message = (
                f"{relative} is missing, but use case {name!r} is turned on in var use_cases "
                "(dbt_project.yml): write it with `leakproof use-case add` or drop the name"
            )
            rows.append(_row(name, relative, "declaration", "problem", message))
            continue
        try:
            declaration = load(path)
        except DeclarationError as error:
            for problem in error.problems:
                rows.append(
                    _row(
                        name,
                        relative,
                        "declaration",
                        "problem",
                        problem.replace(str(path), relative),
                    )
                )
            continue
        rows.append(_row(name, relative, "declaration", "ok", f"{relative} is valid"))
        declared.append((relative, declaration))
    files = [
        (relative, d, role, p)
        for relative, d in declared
        for role, p in d.table.paths(raw_dir, raw_format).items()
    ]
    if files and not any(_matches(p) for *_, p in files):
        looked = ", ".join(str(p) for *_, p in files)
        rows.append(
            _row(
                "",
                "",
                "raw_dir",
                "problem",
                f"No raw data found. Looked for {looked} (var raw_dir={raw_dir}). "
                "Generate the demo "
                f"data with `leakproof generate --out {raw_dir}` (or `make data`), or point dbt at "
                "your files: dbt build --vars '{raw_dir: /path/to/files}'",
            )
        )
        return pd.DataFrame(rows, columns=COLUMNS)
    for relative, declaration, role, pattern in files:
        # a glob is checked file by file: each must be readable as declared
        for path in _matches(pattern) or [pattern]:
            checked = check_file(declaration, role, path, raw_format)
            for status, message in checked:
                rows.append(_row(declaration.name, relative, f"{role}_file", status, message))
            if role == "labelled" and all(status == "ok" for status, _ in checked):
                for message in _label_problems(declaration, path, raw_format):
                    rows.append(
                        _row(declaration.name, relative, "target_labels", "problem", message)
                    )
    return pd.DataFrame(rows, columns=COLUMNS)


def _matches(path: Path) -> list[Path]:
    """The files a declared path names: itself, or every file its glob pattern matches."""
    if not any(character in path.name for character in "*?["):
        return [path] if path.exists() else []
    return sorted(p for p in path.parent.glob(path.name) if p.is_file())


def _row(use_case: str, declaration: str, check: str, status: str, message: str) -> dict[str, str]:
    return {
        "use_case": use_case,
        "declaration": declaration,
        "check_name": check,
        "status": status,
        "message": message,
    }


def check_file(
    declaration: Declaration, role: str, path: Path, raw_format: str = "csv"
) -> list[tuple[str, str]]:
    """(status, message) of one raw file: exists, readable as declared, has the columns."""
    table = declaration.table
    where = f"{path} (use case {declaration.name}, declared in use_cases/{declaration.name}.yml)"
    if not path.exists():
        found = "matches no file" if any(c in path.name for c in "*?[") else "not found"
        return [
            (
                "problem",
                f"{where} {found} (var raw_dir={path.parent}): put the file there, or point "
                "var raw_dir at the directory that has it",
            )
        ]
    size = path.stat().st_size
    if size == 0:
        if role == "scoring":
            return [("ok", f"{where} is empty: no rows to score")]
        return [("problem", f"{where} is empty (0 bytes): no header and no rows")]
    if table.file_format(raw_format) == "parquet":
        return [("ok", f"{where} is a Parquet file")]
    with path.open("rb") as handle:  # the head only: a raw file may be gigabytes
        head = handle.read(_SNIFF_BYTES)
    text, problem = _decode(head, table.encoding, where, whole_file=len(head) < _SNIFF_BYTES)
    if problem:
        return [("problem", problem)]
    lines = text.splitlines()
    header = next(csv.reader([lines[0]], delimiter=table.delimiter, quotechar=table.quote))
    problems = _header_problems(declaration, role, header, lines, where)
    if problems:
        return [("problem", p) for p in problems]
    if role == "labelled" and len([line for line in lines[1:] if line.strip()]) == 0:
        return [("problem", f"{where} has a header but no data rows")]
    return [("ok", f"{where}: {len(header)} columns, header as declared")]


def _decode(head: bytes, encoding: str, where: str, whole_file: bool) -> tuple[str, str | None]:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and "16" not in encoding:
        return (
            "",
            f"{where} is UTF-16 (it starts with a UTF-16 byte-order mark): "
            "set encoding: utf-16 in its declaration",
        )
    try:
        # incremental: a head cut off inside a multi-byte character is not an encoding error
        decoder = codecs.getincrementaldecoder(encoding.replace("-", "_"))(errors="strict")
        text = decoder.decode(head, final=whole_file)
    except UnicodeDecodeError as error:
        # a few lines that do not decode are rejected line by line (fct_rejected_lines); a header
        # that does not, or many lines, mean the file is in another encoding
        lines = head.split(b"\n")
        failing = [i for i, line in enumerate(lines[:-1]) if not _decodes(line, encoding)]
        if failing and (failing[0] == 0 or len(failing) > max(1, len(lines) // 100)):
            fix = (
                "set encoding: latin-1 in its declaration"
                if encoding.startswith("utf")
                else "check its encoding"
            )
            return (
                "",
                f"{where} is not valid {encoding} "
                f"(byte {error.start}: {head[error.start : error.start + 1]!r}): {fix}",
            )
        text = head.decode(encoding.replace("-", "_"), errors="replace")
    except LookupError:
        return "", f"{where}: encoding {encoding!r} is not known"
    if not head:
        return "", None
    return text.lstrip("\ufeff"), None


def _decodes(line: bytes, encoding: str) -> bool:
    try:
        line.decode(encoding.replace("-", "_"))
    except UnicodeDecodeError:
        return False
    return True


def _header_problems(
    declaration: Declaration, role: str, header: list[str], lines: list[str], where: str
) -> list[str]:
    table = declaration.table
    names = [h.strip() for h in header]
    expected = [
        c.name for c in declaration.columns if role == "labelled" or c.role not in BLOCKED_ROLES
    ]
    found = {n.lower() for n in names}
    missing = [n for n in expected if n.lower() not in found]
    problems: list[str] = []
    if len(names) == 1 and missing:
        for delimiter, word in _OTHER_DELIMITERS.items():
            if delimiter != table.delimiter and delimiter in lines[0]:
                return [
                    f"{where} looks {word}-delimited (its header is one column): "
                    f"set delimiter: {delimiter!r} in its declaration"
                ]
    empty = [i + 1 for i, n in enumerate(names) if not n]
    if empty:
        hint = (
            " (a first column without a name is usually a pandas index: "
            "write the file with index=False)"
            if 1 in empty
            else ": give every column a name"
        )
        problems.append(
            f"{where}: column(s) {', '.join(map(str, empty))} of the header have no name{hint}"
        )
    duplicated = sorted({n for n in names if n and [m.lower() for m in names].count(n.lower()) > 1})
    if duplicated:
        problems.append(
            f"{where}: the header names {', '.join(duplicated)} more than once: "
            "give each column its own name"
        )
    if missing:
        unexpected = [
            n
            for n in names
            if n
            and n.lower()
            not in {e.lower() for e in expected} | {c.name.lower() for c in declaration.columns}
        ]
        renamed = f" Columns not declared: {', '.join(unexpected)} - renamed?" if unexpected else ""
        declared = {c.name.lower() for c in declaration.columns}
        if all(not any(ch.isalpha() for ch in n) for n in names if n) or not (found & declared):
            problems.append(
                f"{where}: the first line ({lines[0][:80]!r}) is not a header: "
                "the file needs a header row naming its columns"
            )
        else:
            problems.append(
                f"{where} is missing declared column(s) {', '.join(missing)}.{renamed} "
                f"The file has: {', '.join(names)}."
            )
    return problems


def _label_problems(declaration: Declaration, path: Path, raw_format: str) -> list[str]:
    """The declared positive and negative labels must occur in the target column."""
    table = declaration.table
    target = declaration.column(declaration.target)
    quoted = "'" + str(path).replace("'", "''") + "'"
    if table.file_format(raw_format) == "parquet":
        reader = f"read_parquet({quoted})"
    else:
        # leniently, by the header's own names: a line that does not parse is rejected later
        with path.open("rb") as handle:
            head = handle.read(_SNIFF_BYTES).decode(table.encoding, "replace").lstrip("\ufeff")
        names = next(csv.reader([head.splitlines()[0]], delimiter=table.delimiter))
        spec = ", ".join("'" + n.strip().replace("'", "''") + "': 'VARCHAR'" for n in names)
        # quotes are not interpreted (one unclosed quote would swallow the rest of the file);
        # they are stripped from the values below
        d = table.delimiter.replace("'", "''")
        reader = (
            f"read_csv({quoted}, header = true, auto_detect = false, columns = {{{spec}}}, "
            f"delim = '{d}', quote = '', escape = '', strict_mode = false, "
            f"null_padding = true, ignore_errors = true, "
            f"encoding = '{'utf-8' if table.encoding.startswith('utf-8') else table.encoding}')"
        )
    column = '"' + target.name.replace('"', '""') + '"'
    wanted = [label.lower() for label in (*declaration.positive, *declaration.negative)]
    found: set[str] = set()
    # a sample of rows first: the whole file is read only when a label is not in the sample
    for sample in (f"limit {_LABEL_SAMPLE_ROWS}", ""):
        try:
            found = {
                str(value).strip().strip(table.quote).strip().lower()
                for (value,) in duckdb.sql(
                    f"select distinct value from (select cast({column} as varchar) as value "
                    f"from {reader} where {column} is not null {sample})"
                ).fetchall()
            }
        except duckdb.Error:  # unreadable even leniently: the line splitter rejects what fails
            return []
        if all(label in found for label in wanted):
            return []
    problems = []
    for kind, labels in (("positive", declaration.positive), ("negative", declaration.negative)):
        absent = [label for label in labels if label.lower() not in found]
        if absent:
            problems.append(
                f"{declaration.path}: use_case.target.{kind}: label(s) {absent} never occur in "
                f"{target.name} of {path} (it has {sorted(found)[:10]})"
            )
    return problems


__all__ = ["COLUMNS", "check_file", "preflight"]
