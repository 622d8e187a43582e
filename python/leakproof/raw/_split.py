"""A strict (RFC 4180) line splitter for raw CSV files: every physical line of a file is either
a parsable data line or a rejected line with its reason. Nothing else happens to it.

A line is parsable when it decodes in the declared encoding, has no carriage return but the one of
a CRLF ending, quotes its values correctly (a quoted value opens at the start of a field, closes
before a delimiter or the end of the line, and doubles any quote inside) and has exactly the
header's number of fields. A quoted value spanning lines is not supported: each of its lines has
an odd number of quotes and is rejected as an unclosed quote. The checks are vectorised with
numpy over chunks of whole lines, so a file of millions of lines is split in about a second.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field

import numpy as np

__all__ = ["REASONS", "Rejected", "Split", "split_lines"]

# reason code -> what the reader found (a rejected line carries both)
REASONS = {
    "undecodable": "bytes that are not valid {encoding}",
    "carriage_return": "a carriage return inside the line (mixed line endings?)",
    "empty_line": "an empty line",
    "unclosed_quote": "an odd number of quotes: a quoted value is not closed (or spans lines)",
    "bad_quoting": "a quote inside an unquoted value, or text after a closing quote",
    "wrong_field_count": "{found} fields where the header has {expected}",
}
_CHUNK_BYTES = 64 * 1024 * 1024
_UTF8 = {"utf-8", "utf8", "utf-8-sig"}


@dataclass(frozen=True)
class Rejected:
    line_number: int  # physical, 1-based (the header is line 1)
    raw_line: str  # undecodable bytes shown as \\xNN
    reason_code: str
    reason: str


@dataclass
class Split:
    """The outcome of splitting one file. `rows` are the data-row numbers (1 = the first line
    after the header) of the parsable lines, in file order; `clean` is the UTF-8 text of the
    header and the parsable lines (LF endings) when the file itself cannot be read as is (it has
    rejected lines, CR endings, a byte-order mark or another encoding), else None."""

    header: str | None
    data_lines: int
    rows: np.ndarray
    rejected: list[Rejected] = field(default_factory=list)
    clean: bytes | None = None


def split_lines(
    data: bytes,
    *,
    delimiter: str = ",",
    quote: str = '"',
    encoding: str = "utf-8",
    header: bool = True,
    fields: int | None = None,
) -> Split:
    """Split the bytes of a raw file into parsable and rejected lines. `fields`: the number of
    fields every line must have (default: the header's)."""
    encoding = encoding.lower()
    rewrite = False
    text_errors: dict[int, str] = {}
    if encoding not in _UTF8:
        data, text_errors = _to_utf8(data, encoding)
        rewrite = True
    if data.startswith(codecs.BOM_UTF8):
        data, rewrite = data[len(codecs.BOM_UTF8) :], True
    arr = np.frombuffer(data, dtype=np.uint8)
    starts, ends = _line_bounds(arr)
    checked = _check(arr, starts, ends, ord(delimiter), ord(quote) if quote else None)
    if fields is None:
        fields = int(checked.fields[0]) if header and len(starts) else 0
    first = 1 if header else 0
    codes = np.full(len(starts), "", dtype=object)
    codes[checked.fields != fields] = "wrong_field_count"
    codes[checked.bad_quote] = "bad_quoting"
    codes[checked.odd_quotes] = "unclosed_quote"
    codes[ends - starts - checked.cr_end == 0] = "empty_line"
    codes[checked.inner_cr] = "carriage_return"
    for i in np.flatnonzero(checked.high):
        if i not in text_errors:
            try:
                data[starts[i] : ends[i]].decode("utf-8")
            except UnicodeDecodeError as error:
                text_errors[int(i)] = f"byte {data[starts[i] + error.start]:#04x}"
    for i in text_errors:
        if i < len(codes):
            codes[i] = "undecodable"
    codes[:first] = ""  # the header is the preflight's business
    bad = np.flatnonzero(codes != "")
    rejected = [
        Rejected(
            int(i) + 1,
            data[starts[i] : ends[i]].decode("utf-8", "backslashreplace"),
            codes[i],
            _reason(codes[i], encoding, int(checked.fields[i]), fields, text_errors.get(int(i))),
        )
        for i in bad
    ]
    good = np.ones(len(starts), dtype=bool)
    good[bad] = False
    rows = np.flatnonzero(good[first:]) + 1
    clean = None
    if rewrite or len(bad) or checked.cr_end.any():
        clean = _clean(data, starts, ends, good, checked.cr_end)
    header_text = (
        data[starts[0] : ends[0]].decode("utf-8", "replace") if header and len(starts) else None
    )
    return Split(header_text, max(len(starts) - first, 0), rows, rejected, clean)


def _reason(code: str, encoding: str, found: int, expected: int, detail: str | None) -> str:
    text = REASONS[code].format(encoding=encoding, found=found, expected=expected)
    return f"{text} ({detail})" if detail else text


def _to_utf8(data: bytes, encoding: str) -> tuple[bytes, dict[int, str]]:
    """The file re-encoded as UTF-8, and the lines (0-based) that did not decode. Single-byte
    encodings are decoded line by line; others (UTF-16) as a whole, replacing what fails."""
    try:
        return data.decode(encoding).encode("utf-8"), {}
    except UnicodeDecodeError:
        pass
    if codecs.lookup(encoding).name.startswith(("utf-16", "utf-32")):
        text = data.decode(encoding, "backslashreplace")
        lines = text.split("\n")
        errors = {i: "undecodable bytes" for i, line in enumerate(lines) if "\\x" in line}
        return text.encode("utf-8"), errors
    out, errors = [], {}
    for i, line in enumerate(data.split(b"\n")):
        try:
            out.append(line.decode(encoding).encode("utf-8"))
        except UnicodeDecodeError as error:
            errors[i] = f"byte {line[error.start]:#04x}"
            out.append(line.decode(encoding, "backslashreplace").encode("utf-8"))
    return b"\n".join(out), errors


def _line_bounds(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive, before the LF) of every physical line; a final LF ends the last
    line rather than starting an empty one."""
    newlines = np.flatnonzero(arr == 10)
    starts = np.concatenate([[0], newlines + 1]).astype(np.int64)
    ends = np.concatenate([newlines, [len(arr)]]).astype(np.int64)
    if len(arr) == 0 or starts[-1] == len(arr):
        starts, ends = starts[:-1], ends[:-1]
    return starts, ends


@dataclass
class _Checked:
    fields: np.ndarray
    odd_quotes: np.ndarray
    bad_quote: np.ndarray
    inner_cr: np.ndarray
    high: np.ndarray
    cr_end: np.ndarray


def _check(arr: np.ndarray, starts: np.ndarray, ends: np.ndarray, delim: int, quote: int | None):
    """Per-line checks, a chunk of whole lines at a time (bounded memory)."""
    parts: list[_Checked] = []
    i = 0
    while i < len(starts):
        j = int(np.searchsorted(starts, starts[i] + _CHUNK_BYTES, side="left"))
        j = max(j, i + 1)
        parts.append(_check_chunk(arr, starts[i:j], ends[i:j], delim, quote))
        i = j
    if not parts:
        empty = np.zeros(0, dtype=bool)
        return _Checked(
            np.zeros(0, dtype=np.int64), empty, empty, empty, empty, np.zeros(0, np.int64)
        )
    return _Checked(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in _Checked.__dataclass_fields__)
    )


def _check_chunk(arr, starts, ends, delim, quote) -> _Checked:
    base, stop = int(starts[0]), min(int(ends[-1]) + 1, len(arr))
    chunk = arr[base:stop]  # whole lines, each with its LF
    local = starts - base
    cr_end = ((ends > starts) & (arr[np.maximum(ends - 1, 0)] == 13)).astype(np.int64)

    def lines_of(positions: np.ndarray) -> np.ndarray:
        return np.searchsorted(local, positions, side="right") - 1

    bounds = np.append(local, len(chunk))

    def per_line(positions: np.ndarray) -> np.ndarray:
        """How many of the (sorted) positions fall on each line."""
        return np.diff(np.searchsorted(positions, bounds))

    def lines_with(mask: np.ndarray) -> np.ndarray:
        return per_line(np.flatnonzero(mask))

    carriage = lines_with(chunk == 13) - cr_end
    high = lines_with(chunk >= 0x80) > 0
    if quote is None:
        delims = lines_with(chunk == delim)
        odd = bad = np.zeros(len(starts), dtype=bool)
    else:
        is_quote = chunk == quote
        positions = np.flatnonzero(is_quote)
        odd = per_line(positions) % 2 == 1
        # the LF of a line with an odd number of quotes counts as a quote, so every line starts
        # outside quotes; `inside` is 1 after an odd number of quotes on the line
        toggles = is_quote.view(np.uint8).copy()
        line_ends = np.append(local[1:] - 1, len(chunk) - 1)
        toggles[line_ends[odd]] ^= 1
        inside = np.bitwise_xor.accumulate(toggles)
        outside_delims = (chunk == delim) & (inside == 0)
        delims = lines_with(outside_delims)
        # a quote with inside == 1 opens a value (or is the second of a doubled pair): it must
        # follow the line start, a delimiter or a quote; one with inside == 0 closes (or is the
        # first of a pair): it must precede the line end, a delimiter or a quote
        opening = inside[positions] == 1
        previous = chunk[np.maximum(positions - 1, 0)]
        following = chunk[np.minimum(positions + 1, len(chunk) - 1)]
        at_start = (positions == 0) | (previous == 10) | (previous == delim) | (previous == quote)
        at_end = (positions + 1 >= len(chunk)) | (following == 10) | (following == 13)
        at_end |= (following == delim) | (following == quote)
        wrong = positions[np.where(opening, ~at_start, ~at_end)]
        bad = np.zeros(len(starts), dtype=bool)
        bad[lines_of(wrong)] = True
    return _Checked(delims + 1, odd, bad, carriage > 0, high, cr_end)


def _clean(
    data: bytes, starts: np.ndarray, ends: np.ndarray, good: np.ndarray, cr_end: np.ndarray
) -> bytes:
    """The parsable lines (the header included), each ending in one LF (a CR before it dropped)."""
    arr = np.frombuffer(data, dtype=np.uint8)
    keep = np.repeat(good, np.diff(np.append(starts, len(arr))))
    keep[(ends - 1)[cr_end == 1]] = False
    return arr[keep].tobytes()
