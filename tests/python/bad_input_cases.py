# ruff: noqa: E501 - the case tables below read best one case per line
"""The malformed raw files of test_bad_input: each case is a small copy of the marketing use case
(its declaration, under another name) whose files are broken in one way, and what must happen.

A case's labelled file starts from ROWS valid rows (CLEAN) and edits its lines; `expect` is the
outcome at line TARGET (the physical line; the header is line 1):
  ('rejected', code)      the line is in fct_rejected_lines with that reason code
  ('all_rejected', code)  every data line is, and nothing is staged from the file
  ('quarantined', reason) its row is in fct_quarantined_rows with those reasons
  ('staged', None)        every line is staged (the file is read as it is meant)
  ('collapsed', None)     the line is collapsed as an exact duplicate of the line before it
  ('stops', phrase)       the build stops at the preflight with a message naming the file
  ('random', None)        seeded random corruption: only conservation is asserted
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Callable
from dataclasses import dataclass, field

ROWS = 200
TARGET = 6  # the physical line every designed case breaks (data row 5)

HEADER = [
    "CustomerID", "Age", "Gender", "Income", "CampaignChannel", "CampaignType", "AdSpend",
    "ClickThroughRate", "ConversionRate", "WebsiteVisits", "PagesPerVisit", "TimeOnSite",
    "SocialShares", "EmailOpens", "EmailClicks", "PreviousPurchases", "LoyaltyPoints",
    "AdvertisingPlatform", "AdvertisingTool", "Conversion",
]  # fmt: skip
OUTCOMES = ("ConversionRate", "Conversion")
CHANNELS = ["Email", "PPC", "Referral", "SEO", "Social Media", "Display", "Affiliate"]


def clean_row(i: int) -> dict[str, str]:
    """A valid customer row, different for every i."""
    return {
        "CustomerID": str(i),
        "Age": str(20 + i % 50),
        "Gender": ("Male", "Female")[i % 2],
        "Income": str(30000 + 250 * i),
        "CampaignChannel": CHANNELS[i % 7],
        "CampaignType": ("Awareness", "Consideration", "Conversion", "Retention")[i % 4],
        "AdSpend": f"{100 + i * 1.5:.2f}",
        "ClickThroughRate": f"{(i % 90) / 100:.2f}",
        "ConversionRate": "0.05",
        "WebsiteVisits": str(i % 13),
        "PagesPerVisit": "2.5",
        "TimeOnSite": "3.0",
        "SocialShares": str(i % 5),
        "EmailOpens": str(i % 7),
        "EmailClicks": str(i % 3),
        "PreviousPurchases": str(i % 4),
        "LoyaltyPoints": str(10 * i),
        "AdvertisingPlatform": "Facebook",
        "AdvertisingTool": "Meta Ads Manager",
        "Conversion": str(int(i % 10 == 0)),
    }


def to_lines(rows: list[dict[str, str]], header: list[str], delimiter: str = ",") -> list[bytes]:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([[row[name] for name in header] for row in rows])
    return [line.encode() for line in out.getvalue().split("\n")[:-1]]


def labelled_lines() -> list[bytes]:
    return to_lines([clean_row(i) for i in range(1, ROWS + 1)], HEADER)


def scoring_lines() -> list[bytes]:
    header = [h for h in HEADER if h not in OUTCOMES]
    return to_lines([clean_row(i) for i in range(10_001, 10_021)], header)


def join(lines: list[bytes]) -> bytes:
    return b"".join(line + b"\n" for line in lines)


Edit = Callable[[list[bytes]], bytes]


def line_edit(change: Callable[[bytes], bytes]) -> Edit:
    """Change line TARGET."""

    def edit(lines: list[bytes]) -> bytes:
        lines = list(lines)
        lines[TARGET - 1] = change(lines[TARGET - 1])
        return join(lines)

    return edit


def value_edit(column: str, value: str) -> Edit:
    """Set one value of line TARGET (written as csv would write it)."""
    row = clean_row(TARGET - 1)
    row[column] = value
    (line,) = to_lines([row], HEADER)[1:]
    return line_edit(lambda _: line)


def whole(change: Callable[[list[bytes]], bytes]) -> Edit:
    return change


def random_corruption(seed: int) -> Edit:
    """Seeded: 8 data lines each get a random byte flipped, a character deleted, a quote, a
    delimiter or a CR inserted, are cut short, or doubled."""

    def edit(lines: list[bytes]) -> bytes:
        rng = random.Random(seed)
        lines = list(lines)
        for number in sorted(rng.sample(range(2, len(lines) + 1), 8), reverse=True):
            line = bytearray(lines[number - 1])
            at = rng.randrange(len(line))
            kind = rng.choice(["flip", "delete", "quote", "delimiter", "cr", "cut", "double"])
            if kind == "flip":
                line[at] = rng.randrange(256)
            elif kind == "delete":
                del line[at]
            elif kind in ("quote", "delimiter", "cr"):
                line.insert(at, {"quote": 34, "delimiter": 44, "cr": 13}[kind])
            elif kind == "cut":
                line = line[:at]
            else:
                lines.insert(number, bytes(line))
            lines[number - 1] = bytes(line)
        return join(lines)

    return edit


@dataclass(frozen=True)
class Case:
    name: str  # the use case (and file) name
    input: str  # what is wrong, as the README says it
    labelled: Edit | None  # None: the clean file
    expect: tuple[str, str | None]
    scoring: bytes | None = None  # None: the clean scoring batch
    meta: dict[str, str] = field(default_factory=dict)  # declared dialect


def crlf_appended(lines: list[bytes]) -> bytes:
    extra = [clean_row(i) for i in range(ROWS + 1, ROWS + 4)]
    return join(lines) + b"".join(line + b"\r\n" for line in to_lines(extra, HEADER)[1:])


def semicolon_decimal_comma(lines: list[bytes]) -> bytes:
    rows = [clean_row(i) for i in range(1, ROWS + 1)]
    for row in rows:
        for name in ("AdSpend", "ClickThroughRate", "ConversionRate", "PagesPerVisit"):
            row[name] = row[name].replace(".", ",")
    return join(to_lines(rows, HEADER, delimiter=";"))


def latin_1(lines: list[bytes]) -> bytes:
    return join(lines).replace(b"Awareness", "Awaréness".encode("latin-1"))


def edit_header(change: Callable[[bytes], bytes]) -> Edit:
    def edit(lines: list[bytes]) -> bytes:
        return join([change(lines[0]), *lines[1:]])

    return edit


def reorder_as_data(lines: list[bytes]) -> bytes:
    return join(lines[1:])


def drop_column(name: str) -> Edit:
    def edit(lines: list[bytes]) -> bytes:
        rows = [clean_row(i) for i in range(1, ROWS + 1)]
        return join(to_lines(rows, [h for h in HEADER if h != name]))

    return edit


REJECTED = ("rejected",)
BUILDS = [
    Case("bad_clean", "a clean file (the control)", None, ("staged", None)),
    Case("bad_extra_field", "a line with an extra field", line_edit(lambda x: x + b",x"), (*REJECTED, "wrong_field_count")),
    Case("bad_missing_field", "a line with a field missing", line_edit(lambda x: x.rsplit(b",", 1)[0]), (*REJECTED, "wrong_field_count")),
    Case("bad_trailing_comma", "a trailing delimiter on a line", line_edit(lambda x: x + b","), (*REJECTED, "wrong_field_count")),
    Case("bad_unclosed_quote", "an unclosed quote", line_edit(lambda x: x.replace(b",", b',"', 1)), (*REJECTED, "unclosed_quote")),
    Case("bad_after_quote", "text after a closing quote", line_edit(lambda x: x.replace(b"Facebook", b'"Face"book')), (*REJECTED, "bad_quoting")),
    Case("bad_inner_quote", "a quote inside an unquoted value", line_edit(lambda x: x.replace(b"Facebook", b'Face""book')), (*REJECTED, "bad_quoting")),
    Case("bad_bytes", "bytes that are not valid UTF-8 on a line", line_edit(lambda x: x.replace(b"Facebook", b"Faceb\xf6ok")), (*REJECTED, "undecodable")),
    Case("bad_inner_cr", "a carriage return inside a line", line_edit(lambda x: x.replace(b",", b"\r", 1)), (*REJECTED, "carriage_return")),
    Case("bad_empty_line", "an empty line", line_edit(lambda x: b""), (*REJECTED, "empty_line")),
    Case("bad_every_line", "every data line broken (the header intact)", whole(lambda x: join([x[0], *[line + b",x" for line in x[1:]]])), ("all_rejected", "wrong_field_count")),
    Case("bad_crlf_appended", "CRLF lines appended to an LF file", crlf_appended, ("staged", None)),
    Case("bad_crlf", "a file with CRLF line endings", whole(lambda lines: b"".join(x + b"\r\n" for x in lines)), ("staged", None)),
    Case("bad_bom", "a UTF-8 byte-order mark", whole(lambda lines: b"\xef\xbb\xbf" + join(lines)), ("staged", None)),
    Case("bad_fraction", 'a fraction in an integer ("34.7")', value_edit("Age", "34.7"), ("quarantined", "unparseable_value:Age")),
    Case("bad_label_fraction", 'a fraction for a 0 / 1 target ("0.6")', value_edit("Conversion", "0.6"), ("quarantined", "unknown_label:Conversion")),
    Case("bad_nan", '"NaN" in a number column', value_edit("Income", "NaN"), ("quarantined", "unparseable_value:Income")),
    Case("bad_inf", '"inf" in a number column', value_edit("Income", "inf"), ("quarantined", "unparseable_value:Income")),
    Case("bad_overflow", '"1e400" (not a finite double)', value_edit("Income", "1e400"), ("quarantined", "unparseable_value:Income")),
    Case("bad_thousands", 'a thousands separator ("50,000")', value_edit("Income", "50,000"), ("quarantined", "unparseable_value:Income")),
    Case("bad_hex", 'a hexadecimal integer ("0x1F")', value_edit("WebsiteVisits", "0x1F"), ("quarantined", "unparseable_value:WebsiteVisits")),
    Case("bad_range", "a value outside the declared range", value_edit("Age", "-3"), ("quarantined", "out_of_range:Age")),
    Case("bad_label", "a target label outside the declared ones", value_edit("Conversion", "yes"), ("quarantined", "unknown_label:Conversion")),
    Case("bad_missing", "a missing required value", value_edit("Age", ""), ("quarantined", "missing_value:Age")),
    Case("bad_category", "a category outside the declared ones", value_edit("CampaignType", "Brand Lift"), ("staged", None)),
    Case("bad_same_id", "two different rows with one id", value_edit("CustomerID", "4"), ("quarantined", "duplicate_key:CustomerID")),
    Case("bad_duplicate", "an exact duplicate line", whole(lambda x: join([*x[:TARGET], *x[TARGET - 1 :]])), ("collapsed", None)),
    Case("bad_empty_scoring", "an empty (0-byte) scoring batch", None, ("staged", None), scoring=b""),
    Case("bad_header_only_scoring", "a scoring batch with a header and no rows", None, ("staged", None), scoring=join(scoring_lines()[:1])),
    Case("bad_latin_1", "a Latin-1 file, declared `encoding: latin-1`", latin_1, ("staged", None), meta={"encoding": "latin-1"}),
    Case("bad_semicolon_declared", "`;`-delimited with decimal commas, declared so", semicolon_decimal_comma, ("staged", None), scoring=b"", meta={"delimiter": ";", "decimal": ","}),
    *[Case(f"bad_random_{seed}", "random corruption of data lines (seeded)", random_corruption(seed), ("random", None)) for seed in range(6)],
]  # fmt: skip
STOPS = [
    Case("stop_duplicate_header", "a column named twice in the header", edit_header(lambda x: x.replace(b"Age", b"Gender")), ("stops", "the header names Gender more than once")),
    Case("stop_unnamed_first", "an unnamed first column (a pandas index)", edit_header(lambda x: b"," + x), ("stops", "have no name (a first column without a name is usually a pandas index")),
    Case("stop_trailing_comma", "a trailing delimiter in the header", edit_header(lambda x: x + b","), ("stops", "have no name: give every column a name")),
    Case("stop_semicolon", "a `;`-delimited file declared `,`", semicolon_decimal_comma, ("stops", "looks semicolon-delimited (its header is one column): set delimiter: ';'")),
    Case("stop_utf16", "a UTF-16 file declared UTF-8", whole(lambda lines: join(lines).decode().encode("utf-16")), ("stops", "is UTF-16 (it starts with a UTF-16 byte-order mark): set encoding: utf-16")),
    Case("stop_latin_1", "a Latin-1 file declared UTF-8", latin_1, ("stops", "set encoding: latin-1 in its declaration")),
    Case("stop_missing_column", "a declared column missing", drop_column("AdSpend"), ("stops", "is missing declared column(s) AdSpend")),
    Case("stop_empty_file", "an empty (0-byte) labelled file", whole(lambda lines: b""), ("stops", "is empty (0 bytes): no header and no rows")),
    Case("stop_header_only", "a labelled file with a header and no rows", whole(lambda lines: join(lines[:1])), ("stops", "has a header but no data rows")),
    Case("stop_no_header", "no header line", reorder_as_data, ("stops", "is not a header: the file needs a header row naming its columns")),
]  # fmt: skip


def outcome_text(kind: str, detail: str | None, reason: str | None = None) -> str:
    """What happens, as the README's table says it."""
    if kind == "rejected":
        return f"the line is rejected (`{detail}`: {reason}); the rest of the file is read"
    if kind == "quarantined":
        return f"the row is quarantined (`{detail}`), every original value kept"
    if kind == "all_rejected":
        return f"every line rejected (`{detail}`); the build goes on with no rows from the file"
    if kind == "collapsed":
        return "kept once, counted in `duplicate_count` and `duplicates_collapsed`"
    if kind == "stops":
        return f"the build stops before reading a row: <file> ... {detail}"
    if kind == "random":
        return "each broken line rejected or its row quarantined; every line accounted for"
    return "read as meant: every row staged"


def table(outcomes: dict[str, str]) -> str:
    """The README's "What happens to bad input" table, from the observed outcomes by input."""
    lines = ["| input | what happens |", "| --- | --- |"]
    lines += [f"| {text} | {outcome} |" for text, outcome in outcomes.items()]
    return "\n".join(lines)
