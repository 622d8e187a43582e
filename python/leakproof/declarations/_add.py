"""`leakproof use-case add`: sniff a labelled file and write a declaration to edit.

The file's dialect (encoding, delimiter, quote) and every column's type are read off the data; the
target column gets role target with its labels (0/1, yes/no, true/false and Y/N are recognised;
otherwise name the positive label), a column that looks like an id (its name says so and its
values are unique) becomes the grain, and every other column is a `feature` - low-cardinality
text columns with their observed values as accepted_values, so new values are flagged. The
analytics dimensions are those categorical features. Edit the roles (post_outcome, treatment,
time, ...) before building; `leakproof use-case check` validates the result.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import yaml

from leakproof.declarations._model import snake_case
from leakproof.declarations._scaffold import write_thin_files
from leakproof.exceptions import DeclarationError

SAMPLE_BYTES = 256 * 1024
MAX_CATEGORIES = 30
_DELIMITERS = (",", ";", "\t", "|")
_ID_NAME = re.compile(r"(^id$|_id$|^id_|[a-z]id$|^key$|_key$)", re.IGNORECASE)
_LABEL_PAIRS = (("1", "0"), ("yes", "no"), ("true", "false"), ("y", "n"), ("t", "f"))
_INTEGER = re.compile(r"^[+-]?[0-9]+$")
_NUMBER = re.compile(r"^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]+)?$")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


@dataclass(frozen=True)
class Dialect:
    encoding: str
    delimiter: str
    quote: str


def sniff_dialect(path: Path) -> Dialect:
    """The encoding (a byte-order mark, else UTF-8 if it decodes, else Latin-1), the delimiter
    (the candidate that splits every sampled line into the same number of fields, the most) and
    the quote character of a CSV file."""
    head = path.read_bytes()[:SAMPLE_BYTES]
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        try:
            head.decode("utf-8")
            encoding = "utf-8"
        except UnicodeDecodeError as error:
            # a cut multi-byte character at the end of the sample is not an encoding problem
            encoding = "utf-8" if error.start >= len(head) - 3 else "latin-1"
    text = head.decode(encoding.replace("-", "_"), errors="ignore").lstrip("\ufeff")
    lines = [line for line in text.splitlines()[:200] if line.strip()]
    if len(lines) > 1:
        lines = lines[:-1]  # the sample may cut the last line
    best, best_fields = ",", 0
    for delimiter in _DELIMITERS:
        counts = {
            len(row) for row in csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter)
        }
        if len(counts) == 1 and (fields := counts.pop()) > best_fields:
            best, best_fields = delimiter, fields
    if best_fields < 2:
        raise DeclarationError(
            [f"{path}: could not find the delimiter (tried , ; tab |): is it a CSV with a header?"]
        )
    return Dialect(encoding, best, '"')


def _column_type(values: list[str]) -> str:
    present = [v for v in values if v != ""]
    if not present:
        return "varchar"
    if all(_INTEGER.match(v) for v in present):
        return "bigint" if any(abs(int(v)) > 2**31 - 1 for v in present) else "integer"
    if all(_NUMBER.match(v) for v in present):
        return "double"
    if all(v.lower() in ("true", "false") for v in present):
        return "boolean"
    if all(_DATE.match(v) for v in present):
        return "date"
    return "varchar"


def read_columns(path: Path, dialect: Dialect | None) -> dict[str, list[str]]:
    """Every column of the file as text (empty string for missing), read by DuckDB."""
    quoted = "'" + str(path).replace("'", "''") + "'"
    if dialect is None:
        sql = f"select * from read_parquet({quoted})"
        frame = duckdb.sql(sql).to_df()
        return {c: ["" if v is None else str(v) for v in frame[c].astype(object)] for c in frame}
    escape = dialect.quote.replace("'", "''")
    sql = (
        f"select * from read_csv({quoted}, header = true, all_varchar = true, "
        f"delim = '{dialect.delimiter}', quote = '{escape}', escape = '{escape}', "
        f"encoding = '{dialect.encoding}')"
    )
    relation = duckdb.sql(sql)
    table = relation.to_arrow_table()
    return {
        name: ["" if v is None else str(v).strip() for v in table.column(name).to_pylist()]
        for name in table.column_names
    }


def _labels(values: list[str], positive: str | None, target: str, path: Path) -> tuple[list, list]:
    observed = sorted({v for v in values if v != ""})
    if positive is not None:
        if positive not in observed:
            raise DeclarationError(
                [
                    f"{path}: column {target} never has the value {positive!r} "
                    f"(it has {observed[:10]})"
                ]
            )
        return [positive], [v for v in observed if v != positive]
    lowered = {v.lower(): v for v in observed}
    for yes, no in _LABEL_PAIRS:
        if set(lowered) == {yes, no}:
            return [lowered[yes]], [lowered[no]]
    raise DeclarationError(
        [
            f"{path}: cannot tell the positive label of {target} from its values {observed[:10]}: "
            "pass --positive VALUE"
        ]
    )


def declaration(
    name: str, path: Path, target: str, positive: str | None = None
) -> tuple[dict, list[str]]:
    """The declaration of `name` over the file `path` (a dict to write as YAML), and notes for
    the user on what was inferred."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise DeclarationError([f"use case name {name!r} must be a lower-case identifier"])
    parquet = path.suffix.lower() == ".parquet"
    dialect = None if parquet else sniff_dialect(path)
    columns = read_columns(path, dialect)
    by_lower = {c.lower(): c for c in columns}
    if target.lower() not in by_lower:
        raise DeclarationError([f"{path}: no column {target!r}; the file has {list(columns)}"])
    target = by_lower[target.lower()]
    positive_labels, negative_labels = _labels(columns[target], positive, target, path)
    notes: list[str] = []
    rows = len(columns[target])
    grain: list[str] = []
    specs = []
    dimensions = []
    for column, values in columns.items():
        data_type = _column_type(values)
        meta: dict = {"role": "feature"}
        if column == target:
            meta = {"role": "target"}
            data_type = "varchar" if data_type == "boolean" else data_type
            if "" in values:
                meta["required"] = False
                notes.append(f"{target} is empty on some rows: they are scored, not trained on")
        elif _ID_NAME.search(column) and "" not in values and len(set(values)) == rows:
            meta = {"role": "id"}
            grain.append(column)
        else:
            if "" in values:
                meta["required"] = False
            distinct = sorted({v for v in values if v != ""})
            if data_type == "varchar" and len(distinct) <= MAX_CATEGORIES:
                meta["accepted_values"] = distinct
                dimensions.append(snake_case(column))
        specs.append({"name": column, "data_type": data_type, "config": {"meta": meta}})
    if not grain:
        notes.append("no id column found: the row number is the grain")
    notes.append(
        "every other column is a feature: mark post-outcome / target-derived columns in "
        f"use_cases/{name}.yml"
    )
    table_meta: dict = {"file": path.name}
    if dialect is not None:
        if dialect.delimiter != ",":
            table_meta["delimiter"] = dialect.delimiter
        if dialect.encoding != "utf-8":
            table_meta["encoding"] = dialect.encoding
    block = {
        "grain": grain,
        "target": {"column": target, "positive": positive_labels, "negative": negative_labels},
        "split": {"method": "stratified", "test_fraction": 0.2, "seed": 42, "folds": 5},
        "analytics": {"dimensions": dimensions},
    }
    document = {
        "version": 2,
        "sources": [
            {
                "name": name,
                "description": f"Use case {name}: {path.name}, target {target}.",
                "config": {"meta": {"use_case": block}},
                "tables": [
                    {
                        "name": _table_name(path),
                        "description": f"The rows of {path.name}.",
                        "config": {"meta": table_meta},
                        "columns": specs,
                    }
                ],
            }
        ],
    }
    return document, notes


