"""The raw readers of the turned-on use cases, made once per build (stg_raw_files): every CSV file
is split into parsable and rejected lines (leakproof.raw.split_lines); the parsable rows are read
by DuckDB's CSV reader in the declared dialect, every column as text, each with its data-row
number; the rejected lines are kept with their line number, text and reason.

For each use case it defines, in the warehouse, the DuckDB table macros
  read_raw_<use case>__<table>()   its rows: the declared columns as text, source_file
                                   ('labelled' | 'scoring'), source_row_number (1 = the first
                                   line after the header, in the file as written)
  read_rejected_<use case>()       its rejected lines: source_file, line_number (physical, the
                                   header is line 1), raw_line, reject_reason_code, reject_reason
and returns one row per raw file with its line counts. A file is read as it is when every line
parses (recognised by DuckDB without splitting when every line is plain: leakproof.raw._fast);
otherwise (rejected lines, CR line endings, a byte-order mark, another encoding) from a
clean UTF-8 copy of its parsable lines in a scratch directory beside the warehouse.
"""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from leakproof.declarations import Declaration, load
from leakproof.raw._fast import plain_file
from leakproof.raw._split import Split, split_lines

__all__ = ["FILE_COLUMNS", "REJECTED_COLUMNS", "prepare_raw_files", "quoted"]

FILE_COLUMNS = [
    "use_case",
    "source_file",
    "file_path",
    "raw_lines",
    "parsed_rows",
    "rejected_lines",
    "is_rewritten",
]
REJECTED_COLUMNS = [
    "source_file",
    "line_number",
    "raw_line",
    "reject_reason_code",
    "reject_reason",
]


def quoted(text: str) -> str:
    """A SQL string literal."""
    return "'" + str(text).replace("'", "''") + "'"


def scratch_dir(session: Any) -> Path:
    """Where clean copies go: `<warehouse>.raw/` beside the DuckDB file (a temporary directory for
    an in-memory warehouse)."""
    ((path,),) = session.execute(
        "select path from duckdb_databases() where database_name = current_database()"
    ).fetchall()
    if not path:
        return Path(tempfile.mkdtemp(prefix="leakproof_raw_"))
    return Path(f"{path}.raw")


def prepare_raw_files(
    session: Any,
    project_dir: Path | str,
    use_cases: list[str],
    raw_dir: Path | str,
    raw_format: str = "csv",
) -> pd.DataFrame:
    """Define the readers of every turned-on use case (see the module); one row per raw file.
    A use case whose declaration or files the preflight refused is left out."""
    project_dir = Path(project_dir)
    raw_dir = Path(raw_dir) if Path(raw_dir).is_absolute() else project_dir / raw_dir
    scratch = scratch_dir(session)
    rows: list[dict[str, Any]] = []
    for name in use_cases:
        try:
            declaration = load(project_dir / "use_cases" / f"{name}.yml")
        except Exception:  # the preflight reports it
            continue
        readers, rejected = [], []
        for role, path in declaration.table.paths(raw_dir, raw_format).items():
            if not path.exists():
                continue
            out = scratch / name / role
            reader, counts, lines = _read_file(declaration, role, path, raw_format, out)
            if reader:
                readers.append(reader)
            rejected += lines
            rows.append({"use_case": name, "source_file": role, "file_path": str(path), **counts})
        # every declared column, even when no file with it has a parsable line (a labelled file
        # with every line rejected beside a scoring batch, which lacks the outcome columns)
        columns = [f"cast(null as varchar) as {_identifier(c.name)}" for c in declaration.columns]
        readers.append(
            f"(select {', '.join(columns)}, cast(null as varchar) as source_file, "
            "cast(null as bigint) as source_row_number where false)"
        )
        session.execute(
            f"create or replace macro read_raw_{name}__{declaration.table.name}() as table "
            + " union all by name ".join(readers)
        )
        session.execute(
            f"create or replace macro read_rejected_{name}() as table "
            + _rejected_reader(rejected, scratch / name / "rejected.parquet")
        )
    return pd.DataFrame(rows, columns=FILE_COLUMNS)


