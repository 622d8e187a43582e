"""The use-case block of a declaration, key by key (split, segments, prepare, aggregates, target
encodings, derived features, analytics, what-if, truth, gates), each resolved against the declared
columns by a `Resolver`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from leakproof.declarations._model import (
    AGGREGATE_STATISTICS,
    BLOCKED_ROLES,
    NUMERIC_TYPES,
    SPLIT_METHODS,
    Band,
    Column,
    Split,
    Truth,
    WhatIf,
    snake_case,
)
from leakproof.declarations._reading import IDENTIFIER, Problems, as_mapping, as_names, as_number
from leakproof.model_spec import declared_model_problems

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
_GATE_RANGES = ("calibration_slope", "calibration_intercept")
_GATE_KEYS = {"min_auc", "max_auc", "min_test_positives", *_GATE_RANGES}


class Resolver:
    """Resolves a column named in the use-case block (raw or snake_case) to its snake_case name,
    and knows the names later keys may refer to (segments, derived features, ...)."""

    def __init__(self, columns: list[Column], problems: Problems) -> None:
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


def split(value: Any, resolver: Resolver, problems: Problems) -> Split:
    spec = as_mapping(value, "use_case.split", problems)
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


def bands(value: Any, key: str, problems: Problems) -> tuple[Band, ...]:
    if not isinstance(value, list) or not value:
        problems.add(key, "list the bands: [{label, up_to}, ..., {label}]")
        return ()
    bands: list[Band] = []
    for i, raw in enumerate(value):
        band = as_mapping(raw, f"{key}[{i}]", problems)
        problems.unknown(f"{key}[{i}]", band, {"label", "up_to"})
        up_to = as_number(band.get("up_to"), f"{key}[{i}].up_to", problems)
        last = i == len(value) - 1
        if (up_to is None) != last:
            problems.add(
                f"{key}[{i}]", "every band but the last needs up_to; the last is open-ended"
            )
        if up_to is not None and bands and bands[-1].up_to is not None and up_to <= bands[-1].up_to:
            problems.add(f"{key}[{i}].up_to", "bands must increase")
        bands.append(Band(str(band.get("label", "")), up_to))
    return tuple(bands)


def segments(
    value: Any, resolver: Resolver, problems: Problems
) -> dict[str, tuple[str, tuple[Band, ...]]]:
    segments = {}
    for name, raw in as_mapping(value, "use_case.segments", problems).items():
        key = f"use_case.segments.{name}"
        spec = as_mapping(raw, key, problems)
        problems.unknown(key, spec, {"column", "bands"})
        if not IDENTIFIER.match(name):
            problems.add(key, "a segment name must be a lower-case identifier")
        column = resolver.column(spec.get("column"), f"{key}.column", numeric=True)
        segments[name] = (column or "", bands(spec.get("bands"), f"{key}.bands", problems))
    return segments


def prepare(value: Any, resolver: Resolver, problems: Problems) -> tuple[dict, dict]:
    spec = as_mapping(value, "use_case.prepare", problems)
    problems.unknown("use_case.prepare", spec, {"impute", "outliers"})
    impute: dict[str, tuple[tuple[str, ...], ...]] = {}
    for name, raw in as_mapping(spec.get("impute"), "use_case.prepare.impute", problems).items():
        key = f"use_case.prepare.impute.{name}"
        rule = as_mapping(raw, key, problems)
        problems.unknown(key, rule, {"by"})
        column = resolver.column(name, key, numeric=True)
        groups = tuple(
            tuple(resolver.column(c, f"{key}.by") or "" for c in as_names(group))
            for group in (rule.get("by") or [])
        )
        if column:
            impute[column] = groups
    outliers: dict[str, tuple[float | None, float | None]] = {}
    for name, raw in as_mapping(
        spec.get("outliers"), "use_case.prepare.outliers", problems
    ).items():
        key = f"use_case.prepare.outliers.{name}"
        rule = as_mapping(raw, key, problems)
        problems.unknown(key, rule, {"iqr_multiplier", "cap"})
        column = resolver.column(name, key, numeric=True)
        if column:
            outliers[column] = (
                as_number(rule.get("iqr_multiplier"), f"{key}.iqr_multiplier", problems),
                as_number(rule.get("cap"), f"{key}.cap", problems),
            )
    return impute, outliers


def aggregates(value: Any, resolver: Resolver, problems: Problems) -> dict[str, dict[str, Any]]:
    aggregates = {}
    for name, raw in as_mapping(value, "use_case.aggregates", problems).items():
        key = f"use_case.aggregates.{name}"
        rule = as_mapping(raw, key, problems)
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


def encodings(value: Any, resolver: Resolver, problems: Problems) -> dict[str, dict[str, Any]]:
    encodings = {}
    for name, raw in as_mapping(value, "use_case.target_encodings", problems).items():
        key = f"use_case.target_encodings.{name}"
        rule = as_mapping(raw, key, problems)
        problems.unknown(key, rule, {"by", "smoothing"})
        smoothing = as_number(rule.get("smoothing", 20), f"{key}.smoothing", problems)
        if smoothing is not None and smoothing < 0:
            problems.add(f"{key}.smoothing", "must be >= 0")
        encodings[name] = {"by": resolver.name(rule.get("by"), f"{key}.by"), "smoothing": smoothing}
    return encodings


def derived(value: Any, resolver: Resolver, problems: Problems) -> dict[str, tuple[str, str]]:
    derived = {}
    blocked = resolver.blocked()
    for name, raw in as_mapping(value, "use_case.derived", problems).items():
        key = f"use_case.derived.{name}"
        if not IDENTIFIER.match(name):
            problems.add(key, "a derived feature's name must be a lower-case identifier")
        rule = {"sql": raw} if isinstance(raw, str) else as_mapping(raw, key, problems)
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


def analytics(value: Any, resolver: Resolver, problems: Problems) -> dict[str, Any]:
    spec = as_mapping(value, "use_case.analytics", problems)
    problems.unknown("use_case.analytics", spec, _ANALYTICS_KEYS)
    dimensions: list[tuple[str, str | None]] = []
    for i, raw in enumerate(spec.get("dimensions") or []):
        key = f"use_case.analytics.dimensions[{i}]"
        if isinstance(raw, Mapping) and len(raw) == 1:
            name, sql = next(iter(raw.items()))
            if not IDENTIFIER.match(str(name)):
                problems.add(key, "a dimension's name must be a lower-case identifier")
            dimensions.append((str(name), str(sql)))
        else:
            column = resolver.name(raw, key)
            if column:
                dimensions.append((column, None))
    names = [d[0] for d in dimensions]
    spend = resolver.name(spec["spend"], "use_case.analytics.spend") if spec.get("spend") else None
    reallocate = tuple(as_names(spec.get("reallocate", names if spend else [])))
    for name in reallocate:
        if name not in names:
            problems.add("use_case.analytics.reallocate", f"{name!r} is not a dimension")
    share = as_number(
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


def what_if(value: Any, resolver: Resolver, problems: Problems) -> WhatIf | None:
    if value is None:
        return None
    spec = as_mapping(value, "use_case.what_if", problems)
    problems.unknown("use_case.what_if", spec, _WHAT_IF_KEYS)
    key = "use_case.what_if"
    treatments = tuple(
        resolver.column(t, f"{key}.treatments", roles={"treatment"}) or ""
        for t in as_names(spec.get("treatments"))
    )
    if not treatments:
        problems.add(f"{key}.treatments", "name the treatment column(s) the engine varies")
    for column in treatments:
        found = resolver.columns.get(column)
        if found is not None and not found.accepted_values:
            problems.add(f"{key}.treatments", f"{column!r} needs accepted_values (the arms)")
    follows = {}
    for column, leader in as_mapping(spec.get("follows"), f"{key}.follows", problems).items():
        follows[resolver.column(column, f"{key}.follows") or ""] = (
            resolver.column(leader, f"{key}.follows.{column}") or ""
        )
    support = tuple(
        resolver.name(s, f"{key}.support_segments") or ""
        for s in as_names(spec.get("support_segments"))
    )
    summary = {
        str(k): str(v)
        for k, v in as_mapping(
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
                for k, v in as_mapping(
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
            resolver.name(c, f"{key}.covariates") or "" for c in as_names(spec.get("covariates"))
        ),
    )


def truth(value: Any, resolver: Resolver, problems: Problems) -> Truth | None:
    if value is None:
        return None
    spec = as_mapping(value, "use_case.truth", problems)
    problems.unknown("use_case.truth", spec, _TRUTH_KEYS)
    for required in ("file", "probability"):
        if not spec.get(required):
            problems.add(f"use_case.truth.{required}", "missing")
    ids = tuple(as_names(spec.get("id")))
    return Truth(
        file=str(spec.get("file", "")),
        id=ids,
        probability=str(spec.get("probability", "")),
        arm_probability=spec.get("arm_probability"),
        propensity=spec.get("propensity"),
    )


def gates(value: Any, problems: Problems) -> dict[str, Any]:
    """Quality gates over var quality_gates: an AUC floor, a plausibility ceiling (`max_auc`: a
    higher test AUC fails the build as a leak), test positives, calibration ranges."""
    spec = as_mapping(value, "use_case.gates", problems)
    problems.unknown("use_case.gates", spec, _GATE_KEYS)
    for name in ("min_auc", "max_auc", "min_test_positives"):
        number = as_number(spec.get(name), f"use_case.gates.{name}", problems)
        if number is not None and name.endswith("auc") and not 0.5 <= number <= 1:
            problems.add(f"use_case.gates.{name}", f"{number:g} is not an AUC in [0.5, 1]")
    for name in _GATE_RANGES:
        if name not in spec:
            continue
        bounds = spec[name]
        low, high = bounds if isinstance(bounds, list) and len(bounds) == 2 else (None, None)
        ok = all(as_number(b, f"use_case.gates.{name}", problems) is not None for b in (low, high))
        if not ok or low > high:
            problems.add(f"use_case.gates.{name}", f"must be [low, high], got {bounds!r}")
    floor, ceiling = spec.get("min_auc"), spec.get("max_auc")
    if isinstance(floor, int | float) and isinstance(ceiling, int | float) and floor >= ceiling:
        problems.add("use_case.gates.max_auc", f"must be above min_auc ({floor:g})")
    return spec


__all__ = [
    "Resolver",
    "aggregates",
    "analytics",
    "derived",
    "encodings",
    "gates",
    "model",
    "prepare",
    "segments",
    "split",
    "truth",
    "what_if",
]


def model(value: Any, problems: Problems) -> None:
    """The `model` keys, checked against the model specification before any data is read."""
    block = as_mapping(value, "use_case.model", problems)
    for key, problem in declared_model_problems(block):
        problems.add(f"use_case.model.{key}" if key else "use_case.model", problem)
