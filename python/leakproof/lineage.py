"""Column lineage of feature tables, traced through the compiled SQL of every model behind them.

Layer 2 of the leakage guard (docs/design.md, "Leakage guard"). Every column of a feature table is
followed through the real SQL (sqlglot over dbt's compiled models, not column names) back to the
source columns it is computed from, and a feature that reaches a column declared
`leakage_role: target | target_derived | post_outcome` fails with the path in the message.
Lineage that cannot be resolved (a Python model, a `select *` over a relation whose columns are
unknown, SQL sqlglot cannot parse) fails closed unless the feature column is allow-listed in yml
with `meta: {leakage_allow: "<reason>"}`.

Two kinds of dependency are recorded:

- `value`: the column feeds the projected expression - arithmetic, CASE, COALESCE, casts, the
  arguments of an aggregate, and the PARTITION BY / ORDER BY of a window (so the naive target
  encoding `avg(conversion) over (partition by campaign_channel)` reaches `conversion`). A value
  dependency on a target / target-derived / post-outcome column is a leak.
- `filter`: the column decides which rows exist or are combined - WHERE, JOIN ... ON / USING,
  GROUP BY, HAVING, QUALIFY, the right side of INTERSECT / EXCEPT, subqueries inside those - in
  the model or in any model upstream of its rows. These are recorded so a reviewer can see them,
  but never fail: a row filter does not put the filtered column's value into any output row, and
  counting it would condemn every honest feature of this project (staging drops rows whose
  `quarantine_reasons` mention Conversion; imputation medians come from `split = 'train'` rows and
  the split is stratified by Conversion). The blind spot is an aggregate over rows selected by the
  target (`count(*) ... where conversion = 1 group by channel`): its value lineage is clean.
  Layer 3 (target determinism, single-feature AUC) is what catches that shape; `filter` rows in
  `ml_feature_lineage` let a reviewer find it.

Columns behind `select *` are expanded from, in order, the upstream model's columns as traced
from its own SQL, then the columns declared in yml: sources and seeds are taken as declared
(the sources yml is the contract the guard rests on), a model's declaration only when its
contract is enforced. A relation whose columns are otherwise unknown (a Python model, an
undeclared external table) leaves the star open: any column asked of it is `unresolved`.
DuckDB external sources (`relation_name` = `read_csv(...)` / `read_parquet(...)`) are matched by
the table-function expression itself.

    project = load_target(Path("target"))            # after `dbt compile` (or a run)
    rows = trace_model(project, "ml_marketing_features")
    assert_no_leaks(check_features(rows))            # LeakageError, one line per problem
    lineage_table(rows)                              # -> ml_feature_lineage
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers
from sqlglot.optimizer.scope import Scope, build_scope, walk_in_scope

from leakproof.declarations import snake_case

DIALECT = "duckdb"

LEAKY_ROLES = frozenset({"target", "target_derived", "post_outcome"})
NOT_A_FEATURE_ROLES = frozenset({"target", "identifier", "split", "weight"})
FEATURE_ROLES = NOT_A_FEATURE_ROLES | {"feature"}

VALUE = "value"
FILTER = "filter"

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

_SQL_KINDS = ("model", "snapshot")
_LEAF_KINDS = ("source", "seed")
_SYNTHETIC_PREFIX = "__lp_rel_"


class LeakageError(Exception):
    """Feature columns reach a target, target-derived or post-outcome column, or are untraceable."""

    def __init__(self, violations: Iterable[Violation]) -> None:
        self.violations = list(violations)
        lines = [v.message for v in self.violations]
        super().__init__(
            f"leakage guard: {len(lines)} feature column problem(s)\n" + "\n".join(lines)
        )


# --------------------------------------------------------------------------------------------
# Project: the relations of a dbt manifest and their compiled SQL


@dataclass(frozen=True)
class Relation:
    """A model, snapshot, seed or source of the project."""

    unique_id: str
    kind: str  # model | snapshot | seed | source
    name: str  # model / seed name, or "<source>.<table>" for a source
    language: str  # sql | python
    relation_name: str | None
    sql: str | None
    columns: tuple[str, ...]  # declared in yml, as spelled there
    column_meta: Mapping[str, Mapping[str, Any]]  # lower-case column -> meta
    contract_enforced: bool = False
    source_name: str | None = None
    table_name: str = ""

    @property
    def is_leaf(self) -> bool:
        return self.kind in _LEAF_KINDS

    def declared(self, column: str) -> str | None:
        """The declared spelling of `column` (case-insensitive), or None."""
        lowered = column.lower()
        return next((c for c in self.columns if c.lower() == lowered), None)

    def hop(self, column: str) -> str:
        """How a column of this relation is written in a path."""
        if self.kind == "source":
            return f"source {self.name}.{self.declared(column) or column}"
        if self.kind == "seed":
            return f"seed {self.name}.{self.declared(column) or column}"
        return f"{self.name}.{column}"


@dataclass(frozen=True)
class SourceColumn:
    """A declared column of a source or seed: where lineage ends."""

    unique_id: str
    source_name: str  # the dbt source name, or "seed"
    table: str
    column: str
    leakage_role: str | None

    @property
    def label(self) -> str:
        return f"{self.source_name}.{self.table}.{self.column}"


@dataclass(frozen=True)
class _Dep:
    """One input of a column inside one model: an upstream relation's column (`column` None means
    the upstream relation's rows, i.e. its own filters), or an input that cannot be traced."""

    relation: str | None = None
    column: str | None = None
    unresolved: str | None = None


