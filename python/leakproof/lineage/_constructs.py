"""The positive list: the SQL constructs lineage traces. Anything else is `unresolved`.

Traced expression nodes: column references, literals, casts, arithmetic / comparison / logical
operators, CASE / IF / COALESCE, subscripts and struct / list / map construction and access (a
container carries every input of its elements), scalar / EXISTS / IN subqueries, aggregates
(with FILTER and ORDER BY), window functions (PARTITION BY / ORDER BY / frames, named windows),
lambdas and list comprehensions over their own variables, `count(*)`, every function sqlglot
types as a known built-in (except the table-valued ones below), and the DuckDB built-ins in
TRACED_FUNCTIONS that sqlglot leaves untyped.

Never traced (each makes the column - or, in a FROM clause, every column - `unresolved`):
COLUMNS(...), `*` with EXCLUDE / REPLACE / RENAME / LIKE, `*` inside an expression other than
count(*), unnest / explode (in SELECT or FROM), PIVOT / UNPIVOT, LATERAL, VALUES, table functions
that are not a source of the manifest, TABLESAMPLE / USING SAMPLE, time travel, positional
(`#1`), ASOF and NATURAL joins, parameters and session variables (getvariable, current_setting),
lambdas that capture a column, any function not listed (a DuckDB macro or extension function can
read any table), and any node type or clause not named above.
"""

from __future__ import annotations

from sqlglot import exp

# DuckDB built-ins that sqlglot parses as anonymous functions, and which compute their result
# from their arguments alone. Anything else anonymous is unresolved.
TRACED_FUNCTIONS = frozenset(
    """
    hash fsum kahan_sum sumkahan favg fdiv fmod mean product geomean geometric_mean entropy
    kurtosis_pop mad sem histogram arbitrary weighted_avg wavg arg_max_null arg_min_null
    bit_count gcd lcm greatest_common_divisor least_common_multiple even gamma lgamma isfinite
    signbit nextafter round_even roundbankers divide multiply add subtract
    age century decade millennium microsecond millisecond nanosecond isoyear weekday yearweek
    julian epoch_us epoch_ns date_part datepart date_sub datesub days_in_month era
    timezone_hour timezone_minute to_years to_months to_weeks to_hours to_minutes to_seconds
    to_milliseconds to_microseconds to_quarters to_decades to_centuries to_millennia
    strlen octet_length ord prefix suffix printf strip_accents base64 bin to_base md5_number
    hamming jaccard jaro_similarity damerau_levenshtein mismatches left_grapheme right_grapheme
    length_grapheme url_encode url_decode cardinality element_at to_json json_array_length
    list_sum list_avg list_count list_first list_last list_extract list_element list_position
    list_indexof list_cat list_unique list_reverse list_slice list_median list_mode list_product
    list_stddev_samp list_var_samp list_zip list_has_all list_intersect array_extract
    array_unique map_extract map_extract_value map_values map_entries map_contains
    struct_extract_at struct_values
    """.split()  # noqa: SIM905 - a list of words reads better here
)

# Typed functions that produce or read rows rather than compute a value.
_TABLE_VALUED = (
    exp.Columns,
    exp.Explode,
    exp.ExplodeOuter,
    exp.Inline,
    exp.Unnest,
    exp.ReadCSV,
    exp.ReadParquet,
)
_ANONYMOUS = (exp.Anonymous, exp.AnonymousAggFunc, exp.ParameterizedAgg)
_TRACED_NODES = (
    exp.Column,
    exp.Identifier,
    exp.Literal,
    exp.Boolean,
    exp.Null,
    exp.Var,
    exp.Alias,
    exp.Tuple,
    exp.Bracket,
    exp.Slice,
    exp.DataType,
    exp.DataTypeParam,
    exp.Interval,
    exp.Window,
    exp.WindowSpec,
    exp.Order,
    exp.Ordered,
    exp.Filter,
    exp.Where,
    exp.Having,
    exp.Qualify,
    exp.Limit,
    exp.Offset,
    exp.Rollup,
    exp.Cube,
    exp.GroupingSets,
    exp.Distinct,
    exp.Subquery,
    exp.Select,
    exp.SetOperation,
    exp.Predicate,
    exp.Binary,
    exp.Unary,
    exp.Func,
    exp.Lambda,
    exp.Comprehension,
    exp.IgnoreNulls,
    exp.RespectNulls,
    exp.AtTimeZone,
    exp.JSONPath,
    exp.JSONPathPart,
    exp.Star,
)

