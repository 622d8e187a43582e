"""The guard: lineage rows, their verdicts and violations, and the ml_feature_lineage table."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from leakproof.exceptions import LeakproofError
from leakproof.lineage._compile_time import compile_time_queries
from leakproof.lineage._paths import VALUE, Declared, column_hits, column_reach
from leakproof.lineage._project import (
    COMPILE_QUERIES_KEY,
    LEAKY_ROLES,
    MECHANISMS_KEY,
    ROW_MECHANISM_KEY,
    SQL_KINDS,
    Project,
    Relation,
    SourceColumn,
    feature_tables,
    fresh_compiled_sql,
    load_project,
    valid_reason,
)
from leakproof.lineage._scope import local_lineage

NOT_A_FEATURE_ROLES = frozenset({"target", "identifier", "split", "weight"})
FEATURE_ROLES = NOT_A_FEATURE_ROLES | {"feature"}
REJECTED = ("leak", "unresolved")

TABLE_COLUMNS = [
    "model",
    "feature",
    "feature_role",
    "source_name",
    "source_table",
    "source_column",
    "leakage_role",
    "dependency",
    "path",
    "status",
    "reason",
]


class LeakageError(LeakproofError):
    """Feature columns reach a target, target-derived or post-outcome column, or are untraceable."""

    def __init__(self, violations: Iterable[Violation]) -> None:
        self.violations = list(violations)
        lines = [v.message for v in self.violations]
        super().__init__(
            f"leakage guard: {len(lines)} feature column problem(s)\n" + "\n".join(lines)
        )


@dataclass(frozen=True)
class LineageRow:
    """One feature-table column and one place its lineage reaches (or cannot be followed)."""

    model: str
    model_unique_id: str
    feature: str
    feature_role: str  # feature | target | identifier | split | weight | an invalid value
    allow_reason: Any  # meta leakage_allow as written in yml (None when absent)
    source: SourceColumn | None  # None: a constant, unresolved, or a declared stop
    dependency: str  # value | filter | compile | declaration
    path: str
    unresolved: str | None = None
    declared: Declared | None = None  # lineage stopped at a declared mechanism
    check: str = "lineage"  # lineage | compile | declaration

    @property
    def leakage_role(self) -> str | None:
        return self.source.leakage_role if self.source else None

    @property
    def key(self) -> tuple[str, str]:
        if self.check != "lineage":
            return (self.check, f"{self.path} {self.unresolved or ''}")
        if self.declared is not None:
            return (self.declared.kind, self.declared.label)
        if self.source is not None:
            return (f"{self.source.unique_id}.{self.source.column}", "")
        return ("?", self.unresolved or "")


@dataclass(frozen=True)
class Violation:
    """A feature column the guard rejects, with a one-line message naming model, column and path."""

    model: str
    column: str
    kind: str  # leak | unresolved | compile_queries | invalid_meta
    message: str
    leakage_role: str | None = None
    source: str | None = None
    path: str | None = None


# --------------------------------------------------------------------------------------------
# Tracing


def trace_model(project: Project, model: str) -> list[LineageRow]:
    """Every output column of a model (unique_id or name) with every source column it reaches,
    the compile-time queries behind it, and the problems of the declarations it relies on."""
    relation = project.resolve(model)
    local = local_lineage(project, relation.unique_id)
    columns = list(local.columns)
    if local.error is not None or local.open:
        columns += [c.lower() for c in relation.columns if c.lower() not in columns]
    rows: list[LineageRow] = []
    for column in columns:
        common = _common(relation, column)
        hits = column_hits(project, relation.unique_id, column)
        if not any(h.dependency == VALUE for h in hits):
            rows.append(
                LineageRow(source=None, dependency=VALUE, path=relation.hop(column), **common)
            )
        for hit in hits:
            rows.append(
                LineageRow(
                    source=hit.source,
                    dependency=hit.dependency,
                    path=" <- ".join(hit.hops),
                    unresolved=hit.unresolved,
                    declared=hit.declared,
                    **common,
                )
            )
    if local.error is not None or local.open:
        reason = local.error or "; ".join(
            sorted(
                d.unresolved
                or f"select * over {project.relations[d.relation or ''].name}, whose columns "
                "are unknown"
                for d in local.open
            )
        )
        rows.append(
            LineageRow(
                source=None,
                dependency=VALUE,
                path=f"{relation.name}.*",
                unresolved=f"cannot list every column of {relation.name}: {reason}",
                **_common(relation, "*"),
            )
        )
    rows += _compile_rows(project, relation, columns)
    rows += _declaration_rows(project, relation)
    return rows


def _common(relation: Relation, column: str) -> dict[str, Any]:
    meta = relation.column_meta.get(column, {})
    return {
        "model": relation.name,
        "model_unique_id": relation.unique_id,
        "feature": column,
        "feature_role": str(meta.get("feature_role") or "feature"),
        "allow_reason": meta.get("leakage_allow"),
    }


def _compile_rows(project: Project, relation: Relation, columns: list[str]) -> list[LineageRow]:
    """One row per feature column whose lineage passes through a model that runs queries at
    compile time (a `*` row when no feature column does)."""
    rows = []
    for ancestor, chain in compile_time_queries(project, relation.unique_id):
        allow = ancestor.meta.get(COMPILE_QUERIES_KEY)
        declared = (
            Declared("compile_queries", ancestor.name, allow.strip())
            if valid_reason(allow)
            else None
        )
        reason = (
            f"{ancestor.name} runs queries at compile time, and what they render into its SQL "
            "is invisible to lineage"
        )
        reached = [
            c
            for c in columns
            if _common(relation, c)["feature_role"] not in NOT_A_FEATURE_ROLES
            and ancestor.unique_id in column_reach(project, relation.unique_id, c)
        ]
        for column in reached or ["*"]:
            rows.append(
                LineageRow(
                    source=None,
                    dependency="compile",
                    path=" -> ".join(chain),
                    unresolved=None if declared else reason,
                    declared=declared,
                    check="compile",
                    **_common(relation, column),
                )
            )
    return rows


def _declaration_rows(project: Project, relation: Relation) -> list[LineageRow]:
    """A row for every invalid leakage declaration of the model or a model it reads."""
    rows = []
    for unique_id in (relation.unique_id, *project.ancestors(relation.unique_id)):
        node = project.relations.get(unique_id)
        if node is None or node.kind not in SQL_KINDS:
            continue
        for key, problem in _declaration_problems(project, node):
            rows.append(
                LineageRow(
                    source=None,
                    dependency="declaration",
                    path=f"{node.name} config meta {key}",
                    unresolved=problem,
                    check="declaration",
                    **_common(relation, "*"),
                )
            )
    return rows


def _declaration_problems(project: Project, node: Relation) -> list[tuple[str, str]]:
    problems = []
    for key in (ROW_MECHANISM_KEY, COMPILE_QUERIES_KEY):
        if key in node.meta and not valid_reason(node.meta[key]):
            problems.append((key, f"{key} must give a reason (got {node.meta[key]!r})"))
    if MECHANISMS_KEY not in node.meta:
        return problems
    declared = node.meta[MECHANISMS_KEY]
    if not isinstance(declared, Mapping):
        return [*problems, (MECHANISMS_KEY, f"{MECHANISMS_KEY} must map columns to reasons")]
    local = local_lineage(project, node.unique_id)
    known = set(local.columns) | {c.lower() for c in node.columns}
    for column, reason in declared.items():
        where = f"{MECHANISMS_KEY}.{column}"
        if not valid_reason(reason):
            problems.append((where, f"{where} must give a reason (got {reason!r})"))
        elif str(column).lower() not in known:
            problems.append((where, f"{node.name} has no column {column}"))
    return problems


# --------------------------------------------------------------------------------------------
# Verdicts


@dataclass(frozen=True)
class _Verdict:
    status: str  # clean | not_a_feature | allowed | leak | unresolved
    reason: str | None
    kind: str | None = None  # the Violation kind when rejected
    message: str | None = None


def _meta_problem(row: LineageRow, allow: Any) -> str | None:
    if row.feature_role not in FEATURE_ROLES:
        return (
            f"unknown feature_role {row.feature_role!r} (expected one of "
            f"{', '.join(sorted(FEATURE_ROLES))}); checked as a feature"
        )
    if allow is not None and not valid_reason(allow):
        return f"leakage_allow must give a reason (got {allow!r})"
    return None


def _verdict(row: LineageRow, allow: Any) -> _Verdict:
    where = f"{row.model}.{row.feature}"
    if row.check == "declaration":
        return _Verdict(
            "unresolved", row.unresolved, "invalid_meta", f"{where}: {row.path}: {row.unresolved}"
        )
    if row.feature_role in NOT_A_FEATURE_ROLES:
        return _Verdict("not_a_feature", f"feature_role: {row.feature_role}")
    if row.declared is not None:
        return _Verdict("clean", f"through {row.declared.describe()}")
    if row.check == "compile":
        message = (
            f"{where}: {row.unresolved} ({row.path}); allow-list that model with config meta "
            f"{COMPILE_QUERIES_KEY}: '<reason>' if the queries cannot return target values"
        )
        return _Verdict("unresolved", row.unresolved, "compile_queries", message)
    if row.unresolved is not None:
        verdict = _Verdict(
            "unresolved",
            row.unresolved,
            "unresolved",
            f"{where}: lineage cannot be resolved ({row.unresolved}) via {row.path}; fix the SQL "
            "or allow-list the column with meta leakage_allow: '<reason>'",
        )
    elif row.leakage_role in LEAKY_ROLES:
        assert row.source is not None
        how = "" if row.dependency == VALUE else " through a filter"
        verdict = _Verdict(
            "leak",
            f"{row.dependency} reaches a {row.leakage_role} column",
            "leak",
            f"{where} reaches {row.source.label} ({row.leakage_role}){how} via {row.path}",
        )
    else:
        problem = _meta_problem(row, allow)
        if problem:
            return _Verdict("unresolved", problem, "invalid_meta", f"{where}: {problem}")
        return _Verdict("clean", None)
    if valid_reason(allow):
        return _Verdict("allowed", str(allow).strip())
    return verdict


def _allow_reason(row: LineageRow, allow_list: Mapping[tuple[str, str], str] | None) -> Any:
    if allow_list and (row.model, row.feature) in allow_list:
        return allow_list[(row.model, row.feature)]
    return row.allow_reason


def check_features(
    rows: Iterable[LineageRow], allow_list: Mapping[tuple[str, str], str] | None = None
) -> list[Violation]:
    """Feature columns that reach a target / target-derived / post-outcome column by value or
    by filter, whose lineage cannot be resolved, that sit behind a compile-time query, or whose
    declarations are invalid - unless allow-listed with a reason.

    `allow_list` maps (model name, column) -> reason and overrides the `leakage_allow` meta the
    rows carry from yml. Identifier / target / split / weight columns (meta `feature_role`) are
    not features and never fail; an unknown feature_role or an allow entry without a reason is
    itself a violation (and the column is checked as a feature).
    """
    violations: dict[tuple[str, ...], Violation] = {}
    for row in rows:
        allow = _allow_reason(row, allow_list)
        problem = _meta_problem(row, allow) if row.check != "declaration" else None
        if problem:
            violations.setdefault(
                ("meta", row.model, row.feature),
                Violation(
                    row.model, row.feature, "invalid_meta", f"{row.model}.{row.feature}: {problem}"
                ),
            )
        verdict = _verdict(row, allow)
        if verdict.status not in REJECTED or (verdict.kind == "invalid_meta" and problem):
            continue
        assert verdict.kind is not None and verdict.message is not None
        source = row.source.label if row.source and verdict.kind == "leak" else None
        key = (verdict.kind, row.model, row.feature, *row.key)
        violations.setdefault(
            key,
            Violation(
                row.model,
                row.feature,
                verdict.kind,
                verdict.message,
                row.leakage_role if verdict.kind == "leak" else None,
                source,
                row.path,
            ),
        )
    return list(violations.values())


def assert_no_leaks(violations: Iterable[Violation]) -> None:
    """Raise LeakageError listing every violation, one line each; do nothing when there are none."""
    violations = list(violations)
    if violations:
        raise LeakageError(violations)


def _records(
    rows: Iterable[LineageRow], allow_list: Mapping[tuple[str, str], str] | None
) -> list[dict[str, Any]]:
    records: dict[tuple[str, ...], dict[str, Any]] = {}
    for row in rows:
        verdict = _verdict(row, _allow_reason(row, allow_list))
        source = row.source
        key = (row.model, row.feature, *row.key)
        record = {
            "model": row.model,
            "feature": row.feature,
            "feature_role": row.feature_role,
            "source_name": source.source_name if source else None,
            "source_table": source.table if source else None,
            "source_column": source.column if source else None,
            "leakage_role": row.leakage_role,
            "dependency": row.dependency,
            "path": row.path,
            "status": verdict.status,
            "reason": verdict.reason,
            "message": verdict.message if verdict.status in REJECTED else None,
        }
        if key not in records or (records[key]["dependency"] != VALUE and row.dependency == VALUE):
            records[key] = record
    return list(records.values())


def lineage_table(
    rows: Iterable[LineageRow],
    allow_list: Mapping[tuple[str, str], str] | None = None,
    with_message: bool = False,
) -> pd.DataFrame:
    """`ml_feature_lineage`: one row per feature x reached source column, declared stop or
    problem (a value path wins over a filter path), plus one row for a feature that reaches no
    source column (a constant); `with_message` adds the one-line message of rejected rows."""
    columns = [*TABLE_COLUMNS, "message"] if with_message else TABLE_COLUMNS
    frame = pd.DataFrame(_records(rows, allow_list), columns=[*TABLE_COLUMNS, "message"])
    order = frame.assign(_value_first=frame["dependency"] != VALUE).sort_values(
        [
            "model",
            "feature",
            "_value_first",
            "source_name",
            "source_table",
            "source_column",
            "path",
        ],
        kind="stable",
        na_position="first",
    )
    return order[columns].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# The guard over a whole project


def guard_table(project: Project, models: Iterable[str]) -> pd.DataFrame:
    """`ml_feature_lineage` for several feature tables, with a one-line `message` on every row
    the guard rejects (status leak or unresolved) naming the model, the column and the path."""
    frames = [lineage_table(trace_model(project, model), with_message=True) for model in models]
    if not frames:
        return pd.DataFrame(columns=[*TABLE_COLUMNS, "message"])
    # text even when no row is rejected (an all-NULL column would be typed NULL in DuckDB)
    return pd.concat(frames, ignore_index=True).astype({"message": "string"})


def feature_lineage_from_target(target_path: Path, project_dir: Path) -> pd.DataFrame:
    """The guard as dbt runs it: the manifest and compiled SQL dbt wrote to `target_path` during
    this invocation, every model with `leakage_guard: features` traced."""
    manifest = json.loads((Path(target_path) / "manifest.json").read_text())
    project = load_project(manifest, fresh_compiled_sql(Path(target_path), manifest, project_dir))
    return guard_table(project, feature_tables(manifest))
