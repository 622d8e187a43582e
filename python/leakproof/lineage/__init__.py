"""Column lineage of feature tables, traced through the compiled SQL of every model behind them.

Layer 2 of the leakage guard (docs/design.md, "Leakage guard"). Every column of a feature table
(config meta `leakage_guard: features`) is followed through the real SQL - sqlglot over dbt's
compiled models, not column names - back to the source columns it depends on. The rules:

1. **By value or by filter, a blocked column fails.** A feature that depends on a source column
   declared `leakage_role: target | target_derived | post_outcome` is a `leak`, named with the
   column and the path. `value`: the column feeds the projected expression (arithmetic, CASE,
   casts, aggregate and window arguments, scalar subqueries). `filter`: it decides which rows
   exist or which row is read - WHERE, JOIN ON / USING, HAVING, QUALIFY, GROUP BY, DISTINCT,
   ORDER BY (with or without LIMIT: order-sensitive functions read it), window PARTITION BY /
   ORDER BY, aggregate FILTER / ORDER BY, EXISTS / IN subqueries, the right side of INTERSECT /
   EXCEPT, every branch of a UNION - in the model or in any model its rows come from.
2. **A row filter reaches every column, except behind a key-preserving join.** What decides a
   select's rows (FROM, inner / right / full / semi / anti joins, WHERE, GROUP BY, ...) reaches
   every column it outputs. A side LEFT JOINed on equalities that pin a key it is unique on
   (its GROUP BY or DISTINCT columns, or at most one row; read through CTEs, subqueries and
   upstream models), or CROSS JOINed when it is exactly one row, cannot change the left rows:
   its filters and the join condition reach only the columns taken from it. So a CTE filtered
   on the target, grouped and joined back, fails the features it feeds - not the others.
3. **Declared mechanisms are where lineage stops.** A model's config meta
   `leakage_mechanisms: {<column>: "<reason>"}` declares columns computed from the target on
   purpose (a split or CV-fold assignment stratified by the target; quarantine reasons whose
   filter drops rows with an invalid target). Lineage does not follow dependencies through such
   a column - wherever it is used, in the model that defines it or downstream, by value or by
   filter - and records the stop as `clean`, with the reason. `leakage_row_mechanism:
   "<reason>"` does the same for the row filters written in the model's own SQL (collapsing
   exact duplicate rows groups by every column, the target included); the rows of the models
   it reads, and every column's value, are still followed.
4. **Declared features.** A feature-table column with `meta: {leakage_allow: "<reason>"}` (an
   out-of-fold target encoding proven by its own test) is `allowed`, whatever it reaches.
5. **What cannot be traced is `unresolved`**, and fails: a Python model, SQL sqlglot cannot
   parse, a relation that is not in the manifest, a `select *` over a relation whose columns are
   unknown, and every construct outside the positive list in `leakproof.lineage._constructs`
   (COLUMNS(), star EXCLUDE / REPLACE / RENAME, unnest, PIVOT, LATERAL, lambdas capturing a
   column, functions not known to be DuckDB built-ins, ...). A traced construct never yields a
   clean constant for something it did not follow.
6. **Compile-time queries fail.** When the feature table or a model it reads runs queries while
   dbt compiles it (`run_query`, `statement` / `load_result`, `adapter.execute`; found through
   the manifest's `depends_on.macros`, `macro_sql` and `adapter.dispatch`), values of the data
   may be rendered into its SQL as literals lineage cannot see. Every feature whose lineage
   passes through that model fails (dependency `compile`), naming the model and the macro
   chain - or the table as `*` when no feature does - unless the model declares config meta
   `leakage_allow_compile_queries: "<reason>"`.
7. Every declaration needs a non-empty reason; one without, or a mechanism naming a column the
   model does not have, fails (dependency `declaration`) and is not honoured.

Statuses in `ml_feature_lineage`: clean | not_a_feature (meta `feature_role`: identifier,
target, split, weight) | allowed (`leakage_allow`) | leak | unresolved; the last two fail the
build. Columns behind `select *` are expanded from the upstream model's traced columns, then
the columns declared in yml: sources and seeds as declared (the sources yml is the contract the
guard rests on), a model's declaration only when its contract is enforced. DuckDB external
sources (`relation_name` = `read_csv(...)`) are matched by the table-function expression.

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
