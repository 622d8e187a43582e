"""Across models: a model's column -> the source columns it reaches, with the path of each."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from leakproof.lineage._deps import Dep
from leakproof.lineage._project import Project, SourceColumn
from leakproof.lineage._scope import local_lineage

VALUE = "value"
FILTER = "filter"


@dataclass(frozen=True)
class Declared:
    """Where lineage stopped because the project declared the dependency honest."""

    kind: str  # mechanism | row_mechanism | compile_queries
    label: str  # e.g. "int_customers_split.split"
    reason: str

    def describe(self) -> str:
        what = {
            "mechanism": "mechanism",
            "row_mechanism": "row mechanism",
            "compile_queries": "compile-time queries",
        }[self.kind]
        return f"declared {what} {self.label}: {self.reason}"


@dataclass(frozen=True)
class Hit:
    source: SourceColumn | None
    unresolved: str | None
    dependency: str
    hops: tuple[str, ...]
    declared: Declared | None = None

    @property
    def key(self) -> tuple[str, str]:
        if self.declared is not None:
            return (self.declared.kind, self.declared.label)
        if self.source is None:
            return ("?", self.unresolved or "")
        return (f"{self.source.unique_id}.{self.source.column}", "")


def dedupe(hits: Iterable[Hit]) -> tuple[Hit, ...]:
    """The shortest path per reached column (or problem) and dependency kind."""
    best: dict[tuple[tuple[str, str], str], Hit] = {}
    for hit in hits:
        key = (hit.key, hit.dependency)
        if key not in best or (len(hit.hops), hit.hops) < (len(best[key].hops), best[key].hops):
            best[key] = hit
    return tuple(sorted(best.values(), key=lambda h: (h.dependency != VALUE, h.key, h.hops)))


def _prefix(hop: str, hits: Iterable[Hit]) -> Iterator[Hit]:
    for hit in hits:
        yield Hit(hit.source, hit.unresolved, hit.dependency, (hop, *hit.hops), hit.declared)


def _as_filter(hits: Iterable[Hit]) -> Iterator[Hit]:
    """The hits as reached through a filter: the first hop is marked `(filter)`."""
    for hit in hits:
        first = hit.hops[0] if hit.hops[0].startswith("(filter) ") else f"(filter) {hit.hops[0]}"
        yield Hit(hit.source, hit.unresolved, FILTER, (first, *hit.hops[1:]), hit.declared)


def _dep_hits(project: Project, dep: Dep) -> tuple[Hit, ...]:
    if dep.unresolved is not None:
        hits: tuple[Hit, ...] = (Hit(None, dep.unresolved, VALUE, ("(unresolved)",)),)
    elif dep.column is None:  # the relation's rows
        assert dep.relation is not None
        relation = project.relations[dep.relation]
        if relation.is_leaf:
            return ()
        hits = tuple(_prefix(f"{relation.name} rows", filter_hits(project, dep.relation)))
    else:
        assert dep.relation is not None
        hits = column_hits(project, dep.relation, dep.column)
    return tuple(_as_filter(hits)) if dep.filter else hits


def filter_hits(project: Project, unique_id: str) -> tuple[Hit, ...]:
    """Where the inputs that decide a model's rows lead (its own filters and, through the rows
    of the relations it reads, theirs). A declared row mechanism stops at the model's own."""
    key = ("filters", unique_id)
    if key not in project.cache:
        project.cache[key] = ()  # guards against a cycle
        relation = project.relations[unique_id]
        local = local_lineage(project, unique_id)
        if local.error is not None:
            hits = [Hit(None, local.error, FILTER, (f"{relation.name} rows",))]
        else:
            own = [d for d in local.filters if d.column is not None and d.unresolved is None]
            reason = relation.row_mechanism
            followed = [d for d in local.filters if not (reason and d in own)]
            hits = [h for dep in followed for h in _dep_hits(project, dep)]
            if reason and own:
                declared = Declared("row_mechanism", f"{relation.name} rows", reason)
                hits.append(Hit(None, None, FILTER, (f"{relation.name} rows",), declared))
        project.cache[key] = dedupe(hits)
    return project.cache[key]


def column_hits(project: Project, unique_id: str, column: str) -> tuple[Hit, ...]:
    """Every source column (or problem, or declared stop) a model's column reaches."""
    key = ("hits", unique_id, column)
    if key in project.cache:
        return project.cache[key]
    relation = project.relations[unique_id]
    hop = relation.hop(column)
    project.cache[key] = (Hit(None, f"cycle at {hop}", VALUE, (hop,)),)
    mechanism = relation.mechanisms.get(column)
    if mechanism is not None:
        declared = Declared("mechanism", f"{relation.name}.{column}", mechanism)
        hits: tuple[Hit, ...] = (Hit(None, None, VALUE, (hop,), declared),)
    elif relation.is_leaf:
        declared_name = relation.declared(column)
        if declared_name is None:
            reason = f"{hop} is not declared in yml, so its leakage role is unknown"
            hits = (Hit(None, reason, VALUE, (hop,)),)
        else:
            leaf = SourceColumn(
                unique_id=unique_id,
                source_name=relation.source_name or "seed",
                table=relation.table_name,
                column=declared_name,
                leakage_role=relation.column_meta.get(declared_name.lower(), {}).get(
                    "leakage_role"
                ),
            )
            hits = (Hit(leaf, None, VALUE, (hop,)),)
    else:
        local = local_lineage(project, unique_id)
        if local.error is not None:
            hits = (Hit(None, local.error, VALUE, (hop,)),)
        else:
            deps = local.column(column, relation.name)
            found = [h for dep in deps for h in _dep_hits(project, dep)]
            found += filter_hits(project, unique_id)
            hits = tuple(_prefix(hop, dedupe(found)))
    project.cache[key] = hits
    return hits


# --------------------------------------------------------------------------------------------
# Which models a column's lineage passes through (to place compile-time queries)


def column_reach(project: Project, unique_id: str, column: str) -> frozenset[str]:
    """Unique ids of the relations a model's column depends on, by value or filter, itself
    included; lineage stops at declared mechanisms as it does for paths."""
    key = ("reach", unique_id, column)
    if key not in project.cache:
        project.cache[key] = frozenset({unique_id})
        relation = project.relations[unique_id]
        reached = {unique_id}
        if not relation.is_leaf and column not in relation.mechanisms:
            local = local_lineage(project, unique_id)
            if local.error is None:
                for dep in local.column(column, relation.name):
                    reached |= _dep_reach(project, dep)
                reached |= rows_reach(project, unique_id)
        project.cache[key] = frozenset(reached)
    return project.cache[key]


def rows_reach(project: Project, unique_id: str) -> frozenset[str]:
    key = ("rows_reach", unique_id)
    if key not in project.cache:
        project.cache[key] = frozenset({unique_id})
        reached = {unique_id}
        if not project.relations[unique_id].is_leaf:
            for dep in local_lineage(project, unique_id).filters:
                reached |= _dep_reach(project, dep)
        project.cache[key] = frozenset(reached)
    return project.cache[key]


def _dep_reach(project: Project, dep: Dep) -> frozenset[str]:
    if dep.unresolved is not None or dep.relation is None:
        return frozenset()
    if dep.column is None:
        return rows_reach(project, dep.relation)
    return column_reach(project, dep.relation, dep.column)
