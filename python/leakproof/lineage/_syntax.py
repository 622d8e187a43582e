"""Syntax questions lineage asks of one model's SQL: which relations it reads, where a declared
mechanism column is defined, which expressions pick rows, and which joins keep the left rows."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlglot import exp
from sqlglot.optimizer.scope import Scope

from leakproof.lineage import _constructs as constructs
from leakproof.lineage._project import DIALECT, Project

_SYNTHETIC_PREFIX = "__lp_rel_"


@dataclass(frozen=True)
class TableRef:
    unique_id: str | None
    text: str


def replace_relations(project: Project, tree: exp.Expr) -> dict[str, TableRef]:
    """Rename every relation reference (not a CTE) to a synthetic table, keeping its alias, so a
    table function like read_csv(...) becomes an ordinary source of its scope."""
    cte_names = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    for number, derived in enumerate(tree.find_all(exp.Subquery)):
        if isinstance(derived.parent, (exp.From, exp.Join)) and not derived.alias:
            derived.set("alias", exp.TableAlias(this=exp.to_identifier(f"__lp_sub_{number}")))
    tables: dict[str, TableRef] = {}
    for table in list(tree.find_all(exp.Table)):
        is_name = isinstance(table.this, exp.Identifier)
        if is_name and not table.db and not table.catalog and table.name in cte_names:
            continue
        if not is_name and not isinstance(table.this, exp.Func):
            continue
        synthetic = f"{_SYNTHETIC_PREFIX}{len(tables)}"
        parts = {k: table.args[k].copy() for k in ("this", "db", "catalog") if table.args.get(k)}
        text = exp.Table(**parts)
        tables[synthetic] = TableRef(project.lookup(table), text.sql(dialect=DIALECT))
        alias = table.alias or (table.name if is_name else "")
        table.set("this", exp.to_identifier(synthetic))
        table.set("db", None)
        table.set("catalog", None)
        if alias and not table.args.get("alias"):
            table.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
    return tables


# --------------------------------------------------------------------------------------------
# Declared mechanism columns defined inside the model


def mechanism_marks(root: Scope, names: Mapping[str, str]) -> dict[int, str]:
    """id(projection) -> mechanism column, for the projection that defines each declared
    mechanism column of the model, followed from the final select back through CTEs and
    subqueries (by name, and by position through set operations)."""
    marks: dict[int, str] = {}
    for name in names:
        _mark(root, name, marks, 0)
    return marks


def _mark(scope: Scope, name: str, marks: dict[int, str], depth: int) -> None:
    expression = scope.expression
    if depth > 64 or has_column_list(scope):  # renamed by position: names say nothing
        return
    if isinstance(expression, exp.SetOperation):
        left = scope.set_operation_scopes[0].expression
        index = _position(left, name)
        for branch in scope.set_operation_scopes:
            branch_name = name if expression.args.get("by_name") else _name_at(branch, index)
            if branch_name is not None:
                _mark(branch, branch_name, marks, depth + 1)
        return
    if not isinstance(expression, exp.Select):
        return
    found = [p for p in expression.selects if not is_star(p) and p.alias_or_name == name]
    for projection in found:
        inner = projection.unalias()
        if isinstance(inner, exp.Column) and not is_star(inner):
            source = _syntactic_source(scope, inner.table)
            if isinstance(source, Scope):
                _mark(source, inner.name, marks, depth + 1)
                continue
        marks[id(projection)] = name
    if found:
        return
    for projection in expression.selects:
        if is_star(projection):
            aliases = [projection.table] if isinstance(projection, exp.Column) else None
            for alias, (_, source) in scope.selected_sources.items():
                if (aliases is None or alias in aliases) and isinstance(source, Scope):
                    _mark(source, name, marks, depth + 1)


def _position(select: exp.Expr, name: str) -> int | None:
    if not isinstance(select, exp.Select) or any(is_star(p) for p in select.selects):
        return None
    names = [p.alias_or_name for p in select.selects]
    return names.index(name) if name in names else None


def _name_at(scope: Scope, index: int | None) -> str | None:
    expression = scope.expression
    if index is None or not isinstance(expression, exp.Select):
        return None
    selects = expression.selects
    if any(is_star(p) for p in selects[: index + 1]) or index >= len(selects):
        return None
    return selects[index].alias_or_name


def _syntactic_source(scope: Scope, table: str) -> Scope | exp.Expr | None:
    if table:
        entry = scope.selected_sources.get(table)
        return entry[1] if entry else None
    if len(scope.selected_sources) == 1:
        return next(iter(scope.selected_sources.values()))[1]
    return None


# --------------------------------------------------------------------------------------------
# Syntax helpers


def has_column_list(scope: Scope) -> bool:
    """Whether the CTE or derived table of a scope renames its columns (`t(a, b)`)."""
    parent = scope.expression.parent
    alias = parent.args.get("alias") if isinstance(parent, (exp.Subquery, exp.CTE)) else None
    return alias is not None and bool(alias.columns)


def can_be_correlated(scope: Scope) -> bool:
    return bool(scope.is_subquery or scope.can_be_correlated)


def is_star(node: exp.Expr) -> bool:
    return isinstance(node, exp.Star) or (isinstance(node, exp.Column) and node.is_star)


def binding(column: exp.Column) -> str | None:
    """'bound' for a lambda / comprehension variable, 'captured' for any other column inside a
    lambda or comprehension body, None outside them."""
    child: exp.Expr = column
    node = column.parent
    inside = False
    while node is not None:
        if isinstance(node, exp.Lambda) and child is node.this:
            inside = True
            if column.name in {e.name for e in node.expressions}:
                return "bound"
        if isinstance(node, exp.Comprehension) and child is not node.args.get("iterator"):
            inside = True
            if column.name == node.expression.name:
                return "bound"
        child, node = node, node.parent
    return "captured" if inside else None


def picks_rows(inner: exp.Expr, root: exp.Expr) -> bool:
    """Whether `inner` sits where it chooses rows rather than feeds a value: a window's PARTITION
    BY / ORDER BY, an aggregate's FILTER or ORDER BY."""
    child = inner
    node = inner.parent
    while node is not None and child is not root:
        if isinstance(node, exp.Window) and (
            child is node.args.get("order")
            or any(child is p for p in node.args.get("partition_by") or [])
        ):
            return True
        if isinstance(node, exp.Filter) and child is node.args.get("expression"):
            return True
        if (
            isinstance(node, exp.Order)
            and any(child is e for e in node.expressions)
            and not isinstance(node.parent, (exp.Select, exp.SetOperation))
        ):
            return True
        child, node = node, node.parent
    return False