def _table_name(path: Path) -> str:
    stem = re.sub(r"[^a-z0-9_]+", "_", path.stem.lower()).strip("_")
    return stem if re.match(r"[a-z_]", stem or "") else f"t_{stem}"


class _Dumper(yaml.SafeDumper):
    """Quotes every string that YAML 1.1 would read as something else (yes, no, on, 1e3, ...)."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    try:
        plain = value == "" or yaml.safe_load(value) == value
    except yaml.YAMLError:
        plain = False
    style = None if plain else '"'
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def add_use_case(
    project_dir: Path, name: str, data: Path, target: str, positive: str | None = None
) -> tuple[list[Path], list[str]]:
    """Write use_cases/<name>.yml and the use case's thin dbt files, and turn it on in
    dbt_project.yml; returns the files written and the notes."""
    path = project_dir / "use_cases" / f"{name}.yml"
    if path.exists():
        raise DeclarationError([f"{path} exists: edit it, or remove it to start again"])
    document, notes = declaration(name, data, target, positive)
    header = (
        f"# Use case {name}, written by `leakproof use-case add` from {data.name}. Edit the roles\n"
        "# (post_outcome, target_derived, time, treatment, ...) and rules, then run\n"
        '# `leakproof use-case check`. Every key: README, "Bring your own data".\n'
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True)
    path.write_text(header + text, encoding="utf-8")
    written = [
        path,
        *write_thin_files(project_dir, name, document["sources"][0]["tables"][0]["name"]),
    ]
    if turn_on(project_dir, name):
        written.append(project_dir / "dbt_project.yml")
    return written, notes


def turn_on(project_dir: Path, name: str) -> bool:
    """Add `name` to var use_cases in dbt_project.yml (one line; comments kept). False when it
    is already there."""
    path = project_dir / "dbt_project.yml"
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(r"^(\s*use_cases:\s*\[)([^\]]*)(\])", re.MULTILINE)
    match = pattern.search(text)
    if match is None:
        raise DeclarationError([f"{path}: no `use_cases: [...]` line under vars to add {name} to"])
    names = [n.strip() for n in match.group(2).split(",") if n.strip()]
    if name in names:
        return False
    names.append(name)
    text = (
        text[: match.start()]
        + f"{match.group(1)}{', '.join(names)}{match.group(3)}"
        + text[match.end() :]
    )
    path.write_text(text, encoding="utf-8")
    return True


__all__ = ["Dialect", "add_use_case", "declaration", "read_columns", "sniff_dialect", "turn_on"]