# Clauses of a SELECT / set operation / join / table reference that lineage reads.
SELECT_ARGS = frozenset(
    {
        "expressions",
        "from_",
        "joins",
        "where",
        "group",
        "having",
        "qualify",
        "windows",
        "order",
        "limit",
        "offset",
        "distinct",
        "with_",
    }
)
SET_ARGS = frozenset(
    {"this", "expression", "distinct", "by_name", "order", "limit", "offset", "with_"}
)
JOIN_ARGS = frozenset({"this", "on", "using", "side", "kind"})
JOIN_KINDS = frozenset({"", "INNER", "OUTER", "CROSS", "SEMI", "ANTI"})
TABLE_ARGS = frozenset({"this", "db", "catalog", "alias"})


def untraceable(node: exp.Expr) -> str | None:
    """Why lineage cannot trace an expression node, or None when it is on the positive list."""
    if isinstance(node, _TABLE_VALUED):
        return f"{node.key.upper()}(...) is not traced"
    if isinstance(node, _ANONYMOUS):
        name = node.name.lower()
        if name not in TRACED_FUNCTIONS:
            return (
                f"function {name}() is not a DuckDB built-in lineage knows (a macro or extension "
                "function can read any table)"
            )
        return None
    if isinstance(node, exp.Star):
        if isinstance(node.parent, exp.Count) or _star_projection(node):
            return None
        return "a * inside an expression is not traced"
    if isinstance(node, exp.Column) and isinstance(node.this, exp.Star):
        return None if _star_projection(node) else "a table.* inside an expression is not traced"
    if isinstance(node, _TRACED_NODES):
        return None
    return f"{type(node).__name__} is not traced"


def _star_projection(node: exp.Expr) -> bool:
    return isinstance(node.parent, exp.Select) and node in node.parent.expressions


def star_problem(star: exp.Expr) -> str | None:
    """A projected `*` / `t.*` with a modifier lineage does not trace."""
    star_node = star.this if isinstance(star, exp.Column) else star
    used = [name for name in ("except_", "replace", "rename") if star_node.args.get(name)]
    if used:
        words = ", ".join(name.rstrip("_").upper() for name in used)
        return f"* {words} is not traced"
    return None


def select_problem(select: exp.Select) -> str | None:
    unknown = sorted(k for k, v in select.args.items() if v and k not in SELECT_ARGS)
    if unknown:
        return f"select with {', '.join(unknown)} is not traced"
    with_ = select.args.get("with_")
    if with_ is not None and with_.args.get("recursive"):
        return "a recursive CTE is not traced"
    return None


def set_problem(expression: exp.SetOperation) -> str | None:
    unknown = sorted(k for k, v in expression.args.items() if v and k not in SET_ARGS)
    return f"{expression.key} with {', '.join(unknown)} is not traced" if unknown else None


def join_problem(join: exp.Join) -> str | None:
    if isinstance(join.this, (exp.Lateral, exp.Unnest)):
        return f"a {join.this.key.upper()} join is not traced"
    unknown = sorted(k for k, v in join.args.items() if v and k not in JOIN_ARGS)
    if unknown:
        return f"join with {', '.join(unknown)} is not traced"
    if (join.kind or "") not in JOIN_KINDS:
        return f"{join.kind} join is not traced"
    return None


def table_problem(table: exp.Table) -> str | None:
    unknown = sorted(k for k, v in table.args.items() if v and k not in TABLE_ARGS)
    if unknown:
        return f"table reference with {', '.join(unknown)} is not traced"
    alias = table.args.get("alias")
    if alias is not None and alias.columns:
        return "a table alias that renames columns is not traced"
    return None
