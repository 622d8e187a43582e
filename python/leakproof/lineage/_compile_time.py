"""Models that run queries while dbt compiles them, found statically in the manifest.

A model (or a macro it calls) that runs `run_query`, `{% call statement %}` / `load_result` or
`adapter.execute` at compile time can render values of the data - target values included - into
its SQL as literals, where column lineage cannot see them. Every node's `depends_on.macros` and
every macro's `depends_on.macros` and `macro_sql` are followed; `adapter.dispatch('name')` is
followed to every macro implementing `name`.
"""

from __future__ import annotations

import re
from collections import deque

from leakproof.lineage._project import SQL_KINDS, Project, Relation

QUERY_MACROS = frozenset({"macro.dbt.run_query", "macro.dbt.statement"})
_QUERY_CALL = re.compile(
    r"\b(?:run_query|load_result|statement)\s*\(|\badapter\s*\.\s*execute\s*\("
)
_DISPATCH = re.compile(r"adapter\s*\.\s*dispatch\s*\(\s*['\"](\w+)['\"]")


def _dispatched(project: Project, sql: str) -> list[str]:
    names = set(_DISPATCH.findall(sql))
    if not names:
        return []
    return sorted(
        unique_id
        for unique_id, macro in project.macros.items()
        if any(macro.name == n or macro.name.endswith(f"__{n}") for n in names)
    )


def _called(match: re.Match[str] | None) -> str:
    assert match is not None
    return "".join(match.group(0).split()).rstrip("(") + "(...)"


def query_chain(project: Project, relation: Relation) -> tuple[str, ...] | None:
    """The shortest chain from a model to a compile-time query: (model, macro, ..., what runs
    the query), or None when it runs none."""
    match = _QUERY_CALL.search(relation.raw_code)
    if match:
        return (f"{relation.name} calls {_called(match)} in its own SQL",)
    start = [*relation.macros, *_dispatched(project, relation.raw_code)]
    parent: dict[str, str | None] = dict.fromkeys(start)
    queue = deque(dict.fromkeys(start))
    while queue:
        current = queue.popleft()
        macro = project.macros.get(current)
        call = _QUERY_CALL.search(macro.sql) if macro is not None else None
        if current in QUERY_MACROS or call:
            chain = [current]
            while parent[chain[-1]] is not None:
                chain.append(parent[chain[-1]])  # type: ignore[arg-type]
            last = current if current in QUERY_MACROS else f"{current} calls {_called(call)}"
            return (relation.name, *reversed(chain[1:]), last)
        following = [*macro.macros, *_dispatched(project, macro.sql)] if macro else []
        for name in following:
            if name not in parent:
                parent[name] = current
                queue.append(name)
    return None


def compile_time_queries(
    project: Project, unique_id: str
) -> list[tuple[Relation, tuple[str, ...]]]:
    """The model and its ancestors that run queries at compile time, each with its chain."""
    found = []
    for node in (unique_id, *project.ancestors(unique_id)):
        relation = project.relations.get(node)
        if relation is None or relation.kind not in SQL_KINDS:
            continue
        chain = query_chain(project, relation)
        if chain is not None:
            found.append((relation, chain))
    return found