def is_membership(select: exp.Expr) -> bool:
    """A subquery under EXISTS, IN, ANY or ALL: it decides membership, not a value."""
    node = select.parent
    while isinstance(node, (exp.Subquery, exp.Paren)):
        node = node.parent
    return isinstance(node, (exp.Exists, exp.In, exp.Any, exp.All))


def is_using_column(scope: Scope, name: str) -> bool:
    return any(
        name in {e.name for e in join.args.get("using") or []}
        for join in scope.expression.args.get("joins") or []
    )


def pinned_columns(join: exp.Join, alias: str) -> frozenset[str]:
    """Columns of the joined side the join condition equates to values from the other sides."""
    pinned = {identifier.name for identifier in join.args.get("using") or []}
    on = join.args.get("on")
    for part in on.flatten() if isinstance(on, exp.And) else [on] if on is not None else []:
        if not isinstance(part, (exp.EQ, exp.NullSafeEQ)):
            continue
        for mine, other in ((part.this, part.expression), (part.expression, part.this)):
            columns = list(other.find_all(exp.Column))
            if (
                isinstance(mine, exp.Column)
                and mine.table == alias
                and all(c.table and c.table != alias for c in columns)
                and not other.find(exp.Query)
            ):
                pinned.add(mine.name)
    return frozenset(pinned)


def _is_aggregate_only(select: exp.Select) -> bool:
    if select.args.get("group") is not None or not select.selects:
        return False
    for projection in select.selects:
        if is_star(projection):
            return False
        aggregates = [
            a for a in projection.find_all(exp.AggFunc) if not a.find_ancestor(exp.Window)
        ]
        if not aggregates or projection.find(exp.Window):
            return False
    return True