@dataclass(frozen=True)
class _Local:
    """Lineage of one model's output columns to its direct inputs."""

    columns: tuple[str, ...] = ()
    value: Mapping[str, frozenset[_Dep]] = field(default_factory=dict)
    filters: frozenset[_Dep] = frozenset()
    open: frozenset[_Dep] = frozenset()  # a star over relations whose columns are unknown
    origins: frozenset[str] = frozenset()
    error: str | None = None  # the whole model cannot be traced


@dataclass(frozen=True)
class _Hit:
    source: SourceColumn | None
    unresolved: str | None
    dependency: str
    hops: tuple[str, ...]

    @property
    def key(self) -> tuple[str, str]:
        if self.source is None:
            return ("?", self.unresolved or "")
        return (f"{self.source.unique_id}.{self.source.column}", "")


@dataclass
class Project:
    """The relations of a dbt project, with per-node caches of traced lineage."""

    relations: dict[str, Relation]
    _keys: dict[tuple[str, ...], list[str]] = field(default_factory=dict, repr=False)
    _local: dict[str, _Local] = field(default_factory=dict, repr=False)
    _hits: dict[tuple[str, str], tuple[_Hit, ...]] = field(default_factory=dict, repr=False)
    _filter_hits: dict[str, tuple[_Hit, ...]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for unique_id, relation in self.relations.items():
            if relation.relation_name:
                key = _relation_key_from_text(relation.relation_name)
                if key is not None:
                    for suffix in _key_suffixes(key):
                        self._keys.setdefault(suffix, []).append(unique_id)

    def resolve(self, model: str) -> Relation:
        """A relation by unique_id or by model / seed name."""
        if model in self.relations:
            return self.relations[model]
        matches = [r for r in self.relations.values() if r.name == model and r.kind in _SQL_KINDS]
        matches = matches or [r for r in self.relations.values() if r.name == model]
        if len(matches) != 1:
            raise KeyError(f"no single model named {model!r} in the manifest")
        return matches[0]

    def lookup(self, table: exp.Table) -> str | None:
        """The unique_id of the relation a table reference in compiled SQL points at."""
        ids = set(self._keys.get(_table_key(table), []))
        return ids.pop() if len(ids) == 1 else None  # unknown, or a partial name that is ambiguous


def _merged_meta(column: Mapping[str, Any]) -> dict[str, Any]:
    config = column.get("config") or {}
    return {**(column.get("meta") or {}), **(config.get("meta") or {})}


def load_project(
    manifest: Mapping[str, Any], compiled_sql: Mapping[str, str] | None = None
) -> Project:
    """Build a Project from a dbt manifest dict and unique_id -> compiled SQL.

    Compiled SQL comes from `compiled_sql` first, then the manifest's `compiled_code` (present
    after `dbt compile`); a SQL model with neither cannot be traced (fails closed).
    """
    compiled_sql = compiled_sql or {}
    relations: dict[str, Relation] = {}
    for unique_id, node in (manifest.get("nodes") or {}).items():
        kind = node.get("resource_type")
        if kind not in (*_SQL_KINDS, "seed"):
            continue
        config = node.get("config") or {}
        columns = node.get("columns") or {}
        relations[unique_id] = Relation(
            unique_id=unique_id,
            kind=kind,
            name=node.get("name", unique_id),
            language=node.get("language") or "sql",
            relation_name=node.get("relation_name"),
            sql=compiled_sql.get(unique_id) or node.get("compiled_code"),
            columns=tuple(c.get("name", k) for k, c in columns.items()),
            column_meta={c.get("name", k).lower(): _merged_meta(c) for k, c in columns.items()},
            contract_enforced=bool((config.get("contract") or {}).get("enforced")),
            table_name=node.get("name", unique_id),
        )
    declarations: dict[str, dict[str, Any]] = {}
    for unique_id, source in (manifest.get("sources") or {}).items():
        columns = source.get("columns") or {}
        column_meta = {c.get("name", k).lower(): _merged_meta(c) for k, c in columns.items()}
        names = tuple(c.get("name", k) for k, c in columns.items())
        use_case = ((source.get("config") or {}).get("meta") or {}).get("use_case")
        if use_case is not None:
            column_meta = {c: _declared_source_meta(m) for c, m in column_meta.items()}
            names += USE_CASE_SOURCE_COLUMNS
            declarations[source["source_name"]] = {"use_case": use_case, "columns": column_meta}
        relations[unique_id] = Relation(
            unique_id=unique_id,
            kind="source",
            name=f"{source['source_name']}.{source['name']}",
            language="sql",
            relation_name=source.get("relation_name"),
            sql=None,
            columns=names,
            column_meta=column_meta,
            source_name=source["source_name"],
            table_name=source["name"],
        )
    for relation in relations.values():
        use_case = _feature_table_use_case(manifest, relation.unique_id)
        if use_case in declarations:
            relation.column_meta.update(_feature_table_roles(declarations[use_case]))
    return Project(relations)


# Columns the raw reader of a declared use case adds to its files' columns.
USE_CASE_SOURCE_COLUMNS = ("source_file", "source_row_number")


def _declared_source_meta(meta: Mapping[str, Any]) -> dict[str, Any]:
    """A declared column's meta with its role as the guard's leakage_role."""
    role = meta.get("role")
    leakage_role = role if role in LEAKY_ROLES else ("identifier" if role == "id" else None)
    return {**meta, "leakage_role": leakage_role} if leakage_role else dict(meta)


def _feature_table_use_case(manifest: Mapping[str, Any], unique_id: str) -> str | None:
    node = (manifest.get("nodes") or {}).get(unique_id) or {}
    meta = (node.get("config") or {}).get("meta") or {}
    return meta.get("use_case") if meta.get("leakage_guard") == "features" else None


def _feature_table_roles(declaration: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """The columns of a use case's feature table that are not features: its key, split and fold,
    its id columns and its target (snake_case, as the table names them)."""
    roles = {"entity_key": "identifier", "split": "split", "cv_fold": "split"}
    block = declaration["use_case"]
    grain = block.get("grain") or []
    for column in [*(grain if isinstance(grain, list) else [grain])]:
        roles[snake_case(str(column))] = "identifier"
    if not grain:
        roles["source_row_number"] = "identifier"
    target = (block.get("target") or {}).get("column")
    if target:
        roles[snake_case(str(target))] = "target"
    meta: dict[str, dict[str, str]] = {c: {"feature_role": r} for c, r in roles.items()}
    for encoding in block.get("target_encodings") or {}:
        meta[str(encoding)] = {
            "leakage_allow": "declared out-of-fold target encoding (target_encodings in the use "
            "case's declaration): training rows see only the other folds' training rows; the "
            "test target_encoding_is_out_of_fold proves it on every build"
        }
    return meta


def compiled_sql_from_target(target_path: Path, manifest: Mapping[str, Any]) -> dict[str, str]:
    """unique_id -> compiled SQL, read from `<target>/compiled/<package>/<original_file_path>`."""
    out: dict[str, str] = {}
    for unique_id, node in (manifest.get("nodes") or {}).items():
        if node.get("resource_type") not in _SQL_KINDS or node.get("language", "sql") != "sql":
            continue
        path = Path(target_path) / "compiled" / node["package_name"] / node["original_file_path"]
        if path.is_file():
            out[unique_id] = path.read_text()
    return out


def load_target(target_path: Path) -> Project:
    """A Project from a dbt target directory (manifest.json plus the compiled SQL beside it)."""
    manifest = json.loads((Path(target_path) / "manifest.json").read_text())
    return load_project(manifest, compiled_sql_from_target(Path(target_path), manifest))


# --------------------------------------------------------------------------------------------
# Relation names


def _relation_key_from_text(relation_name: str) -> tuple[str, ...] | None:
    try:
        table = sqlglot.parse_one(f"select * from {relation_name}", dialect=DIALECT).find(exp.Table)
    except SqlglotError:
        return None
    return _table_key(table) if table is not None else None


def _table_key(table: exp.Table) -> tuple[str, ...]:
    """('name', catalog, db, table) lower-cased, or ('expr', sql) for a table function such as
    DuckDB's read_csv(...) - external sources are matched by the expression itself."""
    if isinstance(table.this, exp.Identifier):
        return ("name", table.catalog.lower(), table.db.lower(), table.name.lower())
    return ("expr", table.this.sql(dialect=DIALECT))


def _key_suffixes(key: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    """A relation's full key and its shorter forms ("schema.table", "table"), so that partly
    qualified SQL finds it; a reference's own key is then looked up as it is written."""
    yield key
    if key[0] == "name":
        _, catalog, db, name = key
        if catalog:
            yield ("name", "", db, name)
        if db:
            yield ("name", "", "", name)


# --------------------------------------------------------------------------------------------
# One model's SQL -> its output columns' direct inputs


def _schema_of(project: Project, unique_id: str) -> tuple[tuple[str, ...], bool]:
    """Column names of a relation for `select *` expansion, and whether that list is complete."""
    relation = project.relations[unique_id]
    declared = tuple(c.lower() for c in relation.columns)
    if relation.is_leaf:
        return declared, bool(declared)
    local = _local_lineage(project, unique_id)
    if local.error is None and not local.open:
        return local.columns, True
    known = local.columns + tuple(c for c in declared if c not in local.columns)
    return known, relation.contract_enforced and bool(declared)


def _local_lineage(project: Project, unique_id: str) -> _Local:
    if unique_id not in project._local:
        project._local[unique_id] = _Local(error=f"{unique_id} is being traced (cycle)")
        project._local[unique_id] = _analyse(project, project.relations[unique_id])
    return project._local[unique_id]


def _analyse(project: Project, relation: Relation) -> _Local:
    if relation.language != "sql":
        return _Local(
            error=f"{relation.name} is a {relation.language} model; its lineage cannot "
            "be traced from SQL"
        )
    if not relation.sql:
        return _Local(error=f"{relation.name} has no compiled SQL (run dbt compile)")
    try:
        statements = [s for s in sqlglot.parse(relation.sql, dialect=DIALECT) if s is not None]
    except SqlglotError as error:
        return _Local(error=f"sqlglot cannot parse {relation.name}: {_first_line(error)}")
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        return _Local(error=f"{relation.name} is not a single select statement")
    tree = normalize_identifiers(statements[0], dialect=DIALECT)
    tables = _replace_relations(project, tree)
    try:
        root = build_scope(tree)
        if root is None:
            return _Local(error=f"{relation.name}: no select to trace")
        out = _ScopeWalker(project, relation, tables).output(root)
    except (SqlglotError, RecursionError) as error:
        return _Local(error=f"sqlglot cannot trace {relation.name}: {_first_line(error)}")
    return _Local(tuple(out.names), out.value, out.filters, out.open, out.origins)


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]


@dataclass(frozen=True)
class _TableRef:
    unique_id: str | None
    text: str


def _replace_relations(project: Project, tree: exp.Expr) -> dict[str, _TableRef]:
    """Rename every relation reference (not a CTE) to a synthetic table, keeping its alias, so a
    table function like read_csv(...) becomes an ordinary source of its scope."""
    cte_names = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    tables: dict[str, _TableRef] = {}
    for table in list(tree.find_all(exp.Table)):
        is_name = isinstance(table.this, exp.Identifier)
        if is_name and not table.db and not table.catalog and table.name in cte_names:
            continue
        if not is_name and not isinstance(table.this, exp.Func):
            continue
        synthetic = f"{_SYNTHETIC_PREFIX}{len(tables)}"
        parts = {k: table.args[k].copy() for k in ("this", "db", "catalog") if table.args.get(k)}
        text = exp.Table(**parts)
        tables[synthetic] = _TableRef(project.lookup(table), text.sql(dialect=DIALECT))
        alias = table.alias or (table.name if is_name else "")
        table.set("this", exp.to_identifier(synthetic))
        table.set("db", None)
        table.set("catalog", None)
        if alias and not table.args.get("alias"):
            table.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
    return tables


@dataclass
class _Out:
    """Output of one scope: column names, each column's direct inputs, the rows' inputs, and
    whether the scope also passes through columns it cannot list (an open `select *`)."""

    names: list[str]
    value: dict[str, frozenset[_Dep]]
    filters: frozenset[_Dep]
    open: frozenset[_Dep]
    positional: list[tuple[str, frozenset[_Dep]]] = field(default_factory=list)
    origins: frozenset[str] = frozenset()  # relations whose listed columns a star passed on

    def column(self, name: str, where: str) -> frozenset[_Dep]:
        if name in self.value:
            return self.value[name]
        if self.open:
            return frozenset(_open_column(dep, name) for dep in self.open)
        if self.origins:  # not among the columns listed: let the relation say why
            return frozenset(_Dep(relation=origin, column=name) for origin in self.origins)
        return frozenset({_Dep(column=name, unresolved=f"{where} has no column {name}")})


def _open_column(dep: _Dep, name: str) -> _Dep:
    if dep.relation is not None:
        return _Dep(relation=dep.relation, column=name)
    return _Dep(column=name, unresolved=dep.unresolved)


def _all_values(out: _Out) -> frozenset[_Dep]:
    return frozenset().union(*out.value.values()) if out.value else frozenset()


class _ScopeWalker:
    """Computes, for every scope of one model, its output columns and their direct inputs."""

    def __init__(self, project: Project, relation: Relation, tables: dict[str, _TableRef]):
        self.project = project
        self.relation = relation
        self.tables = tables
        self.cache: dict[int, _Out] = {}

    def output(self, scope: Scope) -> _Out:
        if id(scope) not in self.cache:
            expression = scope.expression
            if isinstance(expression, exp.SetOperation):
                out = self._set_operation(scope)
            elif isinstance(expression, exp.Select):
                out = self._select(scope)
            else:
                kind = type(expression).__name__
                out = _Out([], {}, frozenset(), frozenset({self._unresolved(f"{kind} source")}))
            self.cache[id(scope)] = out
        return self.cache[id(scope)]

    def _unresolved(self, reason: str, column: str | None = None) -> _Dep:
        return _Dep(column=column, unresolved=f"{self.relation.name}: {reason}")

    # sources ---------------------------------------------------------------------------------
    def _source(self, source: exp.Expr | Scope) -> _Out:
        if isinstance(source, Scope):
            return self.output(source)
        ref = self.tables.get(source.name) if isinstance(source, exp.Table) else None
        if ref is None:
            text = source.sql(dialect=DIALECT)
            return _Out([], {}, frozenset(), frozenset({self._unresolved(f"source {text}")}))
        if ref.unique_id is None:
            dep = self._unresolved(f"{ref.text} is not a model, seed or source of the manifest")
            return _Out([], {}, frozenset(), frozenset({dep}))
        names, complete = _schema_of(self.project, ref.unique_id)
        rows = frozenset({_Dep(relation=ref.unique_id)})
        value = {name: frozenset({_Dep(ref.unique_id, name)}) for name in names}
        positional = [(name, value[name]) for name in names]
        # Columns it cannot list are asked of the relation itself, which says why it cannot answer.
        opened = frozenset() if complete else frozenset({_Dep(relation=ref.unique_id)})
        return _Out(list(names), value, rows, opened, positional, frozenset({ref.unique_id}))

    def _find_source(self, scope: Scope, name: str) -> exp.Expr | Scope | None:
        current: Scope | None = scope
        while current is not None:
            if name in current.sources:
                return current.sources[name]
            current = current.parent if _can_be_correlated(current) else None
        return None

    # set operations --------------------------------------------------------------------------
    def _set_operation(self, scope: Scope) -> _Out:
        left, right = (self.output(s) for s in scope.set_operation_scopes)
        expression = scope.expression
        filters = left.filters | right.filters
        if not isinstance(expression, exp.Union):  # intersect / except: the right side picks rows
            filters |= _all_values(right) | right.open
            return _Out(left.names, left.value, filters, left.open, left.positional, left.origins)
        value: dict[str, frozenset[_Dep]] = {}
        if expression.args.get("by_name"):
            for name in dict.fromkeys(left.names + right.names):
                value[name] = left.value.get(name, frozenset()) | right.value.get(name, frozenset())
            positional = list(value.items())
            origins = left.origins | right.origins
            return _Out(list(value), value, filters, left.open | right.open, positional, origins)
        if left.open or right.open or len(left.positional) != len(right.positional):
            dep = self._unresolved("a union whose columns cannot be matched by position")
            for name in left.names:
                value[name] = left.value[name] | {dep} | _all_values(right) | right.open
            positional = [(name, value[name]) for name, _ in left.positional]
            return _Out(left.names, value, filters, left.open | right.open | {dep}, positional)
        positional = [
            (name, deps | other)
            for (name, deps), (_, other) in zip(left.positional, right.positional, strict=True)
        ]
        for name, deps in positional:
            value[name] = value.get(name, frozenset()) | deps
        return _Out(
            left.names, value, filters, frozenset(), positional, left.origins | right.origins
        )

    # select ----------------------------------------------------------------------------------
    def _select(self, scope: Scope) -> _Out:
        select = scope.expression
        filters: set[_Dep] = set()
        for _, source in scope.selected_sources.values():
            filters |= self._source(source).filters

        positional: list[tuple[str, frozenset[_Dep]]] = []
        value: dict[str, frozenset[_Dep]] = {}
        opened: set[_Dep] = set()
        origins: set[str] = set()
        not_aggregated: list[frozenset[_Dep]] = []  # what `group by all` groups by
        for projection in select.selects:
            if _is_star(projection):
                for name, deps in self._expand_star(scope, projection, opened, origins):
                    positional.append((name, deps))
                    value[name] = value.get(name, frozenset()) | deps
                    not_aggregated.append(deps)
                continue
            name = projection.alias_or_name
            deps = self._expression(scope, projection, value)
            positional.append((name, deps))
            value[name] = value.get(name, frozenset()) | deps
            if not projection.find(exp.AggFunc):
                not_aggregated.append(deps)

        for key in ("where", "having", "qualify"):
            if select.args.get(key) is not None:
                filters |= self._expression(scope, select.args[key], value)
        for join in select.args.get("joins") or []:
            if join.args.get("on") is not None:
                filters |= self._expression(scope, join.args["on"], value)
            for identifier in join.args.get("using") or []:
                filters |= self._column(scope, exp.column(identifier.name), {}, using=True)
        group = select.args.get("group")
        if group is not None:
            if group.args.get("all"):
                filters = filters.union(*not_aggregated)
            for part in group.expressions:
                if isinstance(part, exp.Literal) and part.is_int:  # group by 1
                    index = int(part.name) - 1
                    if 0 <= index < len(positional):
                        filters |= positional[index][1]
                    continue
                filters |= self._expression(scope, part, value)
        names = list(dict.fromkeys(name for name, _ in positional))
        return _Out(
            names, value, frozenset(filters), frozenset(opened), positional, frozenset(origins)
        )

    def _expand_star(
        self, scope: Scope, star: exp.Expr, opened: set[_Dep], origins: set[str]
    ) -> Iterator[tuple[str, frozenset[_Dep]]]:
        star_node = star.this if isinstance(star, exp.Column) else star
        excluded = {e.name for e in star_node.args.get("except_") or []}
        replaced = {e.alias: e for e in star_node.args.get("replace") or []}
        aliases = [star.table] if isinstance(star, exp.Column) else list(scope.selected_sources)
        for alias in aliases:
            source = self._find_source(scope, alias)
            if source is None:
                opened.add(self._unresolved(f"select {alias}.* over an unknown table"))
                continue
            out = self._source(source)
            for name, deps in out.positional:
                if name in excluded:
                    continue
                if name in replaced:
                    yield name, self._expression(scope, replaced[name], {})
                else:
                    yield name, deps
            opened |= out.open
            origins |= out.origins

    def _expression(
        self, scope: Scope, node: exp.Expr, aliases: Mapping[str, frozenset[_Dep]]
    ) -> frozenset[_Dep]:
        """Direct inputs of an expression: its columns (window and aggregate arguments included)
        and, for a subquery inside it, everything that subquery reads."""
        deps: set[_Dep] = set()
        children = {id(s.expression): s for s in scope.subquery_scopes}
        for inner in walk_in_scope(node):
            if inner is not node and isinstance(inner, (exp.Select, exp.SetOperation)):
                child = children.get(id(inner))
                if child is None:
                    deps.add(self._unresolved("a subquery sqlglot did not scope"))
                    continue
                out = self.output(child)
                deps |= _all_values(out) | out.filters | out.open
            elif (
                isinstance(inner, exp.Column)
                and not _is_star(inner)
                and not _is_lambda_variable(inner)
            ):
                deps |= self._column(scope, inner, aliases)
        return frozenset(deps)

    def _column(
        self,
        scope: Scope,
        column: exp.Column,
        aliases: Mapping[str, frozenset[_Dep]],
        using: bool = False,
    ) -> frozenset[_Dep]:
        """Inputs of one column reference, following DuckDB's rules: a source column before an
        earlier select alias, a sole source takes any column, correlated names look outwards."""
        name = column.name
        if column.table:
            source = self._find_source(scope, column.table)
            if source is None:
                return frozenset({self._unresolved(f"unknown table {column.table}", name)})
            return self._source(source).column(name, f"{self.relation.name} ({column.table})")
        selected = scope.selected_sources
        found = []
        unknown = False
        for _, source in selected.values():
            out = self._source(source)
            if name in out.value:
                found.append(out.value[name])
            elif out.open:
                unknown = True
        if found and (using or len(found) == 1) and not unknown:
            return frozenset().union(*found)
        if not found and name in aliases and not unknown:
            return aliases[name]
        if len(selected) == 1:
            ((alias, (_, source)),) = selected.items()
            return self._source(source).column(name, f"{self.relation.name} ({alias})")
        if found and _is_using_column(scope, name):
            return frozenset().union(*found)
        if not found and not unknown and scope.parent is not None and _can_be_correlated(scope):
            return self._column(scope.parent, column, {})  # a correlated reference
        reason = f"cannot tell which of {', '.join(sorted(selected))} column {name} comes from"
        return frozenset({self._unresolved(reason, name)})


def _can_be_correlated(scope: Scope) -> bool:
    return bool(scope.is_subquery or scope.can_be_correlated)


def _is_star(node: exp.Expr) -> bool:
    return isinstance(node, exp.Star) or (isinstance(node, exp.Column) and node.is_star)


def _is_lambda_variable(column: exp.Column) -> bool:
    lam = column.find_ancestor(exp.Lambda)
    while lam is not None:
        if column.name in {e.name for e in lam.expressions}:
            return True
        lam = lam.find_ancestor(exp.Lambda)
    return False


def _is_using_column(scope: Scope, name: str) -> bool:
    return any(
        name in {e.name for e in join.args.get("using") or []}
        for join in scope.expression.args.get("joins") or []
    )


# --------------------------------------------------------------------------------------------
# Across models: output column -> source columns, with paths


def _dedupe(hits: Iterable[_Hit]) -> tuple[_Hit, ...]:
    best: dict[tuple[tuple[str, str], str], _Hit] = {}
    for hit in hits:
        key = (hit.key, hit.dependency)
        if key not in best or (len(hit.hops), hit.hops) < (len(best[key].hops), best[key].hops):
            best[key] = hit
    return tuple(sorted(best.values(), key=lambda h: (h.dependency != VALUE, h.key, h.hops)))


def _prefix(hop: str, hits: Iterable[_Hit]) -> Iterator[_Hit]:
    for hit in hits:
        yield _Hit(hit.source, hit.unresolved, hit.dependency, (hop, *hit.hops))


def _as_filter(hits: Iterable[_Hit]) -> Iterator[_Hit]:
    for hit in hits:
        if hit.dependency == FILTER:
            yield hit
        else:
            hops = (f"(filter) {hit.hops[0]}", *hit.hops[1:])
            yield _Hit(hit.source, hit.unresolved, FILTER, hops)


def _dep_hits(project: Project, dep: _Dep) -> tuple[_Hit, ...]:
    if dep.unresolved is not None:
        return (_Hit(None, dep.unresolved, VALUE, ("(unresolved)",)),)
    assert dep.relation is not None
    if dep.column is None:  # the relation's rows
        relation = project.relations[dep.relation]
        if relation.is_leaf:
            return ()
        return tuple(_prefix(f"{relation.name} rows", _filter_hits(project, dep.relation)))
    return _column_hits(project, dep.relation, dep.column)


def _filter_hits(project: Project, unique_id: str) -> tuple[_Hit, ...]:
    """Where the filters of a model (and of every model its rows come from) lead."""
    if unique_id not in project._filter_hits:
        project._filter_hits[unique_id] = ()  # guards against a cycle
        local = _local_lineage(project, unique_id)
        hits = [h for dep in local.filters for h in _as_filter(_dep_hits(project, dep))]
        project._filter_hits[unique_id] = _dedupe(hits)
    return project._filter_hits[unique_id]


def _column_hits(project: Project, unique_id: str, column: str) -> tuple[_Hit, ...]:
    key = (unique_id, column)
    if key in project._hits:
        return project._hits[key]
    relation = project.relations[unique_id]
    hop = relation.hop(column)
    project._hits[key] = (_Hit(None, f"cycle at {hop}", VALUE, (hop,)),)
    if relation.is_leaf:
        declared = relation.declared(column)
        if declared is None:
            reason = f"{hop} is not declared in yml, so its leakage role is unknown"
            hits: tuple[_Hit, ...] = (_Hit(None, reason, VALUE, (hop,)),)
        else:
            leaf = SourceColumn(
                unique_id=unique_id,
                source_name=relation.source_name or "seed",
                table=relation.table_name,
                column=declared,
                leakage_role=relation.column_meta.get(declared.lower(), {}).get("leakage_role"),
            )
            hits = (_Hit(leaf, None, VALUE, (hop,)),)
    else:
        local = _local_lineage(project, unique_id)
        if local.error is not None:
            hits = (_Hit(None, local.error, VALUE, (hop,)),)
        else:
            out = _Out(
                list(local.columns), dict(local.value), local.filters, local.open, [], local.origins
            )
            deps = out.column(column, relation.name)
            found = [h for dep in deps for h in _dep_hits(project, dep)]
            found += _filter_hits(project, unique_id)
            hits = tuple(_prefix(hop, _dedupe(found)))
    project._hits[key] = hits
    return hits


# --------------------------------------------------------------------------------------------
# Public: rows, checks, table


@dataclass(frozen=True)
class LineageRow:
    """One feature-table column and one place its lineage reaches (or cannot be followed)."""

    model: str
    model_unique_id: str
    feature: str
    feature_role: str  # feature | target | identifier | split | weight | an invalid value
    allow_reason: Any  # meta leakage_allow as written in yml (None when absent)
    source: SourceColumn | None  # None: a constant, or unresolved
    dependency: str  # value | filter
    path: str
    unresolved: str | None = None

    @property
    def leakage_role(self) -> str | None:
        return self.source.leakage_role if self.source else None


@dataclass(frozen=True)
class Violation:
    """A feature column the guard rejects, with a one-line message naming model, column and path."""

    model: str
    column: str
    kind: str  # leak | unresolved | invalid_meta
    message: str
    leakage_role: str | None = None
    source: str | None = None
    path: str | None = None


def trace_model(project: Project, model: str) -> list[LineageRow]:
    """Every output column of a model (unique_id or name) with every source column it reaches."""
    relation = project.resolve(model)
    local = _local_lineage(project, relation.unique_id)
    columns = list(local.columns)
    if local.error is not None or local.open:
        columns += [c.lower() for c in relation.columns if c.lower() not in columns]
    rows: list[LineageRow] = []
    for column in columns:
        meta = relation.column_meta.get(column, {})
        role = str(meta.get("feature_role") or "feature")
        hits = _column_hits(project, relation.unique_id, column)
        common = {
            "model": relation.name,
            "model_unique_id": relation.unique_id,
            "feature": column,
            "feature_role": role,
            "allow_reason": meta.get("leakage_allow"),
        }
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
        meta = relation.column_meta.get("*", {})
        rows.append(
            LineageRow(
                relation.name,
                relation.unique_id,
                "*",
                "feature",
                meta.get("leakage_allow"),
                None,
                VALUE,
                f"{relation.name}.*",
                f"cannot list every column of {relation.name}: {reason}",
            )
        )
    return rows


def _allow_reason(row: LineageRow, allow_list: Mapping[tuple[str, str], str] | None) -> Any:
    if allow_list and (row.model, row.feature) in allow_list:
        return allow_list[(row.model, row.feature)]
    return row.allow_reason


def _valid_reason(reason: Any) -> bool:
    return isinstance(reason, str) and bool(reason.strip())


def _status(row: LineageRow, allow: Any) -> tuple[str, str | None]:
    """(status, reason) of one lineage row; only value lineage can fail (see the module doc)."""
    if row.feature_role in NOT_A_FEATURE_ROLES:
        return "not_a_feature", f"feature_role: {row.feature_role}"
    role = row.leakage_role
    if row.dependency == FILTER:
        if row.unresolved is not None:
            return "clean", f"filter only (picks rows, not the value); unresolved: {row.unresolved}"
        if role in LEAKY_ROLES:
            return (
                "clean",
                f"reaches a {role} column only through a filter (picks rows, not the value)",
            )
        return "clean", None
    if row.unresolved is not None:
        problem, reason = "unresolved", row.unresolved
    elif role in LEAKY_ROLES:
        problem, reason = "leak", f"value reaches a {role} column"
    else:
        return "clean", None
    if _valid_reason(allow):
        return "allowed", str(allow).strip()
    return problem, reason


def check_features(
    rows: Iterable[LineageRow], allow_list: Mapping[tuple[str, str], str] | None = None
) -> list[Violation]:
    """Feature columns that reach a target / target-derived / post-outcome column by value, or
    whose lineage cannot be resolved, unless allow-listed with a reason.

    `allow_list` maps (model name, column) -> reason and overrides the `leakage_allow` meta the
    rows carry from yml. Identifier / target / split / weight columns (meta `feature_role`) are
    not features and never fail; an unknown feature_role or an allow entry without a reason is
    itself a violation (and the column is checked as a feature).
    """
    violations: dict[tuple[str, ...], Violation] = {}
    for row in rows:
        allow = _allow_reason(row, allow_list)
        where = f"{row.model}.{row.feature}"
        if row.feature_role not in FEATURE_ROLES:
            violations.setdefault(
                ("role", row.model, row.feature),
                Violation(
                    row.model,
                    row.feature,
                    "invalid_meta",
                    f"{where}: unknown feature_role {row.feature_role!r} (expected one of "
                    f"{', '.join(sorted(FEATURE_ROLES))}); checked as a feature",
                ),
            )
        if allow is not None and not _valid_reason(allow):
            violations.setdefault(
                ("allow", row.model, row.feature),
                Violation(
                    row.model,
                    row.feature,
                    "invalid_meta",
                    f"{where}: leakage_allow must give a reason (got {allow!r})",
                ),
            )
        status, reason = _status(row, allow)
        if status == "leak":
            assert row.source is not None
            message = (
                f"{where} reaches {row.source.label} ({row.source.leakage_role}) via {row.path}"
            )
            key = ("leak", row.model, row.feature, row.source.unique_id, row.source.column)
            violations.setdefault(
                key,
                Violation(
                    row.model,
                    row.feature,
                    "leak",
                    message,
                    row.leakage_role,
                    row.source.label,
                    row.path,
                ),
            )
        elif status == "unresolved":
            message = (
                f"{where}: lineage cannot be resolved ({reason}) via {row.path}; fix the "
                f"SQL or allow-list the column with meta leakage_allow: '<reason>'"
            )
            key = ("unresolved", row.model, row.feature, reason or "")
            violations.setdefault(
                key, Violation(row.model, row.feature, "unresolved", message, None, None, row.path)
            )
    return list(violations.values())


def assert_no_leaks(violations: Iterable[Violation]) -> None:
    """Raise LeakageError listing every violation, one line each; do nothing when there are none."""
    violations = list(violations)
    if violations:
        raise LeakageError(violations)


def lineage_table(
    rows: Iterable[LineageRow], allow_list: Mapping[tuple[str, str], str] | None = None
) -> pd.DataFrame:
    """`ml_feature_lineage`: one row per feature x reached source column (a value path wins over
    a filter path), plus one row for a feature that reaches no source column (a constant)."""
    records: dict[tuple[str, ...], dict[str, Any]] = {}
    for row in rows:
        status, reason = _status(row, _allow_reason(row, allow_list))
        source = row.source
        key = (
            row.model,
            row.feature,
            source.unique_id + "." + source.column if source else (row.unresolved or ""),
        )
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
            "status": status,
            "reason": reason,
        }
        if key not in records or (records[key]["dependency"] == FILTER and row.dependency == VALUE):
            records[key] = record
    frame = pd.DataFrame(list(records.values()), columns=TABLE_COLUMNS)
    order = frame.assign(_value_first=frame["dependency"] != VALUE).sort_values(
        ["model", "feature", "_value_first", "source_name", "source_table", "source_column"],
        kind="stable",
        na_position="first",
    )
    return order.drop(columns="_value_first").reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# The guard over a whole project


def feature_tables(manifest: Mapping[str, Any]) -> list[str]:
    """Unique ids of the models the guard protects: config meta `leakage_guard: features`."""
    return sorted(
        unique_id
        for unique_id, node in (manifest.get("nodes") or {}).items()
        if node.get("resource_type") == "model"
        and ((node.get("config") or {}).get("meta") or {}).get("leakage_guard") == "features"
    )


def fresh_compiled_sql(
    target_path: Path, manifest: Mapping[str, Any], project_dir: Path
) -> dict[str, str]:
    """Compiled SQL from the target directory, leaving out any file older than the model file it
    was compiled from (a partial build can leave stale files behind); a model left out cannot be
    traced, so the guard fails closed on it."""
    compiled = compiled_sql_from_target(target_path, manifest)
    fresh: dict[str, str] = {}
    for unique_id, sql in compiled.items():
        node = manifest["nodes"][unique_id]
        compiled_file = (
            Path(target_path) / "compiled" / node["package_name"] / node["original_file_path"]
        )
        model_file = Path(project_dir) / node["original_file_path"]
        if not model_file.exists() or compiled_file.stat().st_mtime >= model_file.stat().st_mtime:
            fresh[unique_id] = sql
    return fresh


def _violation_key(model: str, feature: str, source: str | None) -> tuple[str, str, str | None]:
    return (model, feature, source)


def guard_table(project: Project, models: Iterable[str]) -> pd.DataFrame:
    """`ml_feature_lineage` for several feature tables, with a one-line `message` on every row
    the guard rejects (status leak or unresolved) naming the model, the column and the path."""
    frames = []
    for model in models:
        rows = trace_model(project, model)
        table = lineage_table(rows)
        messages = {}
        for violation in check_features(rows):
            source = violation.source if violation.kind == "leak" else None
            messages[_violation_key(violation.model, violation.column, source)] = violation.message
        sources = (
            table["source_name"] + "." + table["source_table"] + "." + table["source_column"]
        ).where(table["status"] == "leak")
        keys = [
            _violation_key(row_model, feature, source if isinstance(source, str) else None)
            for row_model, feature, source in zip(
                table["model"], table["feature"], sources, strict=True
            )
        ]
        rejected = table["status"].isin(["leak", "unresolved"])
        table["message"] = [
            messages.get(key) if is_rejected else None
            for key, is_rejected in zip(keys, rejected, strict=True)
        ]
        frames.append(table)
    if not frames:
        return pd.DataFrame(columns=[*TABLE_COLUMNS, "message"])
    return pd.concat(frames, ignore_index=True)


def feature_lineage_from_target(target_path: Path, project_dir: Path) -> pd.DataFrame:
    """The guard as dbt runs it: the manifest and compiled SQL dbt wrote to `target_path` during
    this invocation, every model with `leakage_guard: features` traced."""
    manifest = json.loads((Path(target_path) / "manifest.json").read_text())
    project = load_project(manifest, fresh_compiled_sql(Path(target_path), manifest, project_dir))
    return guard_table(project, feature_tables(manifest))
