"""The relations and macros of a dbt manifest, with their compiled SQL and leakage declarations."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from leakproof.declarations import snake_case

DIALECT = "duckdb"

LEAKY_ROLES = frozenset({"target", "target_derived", "post_outcome"})

# config meta keys (see the package docstring)
MECHANISMS_KEY = "leakage_mechanisms"
ROW_MECHANISM_KEY = "leakage_row_mechanism"
COMPILE_QUERIES_KEY = "leakage_allow_compile_queries"
GUARD_KEY = "leakage_guard"

SQL_KINDS = ("model", "snapshot")
LEAF_KINDS = ("source", "seed")


def valid_reason(reason: Any) -> bool:
    """A declaration's reason: a non-empty string."""
    return isinstance(reason, str) and bool(reason.strip())


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
    meta: Mapping[str, Any] = field(default_factory=dict)  # the node's config meta
    depends_on: tuple[str, ...] = ()  # unique ids of the nodes it reads
    macros: tuple[str, ...] = ()  # unique ids of the macros it calls
    raw_code: str = ""

    @property
    def is_leaf(self) -> bool:
        return self.kind in LEAF_KINDS

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

    @property
    def mechanisms(self) -> dict[str, str]:
        """Declared mechanism columns (lower case) -> reason; entries without a reason are left
        out (they are reported, and lineage follows through them)."""
        declared = self.meta.get(MECHANISMS_KEY)
        if not isinstance(declared, Mapping):
            return {}
        return {
            str(column).lower(): reason.strip()
            for column, reason in declared.items()
            if valid_reason(reason)
        }

    @property
    def row_mechanism(self) -> str | None:
        reason = self.meta.get(ROW_MECHANISM_KEY)
        return reason.strip() if valid_reason(reason) else None


@dataclass(frozen=True)
class Macro:
    unique_id: str
    name: str
    sql: str
    macros: tuple[str, ...]  # unique ids of the macros it calls


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


@dataclass
class Project:
    """The relations and macros of a dbt project, with per-node caches of traced lineage."""

    relations: dict[str, Relation]
    macros: dict[str, Macro] = field(default_factory=dict)
    _keys: dict[tuple[str, ...], list[str]] = field(default_factory=dict, repr=False)
    cache: dict[tuple[str, ...], Any] = field(default_factory=dict, repr=False)

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
        matches = [r for r in self.relations.values() if r.name == model and r.kind in SQL_KINDS]
        matches = matches or [r for r in self.relations.values() if r.name == model]
        if len(matches) != 1:
            raise KeyError(f"no single model named {model!r} in the manifest")
        return matches[0]

    def lookup(self, table: exp.Table) -> str | None:
        """The unique_id of the relation a table reference in compiled SQL points at."""
        ids = set(self._keys.get(table_key(table), []))
        return ids.pop() if len(ids) == 1 else None  # unknown, or a partial name that is ambiguous

    def ancestors(self, unique_id: str) -> list[str]:
        """Every node a relation reads, transitively (manifest depends_on), nearest first."""
        seen: dict[str, None] = {}
        frontier = [unique_id]
        while frontier:
            current = frontier.pop(0)
            relation = self.relations.get(current)
            for parent in relation.depends_on if relation else ():
                if parent not in seen and parent != unique_id:
                    seen[parent] = None
                    frontier.append(parent)
        return list(seen)


def _merged_meta(node: Mapping[str, Any]) -> dict[str, Any]:
    config = node.get("config") or {}
    return {**(node.get("meta") or {}), **(config.get("meta") or {})}