@dataclass(frozen=True)
class Shape:
    """What is known of a relation's rows: the sets of output columns it is unique on (an empty
    set: at most one row), and whether it is always exactly one row."""

    keys: tuple[frozenset[str], ...] = ()
    one_row: bool = False

    def unique_on(self, pinned: frozenset[str]) -> bool:
        return any(key <= pinned for key in self.keys)


def shape(scope: Scope, table_shape: Callable[[exp.Expr], Shape]) -> Shape:
    """The Shape of a scope's rows, read from its GROUP BY / DISTINCT / aggregates / LIMIT, or
    passed through a plain select from the shape of its sole source (`table_shape` for a
    relation)."""
    select = scope.expression
    if not isinstance(select, exp.Select) or constructs.select_problem(select):
        return Shape()
    if has_column_list(scope):
        return Shape()
    keys: list[frozenset[str]] = []
    limit = select.args.get("limit")
    count = limit.expression if limit is not None else None
    small = isinstance(count, exp.Literal) and count.is_int and int(count.name) <= 1
    if small and not select.args.get("offset"):
        keys.append(frozenset())
    group = select.args.get("group")
    distinct = select.args.get("distinct")
    if group is not None:
        simple = not group.args.get("all") and not any(
            isinstance(p, (exp.Rollup, exp.Cube, exp.GroupingSets)) for p in group.expressions
        )
        names = [_projected_name(select, part) for part in group.expressions] if simple else [None]
        if None not in names:
            keys.append(frozenset(n for n in names if n is not None))
        return Shape(tuple(keys))
    if distinct is not None:
        on = distinct.args.get("on")
        parts = on.expressions if on is not None else [p.unalias() for p in select.selects]
        names = [None if is_star(p) else _projected_name(select, p) for p in parts]
        if None not in names:
            keys.append(frozenset(n for n in names if n is not None))
        return Shape(tuple(keys))
    if _is_aggregate_only(select):
        filtered = any(select.args.get(k) for k in ("having", "qualify", "limit", "offset"))
        return Shape((frozenset(),), one_row=not filtered)
    if select.args.get("joins") or select.find(exp.Explode, exp.Unnest):
        return Shape(tuple(keys))
    from_ = select.args.get("from_")
    entry = scope.selected_sources.get(from_.alias_or_name) if from_ is not None else None
    if entry is None:
        return Shape(tuple(keys))
    inner = shape(entry[1], table_shape) if isinstance(entry[1], Scope) else table_shape(entry[1])
    for key in inner.keys:
        names = [_output_name(select, name) for name in key]
        if None not in names:
            keys.append(frozenset(n for n in names if n is not None))
    filtered = any(select.args.get(k) for k in ("where", "having", "qualify", "limit", "offset"))
    return Shape(tuple(keys), one_row=inner.one_row and not filtered)


def _output_name(select: exp.Select, name: str) -> str | None:
    """The output name under which a select passes a source column on unchanged, if it does."""
    for projection in select.selects:
        inner = projection.unalias()
        if not is_star(projection) and isinstance(inner, exp.Column) and inner.name == name:
            return projection.alias_or_name
    explicit = {p.alias_or_name for p in select.selects if not is_star(p)}
    plain_star = any(is_star(p) and not constructs.star_problem(p) for p in select.selects)
    return name if plain_star and name not in explicit else None


def _projected_name(select: exp.Select, key: exp.Expr) -> str | None:
    """The output name under which a grouping / distinct key is projected, if it is."""
    if isinstance(key, exp.Literal) and key.is_int:
        index = int(key.name) - 1
        selects = select.selects
        ok = 0 <= index < len(selects) and not any(is_star(p) for p in selects[: index + 1])
        return selects[index].alias_or_name if ok else None
    for projection in select.selects:
        if not is_star(projection) and _same_key(projection.unalias(), key):
            return projection.alias_or_name
    if isinstance(key, exp.Column) and any(is_star(p) for p in select.selects):
        explicit = {p.alias_or_name for p in select.selects if not is_star(p)}
        return key.name if key.name not in explicit else None
    return None


def _same_key(projected: exp.Expr, key: exp.Expr) -> bool:
    """Whether a projection is the key itself (a column may be qualified on one side only)."""
    if isinstance(projected, exp.Column) and isinstance(key, exp.Column):
        tables = {projected.table, key.table} - {""}
        return projected.name == key.name and len(tables) <= 1 and not is_star(key)
    return projected == key
