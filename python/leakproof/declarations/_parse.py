"""Read one use-case declaration (`use_cases/<name>.yml`) into a frozen `Declaration`.

A declaration is a dbt properties file declaring one dbt source, so dbt reads it natively (the
macros in `macros/use_cases/` read the same keys from dbt's graph) and this module reads it with
PyYAML. The use case's own keys sit under the source's `config.meta.use_case`; the raw files
under each table's `config.meta`; each column's role and validation rules under the column's
`config.meta`. Every problem is collected (not only the first) and reported as
`<file>: <key>: <problem>`; unknown keys are problems, never ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from leakproof.declarations._model import (
    AGGREGATE_STATISTICS,
    BLOCKED_ROLES,
    COLUMN_RULES,
    DATA_TYPES,
    FEATURE_ROLES,
    NUMERIC_TYPES,
    ROLES,
    SPLIT_METHODS,
    TABLE_KEYS,
    USE_CASE_KEYS,
    Band,
    Column,
    Declaration,
    RawTable,
    Split,
    Truth,
    WhatIf,
    snake_case,
)
from leakproof.exceptions import DeclarationError

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
_SPLIT_KEYS = {"method", "test_fraction", "seed", "column", "test_periods", "folds", "fold_group"}
_WHAT_IF_KEYS = {
    "treatments",
    "follows",
    "support_segments",
    "min_support",
    "in_support_only",
    "summary_segments",
    "assignment",
    "covariates",
}
_TRUTH_KEYS = {"file", "id", "probability", "arm_probability", "propensity"}
_ANALYTICS_KEYS = {"dimensions", "spend", "reallocate", "reallocation_share"}


class _Problems:
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


def _mapping(value: Any, key: str, problems: _Problems) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        problems.add(key, f"must be a mapping, got {type(value).__name__}")
        return {}
    return dict(value)


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _values(value: Any) -> list[Any]:
    """A YAML scalar or list as a list of its values, each as YAML typed it."""
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _label(value: Any, key: str, problems: _Problems) -> str | None:
    if isinstance(value, bool):
        problems.add(
            key, f"{value!r} is a YAML boolean: quote labels such as 'yes', 'no', 'Y', 'N'"
        )
        return None
    if value is None:
        problems.add(key, "a label cannot be empty")
        return None
    return str(value)


def _number(value: Any, key: str, problems: _Problems) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.add(key, f"must be a number, got {value!r}")
        return None
    return float(value)


def load(path: Path | str) -> Declaration:
    """The declaration in `path`; DeclarationError lists every problem found."""
    path = Path(path)
    problems = _Problems(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise DeclarationError([f"{path}: cannot be read as YAML: {error}"]) from error
    declaration = _declaration(document, path, problems)
    if problems.items or declaration is None:
        raise DeclarationError(problems.items or [f"{path}: not a declaration"])
    return declaration


def _declaration(document: Any, path: Path, problems: _Problems) -> Declaration | None:
    document = _mapping(document, "(file)", problems)
    sources = document.get("sources")
    if not isinstance(sources, list) or len(sources) != 1:
        problems.add("sources", "a declaration declares exactly one source (the use case)")
        return None
    source = _mapping(sources[0], "sources[0]", problems)
    name = str(source.get("name", ""))
    if not _IDENTIFIER.match(name):
        problems.add("sources[0].name", f"{name!r} must be a lower-case identifier (a-z, 0-9, _)")
    if path.stem != name:
        problems.add("sources[0].name", f"{name!r} must match the file name {path.stem!r}")
    config = _mapping(source.get("config"), "sources[0].config", problems)
    meta = _mapping(config.get("meta"), "sources[0].config.meta", problems)
    if "use_case" not in meta:
        problems.add("sources[0].config.meta.use_case", "missing: the use case's keys go here")
    block = _mapping(meta.get("use_case"), "use_case", problems)
    problems.unknown("use_case", block, USE_CASE_KEYS)
    table, columns = _table(source.get("tables"), problems)
    resolver = _Resolver(columns, problems)
    target_key = "use_case.target"
    target = _mapping(block.get("target"), target_key, problems)
    problems.unknown(target_key, target, {"column", "positive", "negative"})
    target_column = resolver.column(target.get("column"), f"{target_key}.column", roles={"target"})
    targets = [c for c in columns if c.role == "target"]
    if len(targets) != 1:
        problems.add("columns", f"exactly one column must have role target, found {len(targets)}")
    # the labels as YAML read them (not as text): an unquoted yes / no is a boolean to refuse
    positive = [
        label
        for v in _values(target.get("positive"))
        if (label := _label(v, f"{target_key}.positive", problems)) is not None
    ]
    negative = [
        label
        for v in _values(target.get("negative"))
        if (label := _label(v, f"{target_key}.negative", problems)) is not None
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
        for n in _names(block.get("grain"))
    )
    split = _split(block.get("split"), resolver, problems)
    segments = _segments(block.get("segments"), resolver, problems)
    resolver.add_derived(segments, "segment")
    impute, outliers = _prepare(block.get("prepare"), resolver, problems)
    resolver.add_derived({f"{snake_case(c)}_capped": None for c in outliers}, "capped")
    aggregates = _aggregates(block.get("aggregates"), resolver, problems)
    encodings = _encodings(block.get("target_encodings"), resolver, problems)
    resolver.add_derived(aggregates, "aggregate")
    resolver.add_derived(encodings, "target encoding")
    derived = _derived(block.get("derived"), resolver, problems)
    resolver.add_derived(derived, "derived")
    analytics = _analytics(block.get("analytics"), resolver, problems)
    what_if = _what_if(block.get("what_if"), resolver, problems)
    truth = _truth(block.get("truth"), resolver, problems)
    for key in ("model", "gates", "audit", "targeting"):
        _mapping(block.get(key), f"use_case.{key}", problems)
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
        gates=dict(block.get("gates") or {}),
        audit=dict(block.get("audit") or {}),
        targeting=dict(block.get("targeting") or {}),
    )


def _table(value: Any, problems: _Problems) -> tuple[RawTable | None, list[Column]]:
    if not isinstance(value, list) or len(value) != 1:
        problems.add("tables", "declare exactly one table: the raw rows (its meta names the files)")
        return None, []
    key = "tables[0]"
    table = _mapping(value[0], key, problems)
    config = _mapping(table.get("config"), f"{key}.config", problems)
    meta = _mapping(config.get("meta"), f"{key}.config.meta", problems)
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
    if raw.format not in ("", "csv", "parquet"):
        problems.add(f"{key}.config.meta.format", "must be csv or parquet")
    if not _IDENTIFIER.match(raw.name):
        problems.add(f"{key}.name", f"{raw.name!r} must be a lower-case identifier")
    return raw, _columns(table.get("columns"), key, problems)


def _columns(value: Any, table_key: str, problems: _Problems) -> list[Column]:
    if not isinstance(value, list) or not value:
        problems.add(f"{table_key}.columns", "list every column of the file")
        return []
    columns: list[Column] = []
    seen: dict[str, str] = {}
    for i, raw in enumerate(value):
        spec = _mapping(raw, f"{table_key}.columns[{i}]", problems)
        name = str(spec.get("name", ""))
        key = f"columns.{name or i}"
        meta = _mapping(
            _mapping(spec.get("config"), f"{key}.config", problems).get("meta"),
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
        low = _number(meta.get("min"), f"{key}.min", problems)
        high = _number(meta.get("max"), f"{key}.max", problems)
        if low is not None and high is not None and low > high:
            problems.add(key, f"min {low:g} is above max {high:g}")
        if (low is not None or high is not None) and data_type not in NUMERIC_TYPES:
            problems.add(key, f"min / max need a numeric data_type, not {data_type}")
        accepted = [str(v) for v in _names(meta.get("accepted_values"))]
        aliases = {
            str(k): str(v)
            for k, v in _mapping(meta.get("aliases"), f"{key}.aliases", problems).items()
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


class _Resolver:
    """Resolves a column named in the use-case block (raw or snake_case) to its snake_case name,
    and knows the names later keys may refer to (segments, derived features, ...)."""

    def __init__(self, columns: list[Column], problems: _Problems) -> None:
        self.columns = {c.column: c for c in columns}
        self.raw = {c.name: c.column for c in columns}
        self.derived: dict[str, str] = {}
        self.problems = problems

    def column(
        self, name: Any, key: str, roles: set[str] | None = None, numeric: bool = False
    ) -> str | None:
        if name is None:
            self.problems.add(key, "missing")
            return None
        text = str(name)
        column = self.raw.get(text, text if text in self.columns else snake_case(text))
        if column in self.columns:
            found = self.columns[column]
            if roles and found.role not in roles:
                self.problems.add(
                    key, f"{text!r} has role {found.role}; expected {' or '.join(sorted(roles))}"
                )
            if numeric and found.data_type not in NUMERIC_TYPES:
                self.problems.add(key, f"{text!r} is {found.data_type}, not numeric")
            return column
        if roles is None and column in self.derived:
            return column
        self.problems.add(key, f"{text!r} is not a declared column")
        return None

    def name(self, name: Any, key: str) -> str | None:
        """A column or an earlier-declared name (segment, aggregate, derived)."""
        return self.column(name, key)

    def add_derived(self, names: Mapping[str, Any], kind: str) -> None:
        for name in names:
            if name in self.columns:
                self.problems.add(kind, f"{name!r} clashes with a declared column")
            if name in self.derived:
                self.problems.add(kind, f"{name!r} is already a {self.derived[name]}")
            self.derived[name] = kind

    def blocked(self) -> set[str]:
        return {c.column for c in self.columns.values() if c.role in BLOCKED_ROLES}


def _split(value: Any, resolver: _Resolver, problems: _Problems) -> Split:
    spec = _mapping(value, "use_case.split", problems)
    problems.unknown("use_case.split", spec, _SPLIT_KEYS)
    method = str(spec.get("method", "stratified"))
    if method not in SPLIT_METHODS:
        problems.add(
            "use_case.split.method", f"{method!r} is not one of {', '.join(SPLIT_METHODS)}"
        )
    column = None
    if method == "time":
        column = resolver.column(spec.get("column"), "use_case.split.column", roles={"time"})
    elif method == "grouped":
        column = resolver.column(spec.get("column"), "use_case.split.column")
    fraction = float(spec.get("test_fraction", 0.2))
    if method != "time" and not 0 < fraction < 1:
        problems.add("use_case.split.test_fraction", "must be between 0 and 1")
    folds = int(spec.get("folds", 5))
    if folds < 2:
        problems.add("use_case.split.folds", "must be at least 2")
    periods = int(spec.get("test_periods", 1))
    if periods < 1:
        problems.add("use_case.split.test_periods", "must be at least 1")
    fold_group = spec.get("fold_group")
    if method == "grouped" and fold_group is None:
        fold_group = column
    elif fold_group is not None:
        fold_group = resolver.column(fold_group, "use_case.split.fold_group")
    return Split(method, fraction, int(spec.get("seed", 42)), column, periods, folds, fold_group)


def _bands(value: Any, key: str, problems: _Problems) -> tuple[Band, ...]:
    if not isinstance(value, list) or not value:
        problems.add(key, "list the bands: [{label, up_to}, ..., {label}]")
        return ()
    bands: list[Band] = []
    for i, raw in enumerate(value):
        band = _mapping(raw, f"{key}[{i}]", problems)
        problems.unknown(f"{key}[{i}]", band, {"label", "up_to"})
        up_to = _number(band.get("up_to"), f"{key}[{i}].up_to", problems)
        last = i == len(value) - 1
        if (up_to is None) != last:
            problems.add(
                f"{key}[{i}]", "every band but the last needs up_to; the last is open-ended"
            )
        if up_to is not None and bands and bands[-1].up_to is not None and up_to <= bands[-1].up_to:
            problems.add(f"{key}[{i}].up_to", "bands must increase")
        bands.append(Band(str(band.get("label", "")), up_to))
    return tuple(bands)


def _segments(
    value: Any, resolver: _Resolver, problems: _Problems
) -> dict[str, tuple[str, tuple[Band, ...]]]:
    segments = {}
    for name, raw in _mapping(value, "use_case.segments", problems).items():
        key = f"use_case.segments.{name}"
        spec = _mapping(raw, key, problems)
        problems.unknown(key, spec, {"column", "bands"})
        if not _IDENTIFIER.match(name):
            problems.add(key, "a segment name must be a lower-case identifier")
        column = resolver.column(spec.get("column"), f"{key}.column", numeric=True)
        segments[name] = (column or "", _bands(spec.get("bands"), f"{key}.bands", problems))
    return segments


def _prepare(value: Any, resolver: _Resolver, problems: _Problems) -> tuple[dict, dict]:
    spec = _mapping(value, "use_case.prepare", problems)
    problems.unknown("use_case.prepare", spec, {"impute", "outliers"})
    impute: dict[str, tuple[tuple[str, ...], ...]] = {}
    for name, raw in _mapping(spec.get("impute"), "use_case.prepare.impute", problems).items():
        key = f"use_case.prepare.impute.{name}"
        rule = _mapping(raw, key, problems)
        problems.unknown(key, rule, {"by"})
        column = resolver.column(name, key, numeric=True)
        groups = tuple(
            tuple(resolver.column(c, f"{key}.by") or "" for c in _names(group))
            for group in (rule.get("by") or [])
        )
        if column:
            impute[column] = groups
    outliers: dict[str, tuple[float | None, float | None]] = {}
    for name, raw in _mapping(spec.get("outliers"), "use_case.prepare.outliers", problems).items():
        key = f"use_case.prepare.outliers.{name}"
        rule = _mapping(raw, key, problems)
        problems.unknown(key, rule, {"iqr_multiplier", "cap"})
        column = resolver.column(name, key, numeric=True)
        if column:
            outliers[column] = (
                _number(rule.get("iqr_multiplier"), f"{key}.iqr_multiplier", problems),
                _number(rule.get("cap"), f"{key}.cap", problems),
            )
    return impute, outliers


def _aggregates(value: Any, resolver: _Resolver, problems: _Problems) -> dict[str, dict[str, Any]]:
    aggregates = {}
    for name, raw in _mapping(value, "use_case.aggregates", problems).items():
        key = f"use_case.aggregates.{name}"
        rule = _mapping(raw, key, problems)
        problems.unknown(key, rule, {"by", *AGGREGATE_STATISTICS})
        by = resolver.name(rule.get("by"), f"{key}.by")
        statistics = [s for s in AGGREGATE_STATISTICS if s in rule]
        if len(statistics) != 1:
            problems.add(key, f"name exactly one statistic: {', '.join(AGGREGATE_STATISTICS)}")
            continue
        statistic = statistics[0]
        of = resolver.name(rule[statistic], f"{key}.{statistic}") if statistic != "share" else None
        aggregates[name] = {"by": by, "statistic": statistic, "of": of}
    return aggregates


def _encodings(value: Any, resolver: _Resolver, problems: _Problems) -> dict[str, dict[str, Any]]:
    encodings = {}
    for name, raw in _mapping(value, "use_case.target_encodings", problems).items():
        key = f"use_case.target_encodings.{name}"
        rule = _mapping(raw, key, problems)
        problems.unknown(key, rule, {"by", "smoothing"})
        smoothing = _number(rule.get("smoothing", 20), f"{key}.smoothing", problems)
        if smoothing is not None and smoothing < 0:
            problems.add(f"{key}.smoothing", "must be >= 0")
        encodings[name] = {"by": resolver.name(rule.get("by"), f"{key}.by"), "smoothing": smoothing}
    return encodings


def _derived(value: Any, resolver: _Resolver, problems: _Problems) -> dict[str, tuple[str, str]]:
    derived = {}
    blocked = resolver.blocked()
    for name, raw in _mapping(value, "use_case.derived", problems).items():
        key = f"use_case.derived.{name}"
        if not _IDENTIFIER.match(name):
            problems.add(key, "a derived feature's name must be a lower-case identifier")
        rule = {"sql": raw} if isinstance(raw, str) else _mapping(raw, key, problems)
        problems.unknown(key, rule, {"sql", "description"})
        sql = str(rule.get("sql") or "").strip()
        if not sql:
            problems.add(f"{key}.sql", "missing: a SQL expression over the prepared columns")
        words = set(re.findall(r"[a-z_][a-z0-9_]*", sql.lower()))
        reached = sorted(words & blocked)
        if reached:
            problems.add(
                f"{key}.sql",
                f"reads blocked column(s) {', '.join(reached)} "
                "(target / post-outcome / target-derived)",
            )
        derived[name] = (sql, str(rule.get("description") or "").strip())
    return derived


def _analytics(value: Any, resolver: _Resolver, problems: _Problems) -> dict[str, Any]:
    spec = _mapping(value, "use_case.analytics", problems)
    problems.unknown("use_case.analytics", spec, _ANALYTICS_KEYS)
    dimensions: list[tuple[str, str | None]] = []
    for i, raw in enumerate(spec.get("dimensions") or []):
        key = f"use_case.analytics.dimensions[{i}]"
        if isinstance(raw, Mapping) and len(raw) == 1:
            name, sql = next(iter(raw.items()))
            if not _IDENTIFIER.match(str(name)):
                problems.add(key, "a dimension's name must be a lower-case identifier")
            dimensions.append((str(name), str(sql)))
        else:
            column = resolver.name(raw, key)
            if column:
                dimensions.append((column, None))
    names = [d[0] for d in dimensions]
    spend = resolver.name(spec["spend"], "use_case.analytics.spend") if spec.get("spend") else None
    reallocate = tuple(_names(spec.get("reallocate", names if spend else [])))
    for name in reallocate:
        if name not in names:
            problems.add("use_case.analytics.reallocate", f"{name!r} is not a dimension")
    share = _number(
        spec.get("reallocation_share", 0.2), "use_case.analytics.reallocation_share", problems
    )
    if reallocate and not spend:
        problems.add("use_case.analytics.reallocate", "needs analytics.spend")
    return {
        "dimensions": tuple(dimensions),
        "spend": spend,
        "reallocate": reallocate,
        "reallocation_share": share,
    }


def _what_if(value: Any, resolver: _Resolver, problems: _Problems) -> WhatIf | None:
    if value is None:
        return None
    spec = _mapping(value, "use_case.what_if", problems)
    problems.unknown("use_case.what_if", spec, _WHAT_IF_KEYS)
    key = "use_case.what_if"
    treatments = tuple(
        resolver.column(t, f"{key}.treatments", roles={"treatment"}) or ""
        for t in _names(spec.get("treatments"))
    )
    if not treatments:
        problems.add(f"{key}.treatments", "name the treatment column(s) the engine varies")
    for column in treatments:
        found = resolver.columns.get(column)
        if found is not None and not found.accepted_values:
            problems.add(f"{key}.treatments", f"{column!r} needs accepted_values (the arms)")
    follows = {}
    for column, leader in _mapping(spec.get("follows"), f"{key}.follows", problems).items():
        follows[resolver.column(column, f"{key}.follows") or ""] = (
            resolver.column(leader, f"{key}.follows.{column}") or ""
        )
    support = tuple(
        resolver.name(s, f"{key}.support_segments") or ""
        for s in _names(spec.get("support_segments"))
    )
    summary = {
        str(k): str(v)
        for k, v in _mapping(
            spec.get("summary_segments"), f"{key}.summary_segments", problems
        ).items()
    }
    assignment = spec.get("assignment", "estimated")
    probabilities: dict[str, float] | None = None
    if isinstance(assignment, Mapping):
        problems.unknown(f"{key}.assignment", assignment, {"probabilities", "uniform"})
        if assignment.get("uniform"):
            probabilities = {}
        else:
            probabilities = {
                str(k): float(v)
                for k, v in _mapping(
                    assignment.get("probabilities"), f"{key}.assignment.probabilities", problems
                ).items()
            }
            if probabilities and abs(sum(probabilities.values()) - 1.0) > 1e-6:
                problems.add(
                    f"{key}.assignment.probabilities",
                    f"sum to {sum(probabilities.values()):g}, not 1",
                )
    elif assignment != "estimated":
        problems.add(f"{key}.assignment", "estimated, {uniform: true} or {probabilities: {arm: p}}")
    return WhatIf(
        treatments=treatments,
        follows=follows,
        support_segments=support,
        min_support=int(spec.get("min_support", 20)),
        in_support_only=bool(spec.get("in_support_only", False)),
        summary_segments=summary,
        known_probabilities=probabilities,
        covariates=tuple(
            resolver.name(c, f"{key}.covariates") or "" for c in _names(spec.get("covariates"))
        ),
    )


def _truth(value: Any, resolver: _Resolver, problems: _Problems) -> Truth | None:
    if value is None:
        return None
    spec = _mapping(value, "use_case.truth", problems)
    problems.unknown("use_case.truth", spec, _TRUTH_KEYS)
    for required in ("file", "probability"):
        if not spec.get(required):
            problems.add(f"use_case.truth.{required}", "missing")
    ids = tuple(_names(spec.get("id")))
    return Truth(
        file=str(spec.get("file", "")),
        id=ids,
        probability=str(spec.get("probability", "")),
        arm_probability=spec.get("arm_probability"),
        propensity=spec.get("propensity"),
    )


__all__ = ["FEATURE_ROLES", "load"]
