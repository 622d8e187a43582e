"""Read one use-case declaration (`use_cases/<name>.yml`) into a frozen `Declaration`.

A declaration is a dbt properties file declaring one dbt source, so dbt reads it natively (the
macros in `macros/use_cases/` read the same keys from dbt's graph) and this module reads it with
PyYAML. The use case's own keys sit under the source's `config.meta.use_case`; the raw files
under each table's `config.meta`; each column's role and validation rules under the column's
`config.meta`. Every problem is collected (not only the first) and reported as
`<file>: <key>: <problem>`; unknown keys are problems, never ignored.
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Any

import yaml

from leakproof.declarations import _sections as sections
from leakproof.declarations._model import (
    COLUMN_RULES,
    DATA_TYPES,
    NUMERIC_TYPES,
    ROLES,
    TABLE_KEYS,
    USE_CASE_KEYS,
    Column,
    Declaration,
    RawTable,
    snake_case,
)
from leakproof.declarations._reading import (
    IDENTIFIER,
    Problems,
    as_label,
    as_mapping,
    as_names,
    as_number,
    as_values,
)
from leakproof.exceptions import DeclarationError


def load(path: Path | str) -> Declaration:
    """The declaration in `path`; DeclarationError lists every problem found."""
    path = Path(path)
    problems = Problems(path)
    try:
        # libyaml's loader when PyYAML has it (the same documents, ten times faster)
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    except (OSError, yaml.YAMLError) as error:
        raise DeclarationError([f"{path}: cannot be read as YAML: {error}"]) from error
    declaration = _declaration(document, path, problems)
    if problems.items or declaration is None:
        raise DeclarationError(problems.items or [f"{path}: not a declaration"])
    return declaration


def _declaration(document: Any, path: Path, problems: Problems) -> Declaration | None:
    document = as_mapping(document, "(file)", problems)
    sources = document.get("sources")
    if not isinstance(sources, list) or len(sources) != 1:
        problems.add("sources", "a declaration declares exactly one source (the use case)")
        return None
    source = as_mapping(sources[0], "sources[0]", problems)
    name = str(source.get("name", ""))
    if not IDENTIFIER.match(name):
        problems.add("sources[0].name", f"{name!r} must be a lower-case identifier (a-z, 0-9, _)")
    if path.stem != name:
        problems.add("sources[0].name", f"{name!r} must match the file name {path.stem!r}")
    config = as_mapping(source.get("config"), "sources[0].config", problems)
    meta = as_mapping(config.get("meta"), "sources[0].config.meta", problems)
    if "use_case" not in meta:
        problems.add("sources[0].config.meta.use_case", "missing: the use case's keys go here")
    block = as_mapping(meta.get("use_case"), "use_case", problems)
    problems.unknown("use_case", block, USE_CASE_KEYS)
    table, columns = _table(source.get("tables"), problems)
    resolver = sections.Resolver(columns, problems)
    target_key = "use_case.target"
    target = as_mapping(block.get("target"), target_key, problems)
    problems.unknown(target_key, target, {"column", "positive", "negative"})
    target_column = resolver.column(target.get("column"), f"{target_key}.column", roles={"target"})
    targets = [c for c in columns if c.role == "target"]
    if len(targets) != 1:
        problems.add("columns", f"exactly one column must have role target, found {len(targets)}")
    # the labels as YAML read them (not as text): an unquoted yes / no is a boolean to refuse
    positive = [
        label
        for v in as_values(target.get("positive"))
        if (label := as_label(v, f"{target_key}.positive", problems)) is not None
    ]
    negative = [
        label
        for v in as_values(target.get("negative"))
        if (label := as_label(v, f"{target_key}.negative", problems)) is not None
    ]
    if not positive:
        problems.add(f"{target_key}.positive", "name at least one positive label")
    if not negative:
        problems.add(f"{target_key}.negative", "name at least one negative label")
    if set(positive) & set(negative):
        problems.add(
            target_key,
            f"labels both positive and negative: {sorted(set(positive) & set(negative))}",
        )
    grain = tuple(
        resolver.column(n, "use_case.grain", roles={"id", "time"}) or ""
        for n in as_names(block.get("grain"))
    )
    split = sections.split(block.get("split"), resolver, problems)
    segments = sections.segments(block.get("segments"), resolver, problems)
    resolver.add_derived(segments, "segment")
    impute, outliers = sections.prepare(block.get("prepare"), resolver, problems)
    resolver.add_derived({f"{snake_case(c)}_capped": None for c in outliers}, "capped")
    aggregates = sections.aggregates(block.get("aggregates"), resolver, problems)
    encodings = sections.encodings(block.get("target_encodings"), resolver, problems)
    resolver.add_derived(aggregates, "aggregate")
    resolver.add_derived(encodings, "target encoding")
    derived = sections.derived(block.get("derived"), resolver, problems)
    resolver.add_derived(derived, "derived")
    analytics = sections.analytics(block.get("analytics"), resolver, problems)
    what_if = sections.what_if(block.get("what_if"), resolver, problems)
    truth = sections.truth(block.get("truth"), resolver, problems)
    gates = sections.gates(block.get("gates"), problems)
    sections.model(block.get("model"), problems)
    for key in ("audit", "targeting"):
        as_mapping(block.get(key), f"use_case.{key}", problems)
    return Declaration(
        name=name,
        path=path,
        description=str(source.get("description") or "").strip(),
        table=table or RawTable(name="", file=""),
        columns=tuple(columns),
        grain=grain,
        target=target_column or "",
        positive=tuple(positive),
        negative=tuple(negative),
        split=split,
        impute=impute,
        outliers=outliers,
        segments=segments,
        derived=derived,
        aggregates=aggregates,
        target_encodings=encodings,
        dimensions=analytics["dimensions"],
        spend=analytics["spend"],
        reallocate=analytics["reallocate"],
        reallocation_share=analytics["reallocation_share"],
        what_if=what_if,
        truth=truth,
        model=dict(block.get("model") or {}),
        gates=gates,
        audit=dict(block.get("audit") or {}),
        targeting=dict(block.get("targeting") or {}),
    )


def _table(value: Any, problems: Problems) -> tuple[RawTable | None, list[Column]]:
    if not isinstance(value, list) or len(value) != 1:
        problems.add("tables", "declare exactly one table: the raw rows (its meta names the files)")
        return None, []
    key = "tables[0]"
    table = as_mapping(value[0], key, problems)
    config = as_mapping(table.get("config"), f"{key}.config", problems)
    meta = as_mapping(config.get("meta"), f"{key}.config.meta", problems)
    problems.unknown(f"{key}.config.meta", meta, TABLE_KEYS)
    if "file" not in meta:
        problems.add(f"{key}.config.meta.file", "missing: the raw file (relative to var raw_dir)")
    for character in ("delimiter", "quote", "escape", "decimal"):
        if character in meta and len(str(meta[character])) != 1:
            problems.add(f"{key}.config.meta.{character}", "must be one character")
    raw = RawTable(
        name=str(table.get("name", "")),
        file=str(meta.get("file", "")),
        scoring_file=str(meta["scoring_file"]) if meta.get("scoring_file") else None,
        format=str(meta.get("format", "")),
        delimiter=str(meta.get("delimiter", ",")),
        quote=str(meta.get("quote", '"')),
        escape=str(meta.get("escape", meta.get("quote", '"'))),
        encoding=str(meta.get("encoding", "utf-8")).lower(),
        header=bool(meta.get("header", True)),
        decimal=str(meta.get("decimal", ".")),
        description=str(table.get("description") or "").strip(),
    )
    try:
        codecs.lookup(raw.encoding)
    except LookupError:
        problems.add(f"{key}.config.meta.encoding", f"{raw.encoding!r} is not a known encoding")
    if raw.escape != raw.quote:
        problems.add(
            f"{key}.config.meta.escape",
            "only the RFC 4180 escape is read (a quote inside a quoted value doubled): "
            "drop escape, or make it the quote",
        )
    if len({raw.delimiter, raw.quote, raw.decimal}) < 3 and raw.decimal != ".":
        problems.add(
            f"{key}.config.meta.decimal",
            "the decimal separator must differ from the delimiter and the quote",
        )
    if raw.delimiter == raw.quote:
        problems.add(f"{key}.config.meta.delimiter", "the delimiter must differ from the quote")
    if raw.format not in ("", "csv", "parquet"):
        problems.add(f"{key}.config.meta.format", "must be csv or parquet")
    if not IDENTIFIER.match(raw.name):
        problems.add(f"{key}.name", f"{raw.name!r} must be a lower-case identifier")
    return raw, _columns(table.get("columns"), key, problems)


def _columns(value: Any, table_key: str, problems: Problems) -> list[Column]:
    if not isinstance(value, list) or not value:
        problems.add(f"{table_key}.columns", "list every column of the file")
        return []
    columns: list[Column] = []
    seen: dict[str, str] = {}
    for i, raw in enumerate(value):
        spec = as_mapping(raw, f"{table_key}.columns[{i}]", problems)
        name = str(spec.get("name", ""))
        key = f"columns.{name or i}"
        meta = as_mapping(
            as_mapping(spec.get("config"), f"{key}.config", problems).get("meta"),
            f"{key}.config.meta",
            problems,
        )
        problems.unknown(f"{key}.config.meta", meta, COLUMN_RULES | {"role"})
        column = snake_case(name)
        if not column:
            problems.add(key, "a column needs a name")
            continue
        if column in seen:
            problems.add(key, f"{name!r} and {seen[column]!r} are both {column!r} in snake_case")
        seen[column] = name
        data_type = str(spec.get("data_type") or "varchar").lower()
        if data_type not in DATA_TYPES:
            problems.add(f"{key}.data_type", f"{data_type!r} is not one of {', '.join(DATA_TYPES)}")
        role = str(meta.get("role", "feature"))
        if role not in ROLES:
            problems.add(f"{key}.role", f"{role!r} is not one of {', '.join(ROLES)}")
        low = as_number(meta.get("min"), f"{key}.min", problems)
        high = as_number(meta.get("max"), f"{key}.max", problems)
        if low is not None and high is not None and low > high:
            problems.add(key, f"min {low:g} is above max {high:g}")
        if (low is not None or high is not None) and data_type not in NUMERIC_TYPES:
            problems.add(key, f"min / max need a numeric data_type, not {data_type}")
        accepted = [
            label
            for v in as_values(meta.get("accepted_values"))
            if (label := as_label(v, f"{key}.accepted_values", problems)) is not None
        ]
        aliases = {
            str(k): str(v)
            for k, v in as_mapping(meta.get("aliases"), f"{key}.aliases", problems).items()
        }
        for alias, canonical in aliases.items():
            if canonical not in accepted:
                problems.add(
                    f"{key}.aliases.{alias}",
                    f"maps to {canonical!r}, which is not an accepted value",
                )
        if aliases and not accepted:
            problems.add(f"{key}.aliases", "aliases need accepted_values")
        unknown = str(meta.get("unknown", "keep"))
        if unknown not in ("keep", "quarantine"):
            problems.add(f"{key}.unknown", "must be keep or quarantine")
        columns.append(
            Column(
                name=name,
                column=column,
                data_type=data_type,
                role=role,
                description=str(spec.get("description") or "").strip(),
                required=bool(meta.get("required", True)),
                min=low,
                max=high,
                accepted_values=tuple(accepted),
                aliases=aliases,
                unknown=unknown,
            )
        )
    return columns


__all__ = ["load"]
