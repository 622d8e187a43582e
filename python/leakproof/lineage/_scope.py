"""One model's compiled SQL -> each output column's direct inputs, and what decides its rows."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers
from sqlglot.optimizer.scope import Scope, build_scope, walk_in_scope

from leakproof.lineage import _constructs as constructs
from leakproof.lineage._deps import Dep, Local, Out, all_values, as_filter, unresolved_out
from leakproof.lineage._project import DIALECT, Project, Relation
from leakproof.lineage._syntax import (
    Shape,
    TableRef,
    binding,
    can_be_correlated,
    is_membership,
    is_star,
    is_using_column,
    mechanism_marks,
    picks_rows,
    pinned_columns,
    replace_relations,
    shape,
)

# --------------------------------------------------------------------------------------------
# Per model, cached on the project


def local_lineage(project: Project, unique_id: str) -> Local:
    key = ("local", unique_id)
    if key not in project.cache:
        project.cache[key] = Local(error=f"{unique_id} is being traced (cycle)")
        project.cache[key] = _analyse(project, project.relations[unique_id])
    return project.cache[key]


def schema_of(project: Project, unique_id: str) -> tuple[tuple[str, ...], bool]:
    """Column names of a relation for `select *` expansion, and whether that list is complete."""
    relation = project.relations[unique_id]
    declared = tuple(c.lower() for c in relation.columns)
    if relation.is_leaf:
        return declared, bool(declared)
    local = local_lineage(project, unique_id)
    if local.error is None and not local.open:
        return local.columns, True
    known = local.columns + tuple(c for c in declared if c not in local.columns)
    return known, relation.contract_enforced and bool(declared)


def _analyse(project: Project, relation: Relation) -> Local:
    if relation.language != "sql":
        return Local(
            error=f"{relation.name} is a {relation.language} model; its lineage cannot "
            "be traced from SQL"
        )
    if not relation.sql:
        return Local(error=f"{relation.name} has no compiled SQL (run dbt compile)")
    try:
        statements = [s for s in sqlglot.parse(relation.sql, dialect=DIALECT) if s is not None]
    except SqlglotError as error:
        return Local(error=f"sqlglot cannot parse {relation.name}: {_first_line(error)}")
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        return Local(error=f"{relation.name} is not a single select statement")
    tree = normalize_identifiers(statements[0], dialect=DIALECT)
    tables = replace_relations(project, tree)
    try:
        root = build_scope(tree)
        if root is None:
            return Local(error=f"{relation.name}: no select to trace")
        marks = mechanism_marks(root, relation.mechanisms)
        walker = _Walker(project, relation, tables, marks)
        out = walker.output(root)
        rows = shape(root, walker.table_shape)
    except (SqlglotError, RecursionError) as error:
        return Local(error=f"sqlglot cannot trace {relation.name}: {_first_line(error)}")
    return Local(tuple(out.names), out.value, out.filters, out.open, out.origins, shape=rows)


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]


# --------------------------------------------------------------------------------------------
# Scopes


class _Walker:
    """Computes, for every scope of one model, its output columns and their direct inputs."""

    def __init__(
        self,
        project: Project,
        relation: Relation,
        tables: dict[str, TableRef],
        marks: dict[int, str],
    ):
        self.project = project
        self.relation = relation
        self.tables = tables
        self.marks = marks
        self.cache: dict[int, Out] = {}
        self.attached: dict[tuple[int, str], frozenset[Dep]] = {}

    def output(self, scope: Scope) -> Out:
        if id(scope) not in self.cache:
            expression = scope.expression
            if isinstance(expression, exp.SetOperation):
                out = self._set_operation(scope)
            elif isinstance(expression, exp.Select):
                out = self._select(scope)
            else:
                kind = type(expression).__name__
                out = unresolved_out(self._unresolved(f"a {kind} source is not traced"))
            self.cache[id(scope)] = self._renamed(scope, out)
        return self.cache[id(scope)]

    def _unresolved(self, reason: str, column: str | None = None) -> Dep:
        return Dep(column=column, unresolved=f"{self.relation.name}: {reason}")

    def _renamed(self, scope: Scope, out: Out) -> Out:
        """Apply a column list on the alias of a CTE or derived table (`t(a, b)`) by position."""
        parent = scope.expression.parent
        alias = parent.args.get("alias") if isinstance(parent, (exp.Subquery, exp.CTE)) else None
        if alias is None or not alias.columns:
            return out
        names = [c.name for c in alias.columns]
        if out.open or len(names) > len(out.positional):
            return unresolved_out(self._unresolved("a column list on an alias over *"))
        positional = [(n, d) for n, (_, d) in zip(names, out.positional, strict=False)]
        positional += out.positional[len(names) :]
        value: dict[str, frozenset[Dep]] = {}
        for name, deps in positional:
            value[name] = value.get(name, frozenset()) | deps
        names_out = list(dict.fromkeys(n for n, _ in positional))
        return Out(names_out, value, out.filters, out.open, positional, out.origins, out.extra)

    # sources ---------------------------------------------------------------------------------
    def _source(self, source: exp.Expr | Scope) -> Out:
        if isinstance(source, Scope):
            return self.output(source)
        ref = self.tables.get(source.name) if isinstance(source, exp.Table) else None
        if ref is None:
            text = source.sql(dialect=DIALECT)[:80]
            return unresolved_out(self._unresolved(f"source {text} is not traced"))
        problem = constructs.table_problem(source)
        if problem:
            return unresolved_out(self._unresolved(f"{ref.text}: {problem}"))
        if ref.unique_id is None:
            dep = self._unresolved(f"{ref.text} is not a model, seed or source of the manifest")
            return unresolved_out(dep)
        names, complete = schema_of(self.project, ref.unique_id)
        rows = frozenset({Dep(relation=ref.unique_id, filter=True)})
        value = {name: frozenset({Dep(ref.unique_id, name)}) for name in names}
        positional = [(name, value[name]) for name in names]
        # Columns it cannot list are asked of the relation itself, which says why it cannot answer.
        opened = frozenset() if complete else frozenset({Dep(relation=ref.unique_id)})
        return Out(list(names), value, rows, opened, positional, frozenset({ref.unique_id}))

    def table_shape(self, table: exp.Expr) -> Shape:
        """The Shape of a model read by name (as traced from its own SQL)."""
        ref = self.tables.get(table.name) if isinstance(table, exp.Table) else None
        if ref is None or ref.unique_id is None or constructs.table_problem(table):
            return Shape()
        if self.project.relations[ref.unique_id].is_leaf:
            return Shape()
        return local_lineage(self.project, ref.unique_id).shape

    def _source_out(self, scope: Scope, alias: str) -> Out:
        entry = scope.selected_sources.get(alias)
        if entry is None:
            source = scope.sources.get(alias)
            if source is None:
                return unresolved_out(self._unresolved(f"unknown table {alias}"))
            return self._source(source)
        out = self._source(entry[1])
        extra = self.attached.get((id(scope), alias))
        return out.with_extra(extra) if extra else out

    def _owner(self, scope: Scope, alias: str) -> Scope | None:
        current: Scope | None = scope
        while current is not None:
            if alias in current.sources:
                return current
            current = current.parent if can_be_correlated(current) else None
        return None

    # set operations --------------------------------------------------------------------------
    def _set_operation(self, scope: Scope) -> Out:
        left, right = (self.output(s) for s in scope.set_operation_scopes)
        expression = scope.expression
        rows = set(left.filters | right.filters)
        problem = constructs.set_problem(expression)
        if problem:
            rows.add(self._unresolved(problem))
        distinct = bool(expression.args.get("distinct"))
        if not isinstance(expression, exp.Union):  # intersect / except: the right side picks rows
            rows |= as_filter(all_values(right) | right.open)
            if distinct:
                rows |= as_filter(all_values(left) | left.open)
            out = Out(left.names, left.value, frozenset(), left.open, left.positional, left.origins)
        else:
            out = self._union(expression, left, right)
            if distinct:
                rows |= as_filter(all_values(out) | out.open)
        rows |= out.filters
        for key in ("order", "limit", "offset"):
            if expression.args.get(key) is not None:
                rows |= self._output_key_deps(expression.args[key], out)
        out.filters = as_filter(rows)
        return out

    def _union(self, expression: exp.Union, left: Out, right: Out) -> Out:
        value: dict[str, frozenset[Dep]] = {}
        if expression.args.get("by_name"):
            for name in dict.fromkeys(left.names + right.names):
                value[name] = left.value.get(name, frozenset()) | right.value.get(name, frozenset())
            positional = list(value.items())
            origins = left.origins | right.origins
            return Out(list(value), value, frozenset(), left.open | right.open, positional, origins)
        if left.open or right.open or len(left.positional) != len(right.positional):
            dep = self._unresolved("a union whose columns cannot be matched by position")
            for name in left.names:
                value[name] = left.value[name] | {dep} | all_values(right) | right.open
            positional = [(name, value[name]) for name, _ in left.positional]
            return Out(
                left.names, value, frozenset({dep}), left.open | right.open | {dep}, positional
            )
        positional = [
            (name, deps | other)
            for (name, deps), (_, other) in zip(left.positional, right.positional, strict=True)
        ]
        for name, deps in positional:
            value[name] = value.get(name, frozenset()) | deps
        origins = left.origins | right.origins
        return Out(left.names, value, frozenset(), frozenset(), positional, origins)

    def _output_key_deps(self, node: exp.Expr, out: Out) -> frozenset[Dep]:
        """Inputs of an ORDER BY / LIMIT written after a set operation (output names only)."""
        deps: set[Dep] = set()
        for inner in node.walk():
            if isinstance(inner, exp.Ordered) and isinstance(inner.this, exp.Literal):
                index = int(inner.this.name) - 1 if inner.this.is_int else -1
                if 0 <= index < len(out.positional):
                    deps |= out.positional[index][1]
            elif isinstance(inner, exp.Column):
                deps |= out.column(inner.name, self.relation.name)
            elif isinstance(inner, (exp.Query, exp.Var)) or constructs.untraceable(inner):
                deps.add(
                    self._unresolved(f"{inner.sql(dialect=DIALECT)[:60]} after a set operation")
                )
        return as_filter(deps)

    # select ----------------------------------------------------------------------------------
    def _select(self, scope: Scope) -> Out:
        select = scope.expression
        rows: set[Dep] = set()
        problem = constructs.select_problem(select)
        if problem:
            rows.add(self._unresolved(problem))
        from_ = select.args.get("from_")
        if from_ is not None:
            rows |= self._source_out(scope, from_.alias_or_name).filters
        for join in select.args.get("joins") or []:
            rows |= self._join(scope, join)

        positional: list[tuple[str, frozenset[Dep]]] = []
        value: dict[str, frozenset[Dep]] = {}
        opened: set[Dep] = set()
        origins: set[str] = set()
        not_aggregated: list[frozenset[Dep]] = []  # what `group by all` groups by
        windows = as_filter(
            d for w in select.args.get("windows") or [] for d in self._expression(scope, w, {})
        )
        for projection in select.selects:
            if is_star(projection):
                for name, deps in self._expand_star(scope, projection, opened, origins):
                    positional.append((name, deps))
                    value[name] = value.get(name, frozenset()) | deps
                    not_aggregated.append(deps)
                continue
            if projection.find(exp.Columns):  # expands to columns that cannot be listed
                opened.add(self._unresolved("COLUMNS(...) is not traced"))
                continue
            name = projection.alias_or_name
            if id(projection) in self.marks:
                deps = frozenset({Dep(self.relation.unique_id, self.marks[id(projection)])})
            else:
                deps = self._expression(scope, projection, value)
                if windows and projection.find(exp.Window):
                    deps |= windows
            positional.append((name, deps))
            value[name] = value.get(name, frozenset()) | deps
            if not projection.find(exp.AggFunc):
                not_aggregated.append(deps)

        for key in ("where", "having", "qualify", "limit", "offset"):
            if select.args.get(key) is not None:
                rows |= self._expression(scope, select.args[key], value)
        group = select.args.get("group")
        if group is not None:
            if group.args.get("all"):
                rows = rows.union(*not_aggregated)
            for part in group.expressions:
                rows |= self._key_deps(scope, part, value, positional)
        distinct = select.args.get("distinct")
        if distinct is not None:
            on = distinct.args.get("on")
            if on is None:
                rows = rows.union(*value.values(), opened)
            else:
                rows |= self._expression(scope, on, value)
        order = select.args.get("order")
        if order is not None:
            for part in order.expressions:
                rows |= self._key_deps(scope, part.this, value, positional)
        if windows and any(
            select.args.get(k) is not None and select.args[k].find(exp.Window)
            for k in ("qualify", "order")
        ):
            rows |= windows
        names = list(dict.fromkeys(name for name, _ in positional))
        return Out(names, value, as_filter(rows), frozenset(opened), positional, frozenset(origins))

    def _key_deps(
        self,
        scope: Scope,
        part: exp.Expr,
        value: Mapping[str, frozenset[Dep]],
        positional: list[tuple[str, frozenset[Dep]]],
    ) -> frozenset[Dep]:
        """Inputs of a GROUP BY / ORDER BY key: an ordinal, ALL, or an expression."""
        if isinstance(part, exp.Literal) and part.is_int:
            index = int(part.name) - 1
            if 0 <= index < len(positional):
                return positional[index][1]
            return frozenset({self._unresolved(f"key {part.name} out of range")})
        if isinstance(part, exp.Var) and part.name.upper() == "ALL":
            return frozenset().union(*(deps for _, deps in positional))
        return self._expression(scope, part, value)

    def _join(self, scope: Scope, join: exp.Join) -> frozenset[Dep]:
        """The inputs a join adds to the rows of its select. A left join (or a cross join) with a
        side that matches at most one (exactly one) row keeps the left rows as they are: that
        side's filters and the join condition then go with its columns instead."""
        alias = join.alias_or_name
        right = self._source_out(scope, alias)
        on_deps: set[Dep] = set()
        if join.args.get("on") is not None:
            on_deps |= self._expression(scope, join.args["on"], {})
        for identifier in join.args.get("using") or []:
            on_deps |= self._column(scope, exp.column(identifier.name), {}, using=True)
        problem = constructs.join_problem(join)
        if problem:
            return as_filter({self._unresolved(problem)} | right.filters | on_deps)
        source = scope.selected_sources.get(alias, (None, None))[1]
        keeps_left = False
        if source is not None and join.kind not in ("SEMI", "ANTI"):
            if isinstance(source, Scope):
                rows = shape(source, self.table_shape)
            else:
                rows = self.table_shape(source)
            if join.side == "LEFT":
                keeps_left = rows.unique_on(pinned_columns(join, alias))
            elif join.kind == "CROSS" or not (
                join.side or join.args.get("on") or join.args.get("using")
            ):
                keeps_left = rows.one_row
        if keeps_left:
            self.attached[(id(scope), alias)] = as_filter(right.filters | on_deps)
            return frozenset()
        return as_filter(right.filters | on_deps)

    def _expand_star(
        self, scope: Scope, star: exp.Expr, opened: set[Dep], origins: set[str]
    ) -> Iterator[tuple[str, frozenset[Dep]]]:
        problem = constructs.star_problem(star)
        star_node = star.this if isinstance(star, exp.Column) else star
        excluded = {e.name for e in star_node.args.get("except_") or []}
        renamed = {e.this.name: e.alias for e in star_node.args.get("rename") or []}
        aliases = [star.table] if isinstance(star, exp.Column) else list(scope.selected_sources)
        for alias in aliases:
            if self._owner(scope, alias) is None:
                opened.add(self._unresolved(f"select {alias}.* over an unknown table"))
                continue
            out = self._source_out(self._owner(scope, alias) or scope, alias)
            for name, deps in out.positional:
                if name in excluded:
                    continue
                if problem:
                    yield renamed.get(name, name), frozenset({self._unresolved(problem, name)})
                else:
                    yield name, deps
            if problem and out.open:
                opened.add(self._unresolved(problem))
            else:
                opened |= out.open
            origins |= out.origins

    def _expression(
        self, scope: Scope, node: exp.Expr, aliases: Mapping[str, frozenset[Dep]]
    ) -> frozenset[Dep]:
        """Direct inputs of an expression: its columns (those that pick rows - window keys,
        aggregate FILTER and ORDER BY - as filters) and everything its subqueries read."""
        deps: set[Dep] = set()
        children = {id(s.expression): s for s in scope.subquery_scopes}
        for inner in walk_in_scope(node):
            if inner is not node and isinstance(inner, (exp.Select, exp.SetOperation)):
                child = children.get(id(inner))
                if child is None:
                    deps.add(self._unresolved("a subquery sqlglot did not scope"))
                    continue
                out = self.output(child)
                read = all_values(out) | out.open
                picks = is_membership(inner) or picks_rows(inner, node)
                deps |= (as_filter(read) if picks else read) | as_filter(out.filters)
                continue
            problem = constructs.untraceable(inner)
            if problem:
                deps.add(self._unresolved(problem))
            elif isinstance(inner, exp.Column) and not is_star(inner):
                bound = binding(inner)
                if bound == "captured":
                    deps.add(self._unresolved(f"a lambda capturing column {inner.name}"))
                elif bound is None:
                    found = self._column(scope, inner, aliases)
                    deps |= as_filter(found) if picks_rows(inner, node) else found
        return frozenset(deps)

    def _column(
        self,
        scope: Scope,
        column: exp.Column,
        aliases: Mapping[str, frozenset[Dep]],
        using: bool = False,
    ) -> frozenset[Dep]:
        """Inputs of one column reference, following DuckDB's rules: a source column before an
        earlier select alias, a sole source takes any column, correlated names look outwards."""
        name = column.name
        if column.table:
            owner = self._owner(scope, column.table)
            if owner is None:
                return frozenset({self._unresolved(f"unknown table {column.table}", name)})
            out = self._source_out(owner, column.table)
            return out.column(name, f"{self.relation.name} ({column.table})")
        selected = scope.selected_sources
        found = []
        unknown = False
        for alias in selected:
            out = self._source_out(scope, alias)
            if name in out.value:
                found.append(out.value[name])
            elif out.open:
                unknown = True
        if found and (using or len(found) == 1) and not unknown:
            return frozenset().union(*found)
        if not found and name in aliases and not unknown:
            return aliases[name]
        if len(selected) == 1:
            (alias,) = selected
            out = self._source_out(scope, alias)
            return out.column(name, f"{self.relation.name} ({alias})")
        if found and is_using_column(scope, name):
            return frozenset().union(*found)
        if not found and not unknown and scope.parent is not None and can_be_correlated(scope):
            return self._column(scope.parent, column, {})  # a correlated reference
        reason = f"cannot tell which of {', '.join(sorted(selected))} column {name} comes from"
        return frozenset({self._unresolved(reason, name)})
