"""The fast path of the raw splitter: a file whose every line is plainly parsable is recognised
by DuckDB (its CSV reader, in parallel) without splitting it in Python.

A line is plainly parsable when it has exactly the expected number of fields and each field is
either unquoted (no quote, delimiter or carriage return in it) or quoted as a whole with no quote
or carriage return inside. Every such line is parsable for leakproof.raw.split_lines too (the
same quoting rules, a subset of them), so when every line of a file is plain - and it is UTF-8
without a byte-order mark, ends its lines in LF only, and DuckDB decodes it - the file is read as
it is, exactly as split_lines would have decided. Anything else (a single line that is not plain,
a doubled quote, CRLF endings, another encoding, a read error) falls back to split_lines, which
rejects and explains line by line.
"""

from __future__ import annotations

import codecs
import csv
import re
from pathlib import Path

import duckdb

__all__ = ["plain_file"]

_UTF8 = {"utf-8", "utf8"}
_HEAD_BYTES = 1 << 20


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _plain_line(fields: int, delimiter: str, quote: str) -> str:
    """An RE2 pattern of a plain line with `fields` fields."""
    d = re.escape(delimiter)
    if quote:
        q = re.escape(quote)
        field = f"(?:{q}[^{q}\\r]*{q}|[^{d}{q}\\r]*)"
    else:
        field = f"[^{d}\\r]*"
    return field + (f"(?:{d}{field}){{{fields - 1}}}" if fields > 1 else "")


def plain_file(
    path: Path,
    *,
    delimiter: str,
    quote: str,
    encoding: str,
    header: bool,
    fields: int | None,
) -> tuple[str | None, int] | None:
    """(the header line or None, the number of data lines) when every line of the file is plain
    (see the module), else None: the caller splits it line by line. `fields`: the number of
    fields each line must have (None: the header's)."""
    if encoding.lower() not in _UTF8 or len(delimiter) != 1 or len(quote) > 1:
        return None
    with path.open("rb") as handle:
        head = handle.read(_HEAD_BYTES)
    if not head or head.startswith(codecs.BOM_UTF8) or b"\r" in head or 0 in head:
        return None
    first = head.split(b"\n", 1)[0]
    try:
        header_line = first.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if fields is None:
        if not header or len(first) == len(head):  # no complete header line in the head
            return None
        fields = len(next(csv.reader([header_line], delimiter=delimiter, quotechar=quote or None)))
    pattern = _plain_line(fields, delimiter, quote)
    lines = (
        f"read_csv({_quoted(str(path))}, header = false, auto_detect = false, "
        "columns = {'line': 'VARCHAR'}, delim = '\\0', quote = '', escape = '', "
        "new_line = '\\n', strict_mode = true, null_padding = false, encoding = 'utf-8')"
    )
    query = (
        "select count(*), count(*) filter (where line is null or length(line) = 0 "
        f"or not regexp_full_match(line, {_quoted(pattern)})) from {lines}"
    )
    try:
        with duckdb.connect() as connection:
            ((total, not_plain),) = connection.execute(query).fetchall()
    except duckdb.Error:
        return None
    if not_plain or total == 0 or not _line_count_matches(path, total):
        return None
    return (header_line if header else None), total - (1 if header else 0)


def _line_count_matches(path: Path, counted: int) -> bool:
    """The physical lines of the file (a final LF ends the last line) are the ones DuckDB read:
    no empty line skipped, no carriage return taken for a line break."""
    newlines, size, last = 0, 0, b""
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 24):
            newlines += chunk.count(b"\n")
            size += len(chunk)
            last = chunk[-1:]
    return counted == newlines + (1 if size and last != b"\n" else 0)