def _read_file(
    declaration: Declaration, role: str, path: Path, raw_format: str, out: Path
) -> tuple[str | None, dict[str, Any], list[dict[str, Any]]]:
    """(the reader query or None, the counts, the rejected lines) of one raw file."""
    table = declaration.table
    if path.stat().st_size == 0:  # an empty scoring batch (the preflight refuses any other)
        return None, _counts(0, 0, 0, False), []
    if table.file_format(raw_format) == "parquet":
        counted = duckdb.sql(f"select count(*) from read_parquet({quoted(str(path))})")
        ((rows,),) = counted.fetchall()
        reader = (
            f"(select *, {quoted(role)} as source_file, row_number() over () as source_row_number "
            f"from read_parquet({quoted(str(path))}))"
        )
        return reader, _counts(rows, rows, 0, False), []
    dialect = {
        "delimiter": table.delimiter,
        "quote": table.quote,
        "encoding": table.encoding,
        "header": table.header,
        "fields": None if table.header else len(declaration.columns),
    }
    plain = plain_file(path, **dialect)
    if plain is not None:  # every line parsable: read as it is (what split_lines would decide)
        header, data_lines = plain
        split = Split(header, data_lines, np.arange(1, data_lines + 1))
    else:
        split = split_lines(path.read_bytes(), **dialect)
    names = _names(split, declaration)
    rejected = [
        {
            "source_file": role,
            "line_number": r.line_number,
            "raw_line": r.raw_line,
            "reject_reason_code": r.reason_code,
            "reject_reason": r.reason,
        }
        for r in split.rejected
    ]
    counts = _counts(split.data_lines, len(split.rows), len(rejected), split.clean is not None)
    if names is None or not len(split.rows):
        return None, counts, rejected
    return _csv_reader(declaration, role, path, split, names, out), counts, rejected


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _counts(raw: int, parsed: int, rejected: int, rewritten: bool) -> dict[str, Any]:
    return {
        "raw_lines": raw,
        "parsed_rows": parsed,
        "rejected_lines": rejected,
        "is_rewritten": rewritten,
    }


def _names(split: Split, declaration: Declaration) -> list[str] | None:
    """The header's column names (the declared ones for header: false); None when they are not
    usable (a name empty or repeated: the preflight says so)."""
    if not declaration.table.header:
        return [c.name for c in declaration.columns]
    if split.header is None:
        return None
    table = declaration.table
    (header,) = csv.reader(
        [split.header.rstrip("\r")], delimiter=table.delimiter, quotechar=table.quote or None
    )
    names = [name.replace("\ufeff", "").strip() for name in header]
    lowered = [name.lower() for name in names]
    if "" in names or len(set(lowered)) != len(lowered):
        return None
    return names


def _csv_reader(
    declaration: Declaration, role: str, path: Path, split: Split, names: list[str], out: Path
) -> str:
    table = declaration.table
    source = path
    if split.clean is not None:
        out.mkdir(parents=True, exist_ok=True)
        source = out / "clean.csv"
        source.write_bytes(split.clean)
    columns = ", ".join(f"{quoted(name)}: 'VARCHAR'" for name in names)
    options = [
        f"header = {'true' if table.header else 'false'}",
        "auto_detect = false",
        f"columns = {{{columns}}}",
        f"delim = {quoted(table.delimiter)}",
        f"quote = {quoted(table.quote)}",
        f"escape = {quoted(table.escape)}",
        "new_line = '\\n'",
        f"encoding = {quoted('utf-8' if split.clean is not None else table.encoding)}",
    ]
    reader = f"read_csv({quoted(str(source))}, {', '.join(options)})"
    if split.clean is None:
        return (
            f"(select *, {quoted(role)} as source_file, row_number() over () as source_row_number "
            f"from {reader})"
        )
    numbers = out / "rows.parquet"
    frame = pd.DataFrame({"ordinal": range(1, len(split.rows) + 1), "row_number": split.rows})
    with duckdb.connect() as connection:
        connection.register("frame", frame)
        connection.execute(f"copy frame to {quoted(str(numbers))} (format parquet)")
    return (
        f"(select parsed.* exclude (ordinal), {quoted(role)} as source_file, "
        f"numbers.row_number as source_row_number from "
        f"(select *, row_number() over () as ordinal from {reader}) as parsed "
        f"inner join read_parquet({quoted(str(numbers))}) as numbers "
        f"on parsed.ordinal = numbers.ordinal)"
    )


def _rejected_reader(rejected: list[dict[str, Any]], path: Path) -> str:
    if not rejected:
        return (
            "select cast(null as varchar) as source_file, cast(null as bigint) as line_number, "
            "cast(null as varchar) as raw_line, cast(null as varchar) as reject_reason_code, "
            "cast(null as varchar) as reject_reason where false"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(rejected, columns=REJECTED_COLUMNS)
    with duckdb.connect() as connection:
        connection.register("frame", frame)
        connection.execute(f"copy frame to {quoted(str(path))} (format parquet)")
    return f"select * from read_parquet({quoted(str(path))})"