def _columns(node: Mapping[str, Any]) -> tuple[tuple[str, ...], dict[str, dict[str, Any]]]:
    columns = node.get("columns") or {}
    names = tuple(c.get("name", k) for k, c in columns.items())
    meta = {c.get("name", k).lower(): _merged_meta(c) for k, c in columns.items()}
    return names, meta


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
        if kind not in (*SQL_KINDS, "seed"):
            continue
        config = node.get("config") or {}
        names, meta = _columns(node)
        depends_on = node.get("depends_on") or {}
        relations[unique_id] = Relation(
            unique_id=unique_id,
            kind=kind,
            name=node.get("name", unique_id),
            language=node.get("language") or "sql",
            relation_name=node.get("relation_name"),
            sql=compiled_sql.get(unique_id) or node.get("compiled_code"),
            columns=names,
            column_meta=meta,
            contract_enforced=bool((config.get("contract") or {}).get("enforced")),
            table_name=node.get("name", unique_id),
            meta=_merged_meta(node),
            depends_on=tuple(depends_on.get("nodes") or ()),
            macros=tuple(depends_on.get("macros") or ()),
            raw_code=node.get("raw_code") or "",
        )
    declarations: dict[str, Mapping[str, Any]] = {}
    for unique_id, source in (manifest.get("sources") or {}).items():
        names, meta = _columns(source)
        use_case = ((source.get("config") or {}).get("meta") or {}).get("use_case")
        if use_case is not None:
            # a use-case declaration: roles say which columns are blocked, and the raw reader adds
            # the file and row number to the file's columns
            meta = {column: _declared_source_meta(m) for column, m in meta.items()}
            names = (*names, *USE_CASE_SOURCE_COLUMNS)
            declarations[source["source_name"]] = use_case
        relations[unique_id] = Relation(
            unique_id=unique_id,
            kind="source",
            name=f"{source['source_name']}.{source['name']}",
            language="sql",
            relation_name=source.get("relation_name"),
            sql=None,
            columns=names,
            column_meta=meta,
            source_name=source["source_name"],
            table_name=source["name"],
        )
    for relation in relations.values():
        use_case = (relation.meta or {}).get("use_case")
        if relation.meta.get(GUARD_KEY) == "features" and use_case in declarations:
            relation.column_meta.update(_feature_table_roles(declarations[use_case]))
    macros = {
        unique_id: Macro(
            unique_id=unique_id,
            name=macro.get("name", unique_id),
            sql=macro.get("macro_sql") or "",
            macros=tuple((macro.get("depends_on") or {}).get("macros") or ()),
        )
        for unique_id, macro in (manifest.get("macros") or {}).items()
    }
    return Project(relations, macros)


# Columns the raw reader of a declared use case adds to its files' columns.
USE_CASE_SOURCE_COLUMNS = ("source_file", "source_row_number")


def _declared_source_meta(meta: Mapping[str, Any]) -> dict[str, Any]:
    """A declared column's meta with its role as the guard's leakage_role."""
    role = meta.get("role")
    leakage_role = role if role in LEAKY_ROLES else ("identifier" if role == "id" else None)
    return {**meta, "leakage_role": leakage_role} if leakage_role else dict(meta)


def _feature_table_roles(block: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """The columns of a use case's feature table that are not features (its key, split and fold,
    its id columns, its target, as the table names them) and its declared out-of-fold target
    encodings, allowed with their reason."""
    roles = {"entity_key": "identifier", "split": "split", "cv_fold": "split"}
    grain = block.get("grain") or []
    for column in grain if isinstance(grain, list) else [grain]:
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
        if node.get("resource_type") not in SQL_KINDS or node.get("language", "sql") != "sql":
            continue
        path = Path(target_path) / "compiled" / node["package_name"] / node["original_file_path"]
        if path.is_file():
            out[unique_id] = path.read_text()
    return out


def load_target(target_path: Path) -> Project:
    """A Project from a dbt target directory (manifest.json plus the compiled SQL beside it)."""
    manifest = json.loads((Path(target_path) / "manifest.json").read_text())
    return load_project(manifest, compiled_sql_from_target(Path(target_path), manifest))


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


def feature_tables(manifest: Mapping[str, Any]) -> list[str]:
    """Unique ids of the models the guard protects: config meta `leakage_guard: features`."""
    return sorted(
        unique_id
        for unique_id, node in (manifest.get("nodes") or {}).items()
        if node.get("resource_type") == "model" and _merged_meta(node).get(GUARD_KEY) == "features"
    )


# --------------------------------------------------------------------------------------------
# Relation names


def _relation_key_from_text(relation_name: str) -> tuple[str, ...] | None:
    try:
        table = sqlglot.parse_one(f"select * from {relation_name}", dialect=DIALECT).find(exp.Table)
    except SqlglotError:
        return None
    return table_key(table) if table is not None else None


def table_key(table: exp.Table) -> tuple[str, ...]:
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
