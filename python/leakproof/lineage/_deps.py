"""What one model's columns and rows depend on, as lineage records it inside the model."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from leakproof.lineage._syntax import Shape


@dataclass(frozen=True)
class Dep:
    """One input inside one model: an upstream relation's column (`column` None: that relation's
    rows, i.e. its own filters), or something that cannot be traced. `filter` marks an input
    that decides which rows exist or which row is read, rather than feeding the value."""

    relation: str | None = None
    column: str | None = None
    unresolved: str | None = None
    filter: bool = False


def as_filter(deps: Iterable[Dep]) -> frozenset[Dep]:
    return frozenset(d if d.filter else replace(d, filter=True) for d in deps)


@dataclass(frozen=True)
class Local:
    """A model's output columns, each column's inputs, and the inputs that decide its rows."""

    columns: tuple[str, ...] = ()
    value: Mapping[str, frozenset[Dep]] = field(default_factory=dict)
    filters: frozenset[Dep] = frozenset()
    open: frozenset[Dep] = frozenset()  # a star over relations whose columns are unknown
    origins: frozenset[str] = frozenset()
    error: str | None = None  # the whole model cannot be traced
    shape: Shape = field(
        default_factory=Shape
    )  # what is known of its rows (keys it is unique on, one row)

    def column(self, name: str, where: str) -> frozenset[Dep]:
        return _column_of(self.value, self.open, self.origins, frozenset(), name, where)


@dataclass
class Out:
    """Output of one scope (see Local), plus `extra`: inputs every column of it carries (the
    filters of a left-joined side that cannot change the rows of the left side)."""

    names: list[str]
    value: dict[str, frozenset[Dep]]
    filters: frozenset[Dep]
    open: frozenset[Dep]
    positional: list[tuple[str, frozenset[Dep]]] = field(default_factory=list)
    origins: frozenset[str] = frozenset()
    extra: frozenset[Dep] = frozenset()

    def column(self, name: str, where: str) -> frozenset[Dep]:
        return _column_of(self.value, self.open, self.origins, self.extra, name, where)

    def with_extra(self, extra: frozenset[Dep]) -> Out:
        value = {name: deps | extra for name, deps in self.value.items()}
        positional = [(name, deps | extra) for name, deps in self.positional]
        return Out(
            self.names, value, self.filters, self.open, positional, self.origins, extra | self.extra
        )


def _column_of(
    value: Mapping[str, frozenset[Dep]],
    open_: frozenset[Dep],
    origins: frozenset[str],
    extra: frozenset[Dep],
    name: str,
    where: str,
) -> frozenset[Dep]:
    if name in value:
        return value[name]
    if open_:
        return frozenset(_open_column(dep, name) for dep in open_) | extra
    if origins:  # not among the columns listed: let the relation say why
        return frozenset(Dep(relation=origin, column=name) for origin in origins) | extra
    return frozenset({Dep(column=name, unresolved=f"{where} has no column {name}")})


def _open_column(dep: Dep, name: str) -> Dep:
    if dep.relation is not None:
        return Dep(relation=dep.relation, column=name)
    return Dep(column=name, unresolved=dep.unresolved)


def unresolved_out(dep: Dep) -> Out:
    return Out([], {}, as_filter([dep]), frozenset({dep}))


def all_values(out: Out) -> frozenset[Dep]:
    return frozenset().union(*out.value.values()) if out.value else frozenset()
