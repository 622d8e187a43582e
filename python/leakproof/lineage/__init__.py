"""Column lineage of feature tables, traced through the compiled SQL of every model behind them.

Layer 2 of the leakage guard (docs/design.md, "Leakage guard"). Every column of a feature table
(config meta `leakage_guard: features`) is followed through the real SQL - sqlglot over dbt's
compiled models, not column names - back to the source columns it depends on. It fails closed:

- **By value or by filter, a blocked column fails.** A feature that depends on a source column
  declared `leakage_role: target | target_derived | post_outcome` is a `leak`, naming the column
  and the path. `value`: the column feeds the projected expression (arithmetic, CASE, casts,
  aggregate and window arguments, scalar subqueries). `filter`: it decides which rows exist or
  which row is read - WHERE, JOIN ON / USING, HAVING, QUALIFY, GROUP BY, DISTINCT, ORDER BY (with
  or without LIMIT: order-sensitive functions read it), window PARTITION BY / ORDER BY, aggregate
  FILTER / ORDER BY, EXISTS / IN subqueries, the right side of INTERSECT / EXCEPT, every branch of
  a UNION - in the model or in any model its rows come from. A CTE filtered on the target and
  joined back is a leak of every column it feeds.
- **Row filters taint every column, except behind a key-preserving left join.** The inputs that
  decide a select's rows (its FROM and inner / right / full / semi / anti joins, WHERE, GROUP BY,
  ...) reach every column it outputs. A side joined with LEFT JOIN that matches at most one row
  per left row (grouped, or DISTINCT, on the columns the ON equates; or an aggregate without
  GROUP BY), or CROSS JOINed when it is exactly one row, cannot change the left rows: its filters
  and the join condition reach only the columns taken from it.
- **Declared mechanisms are where lineage stops.** A model's config meta
  `leakage_mechanisms: {<column>: "<reason>"}` declares columns computed from the target on
  purpose (the split and CV-fold assignment stratified by the target; the quarantine reasons
  whose filter drops rows with an invalid target). Lineage does not follow dependencies through
  such a column - wherever it is used, in the model that defines it or downstream, by value or by
  filter - and records the stop as `clean` with the reason. `leakage_row_mechanism: "<reason>"`
  does the same for the model's own row filters (e.g. collapsing exact duplicate rows, which
  groups by every column); the filters of the relations it reads are still followed.
- **Declared features.** A feature-table column with `meta: {leakage_allow: "<reason>"}` (an
  out-of-fold target encoding proven by its own test) is `allowed` whatever it reaches.
- **What cannot be traced is `unresolved`** and fails: a Python model, SQL sqlglot cannot parse,
  a relation that is not in the manifest, a `select *` over a relation whose columns are unknown,
  and every construct outside the positive list in `leakproof.lineage._constructs` (COLUMNS(),
  star EXCLUDE / REPLACE / RENAME, unnest, PIVOT, LATERAL, lambdas capturing columns, unknown
  functions, ...).
- **Compile-time queries fail.** When the feature table or a model it reads runs queries while
  dbt compiles it (`run_query`, `statement` / `load_result`, `adapter.execute`, found through the
  manifest's `depends_on.macros` and `macro_sql`), values of the data may be rendered into the SQL
  as literals lineage cannot see. Each feature column whose lineage passes through that model
  fails, naming the model and the macro chain, unless the model declares config meta
  `leakage_allow_compile_queries: "<reason>"`.
- Every declaration needs a non-empty reason; one without, or one naming a column the model does
  not have, is itself a failure (and is not honoured).

Columns behind `select *` are expanded from, in order, the upstream model's columns as traced
from its own SQL, then the columns declared in yml: sources and seeds as declared (the sources
yml is the contract the guard rests on), a model's declaration only when its contract is
enforced. DuckDB external sources (`relation_name` = `read_csv(...)`) are matched by the
table-function expression itself.

    project = load_target(Path("target"))            # after `dbt compile` (or a run)
    rows = trace_model(project, "ml_customer_features")
    assert_no_leaks(check_features(rows))            # LeakageError, one line per problem
    lineage_table(rows)                              # -> ml_feature_lineage
"""

from leakproof.lineage._constructs import TRACED_FUNCTIONS
from leakproof.lineage._guard import (
    FEATURE_ROLES,
    NOT_A_FEATURE_ROLES,
    TABLE_COLUMNS,
    LeakageError,
    LineageRow,
    Violation,
    assert_no_leaks,
    check_features,
    feature_lineage_from_target,
    guard_table,
    lineage_table,
    trace_model,
)
from leakproof.lineage._paths import FILTER, VALUE, Declared
from leakproof.lineage._project import (
    COMPILE_QUERIES_KEY,
    DIALECT,
    LEAKY_ROLES,
    MECHANISMS_KEY,
    ROW_MECHANISM_KEY,
    Project,
    Relation,
    SourceColumn,
    compiled_sql_from_target,
    feature_tables,
    fresh_compiled_sql,
    load_project,
    load_target,
)

__all__ = [
    "COMPILE_QUERIES_KEY",
    "DIALECT",
    "FEATURE_ROLES",
    "FILTER",
    "LEAKY_ROLES",
    "MECHANISMS_KEY",
    "NOT_A_FEATURE_ROLES",
    "ROW_MECHANISM_KEY",
    "TABLE_COLUMNS",
    "TRACED_FUNCTIONS",
    "VALUE",
    "Declared",
    "LeakageError",
    "LineageRow",
    "Project",
    "Relation",
    "SourceColumn",
    "Violation",
    "assert_no_leaks",
    "check_features",
    "compiled_sql_from_target",
    "feature_lineage_from_target",
    "feature_tables",
    "fresh_compiled_sql",
    "guard_table",
    "lineage_table",
    "load_project",
    "load_target",
    "trace_model",
]
