"""The permutation probe: layer 3 of the leakage guard, which does not read SQL.

Each use case's feature table is rebuilt, in a scratch schema of the same warehouse, from a copy
of its staged rows in which every `target`, `post_outcome` and `target_derived` column is replaced
by one seeded permutation of itself (labelled rows shuffled among themselves). Every model
between the staged rows and the feature table is run again from the code dbt compiled in this
build - SQL as it is, a Python model through its own compiled module - with its references
pointed at the rebuilt relations; a model declaring `leakage_mechanisms` (the split and fold
assignment, int_<use case>__split) is held fixed, as declared. Each feature column is then
compared row by row with the real build: a column whose values change depends on a blocked
column, however it was computed. Only the declared out-of-fold target encodings may change, and
they are reported. Everything runs in DuckDB (out of core); Python holds no table.

What the probe cannot see (README, threat model): values fixed at compile time (literals a
`run_query` rendered from the real data: lineage fails those), reads of the raw source that do not
pass through the staged rows, and a dependence this one permutation does not move.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from leakproof.declarations import Declaration
from leakproof.exceptions import LeakproofError
from leakproof.lineage import MECHANISMS_KEY

PROBE_SCHEMA = "leakage_probe"
# Two floating-point values this close (relative) are the same value: the rebuild may add in
# another order than the build did.
RELATIVE_TOLERANCE = 1e-9
PROBE_SCHEMA_COLUMNS = {
    "use_case": "string",
    "feature_table": "string",
    "column_name": "string",
    "column_role": "string",
    "permuted_columns": "string",
    "permutation_seed": "int64",
    "rows_compared": "int64",
    "changed_rows": "int64",
    "changed_share": "float64",
    "is_allowed": "bool",
    "verdict": "string",
    "message": "string",
}


class ProbeError(LeakproofError):
    """The probe cannot rebuild a feature table (a model without compiled code, ...)."""


@dataclass(frozen=True)
class Step:
    """A model between the staged rows and the feature table, as dbt compiled it."""

    name: str
    relation: str  # the relation name as the compiled code of its readers spells it
    language: str  # sql | python
    code: str


def compiled_code(target_path: Path, manifest: Mapping[str, Any]) -> dict[str, str]:
    """unique_id -> compiled code (SQL and Python models) from dbt's target directory."""
    out = {}
    for unique_id, node in (manifest.get("nodes") or {}).items():
        if node.get("resource_type") != "model":
            continue
        path = Path(target_path) / "compiled" / node["package_name"] / node["original_file_path"]
        if path.is_file():
            out[unique_id] = path.read_text()
    return out


def chain(
    manifest: Mapping[str, Any], code: Mapping[str, str], staged: str, features: str
) -> list[Step]:
    """The models to run again, in dependency order: every ancestor of `features` (itself
    included) that reads `staged`, directly or not, except those holding a declared mechanism."""
    nodes = manifest["nodes"]

    def parents(unique_id: str) -> list[str]:
        return [p for p in nodes[unique_id]["depends_on"]["nodes"] if p in nodes]

    reads_staged: dict[str, bool] = {}

    def downstream_of_staged(unique_id: str) -> bool:
        if unique_id not in reads_staged:
            reads_staged[unique_id] = unique_id != staged and any(
                p == staged or downstream_of_staged(p) for p in parents(unique_id)
            )
        return reads_staged[unique_id]

    ordered: list[str] = []

    def visit(unique_id: str) -> None:
        if unique_id in ordered or not downstream_of_staged(unique_id):
            return
        for parent in parents(unique_id):
            visit(parent)
        ordered.append(unique_id)

    visit(features)
    steps = []
    for unique_id in ordered:
        node = nodes[unique_id]
        if ((node.get("config") or {}).get("meta") or {}).get(MECHANISMS_KEY):
            continue  # the declared mechanism is held fixed
        if not node.get("relation_name"):
            continue  # ephemeral: its SQL is inlined in its readers' compiled code
        if unique_id not in code:
            raise ProbeError(
                f"the permutation probe has no compiled code for {node['name']} (between the "
                f"staged rows and {nodes[features]['name']}): it cannot rebuild the feature table"
            )
        steps.append(
            Step(
                node["name"],
                node["relation_name"],
                node.get("language") or "sql",
                code[unique_id],
            )
        )
    return steps


def permute(
    con: Any, staged: str, out: str, blocked: Sequence[str], seed: int, group: str | None
) -> None:
    """`out` = `staged` with the `blocked` columns moved together by one seeded permutation of the
    rows (within `group`: labelled rows among themselves)."""
    keys = "entity_key, source_file"
    within = f"partition by {group} " if group else ""
    moved = ", ".join(f'"{c}"' for c in blocked)
    on = "original.row_position = shuffled.row_position"
    on += f" and original.{group} = shuffled.{group}" if group else ""
    con.execute(
        f"""create or replace table {out} as
        with original as (
            select * exclude ({moved}),
                row_number() over ({within}order by {keys}) as row_position
            from {staged}
        ),
        shuffled as (
            select {moved}{f", {group}" if group else ""},
                row_number() over (
                    {within}order by md5(entity_key || '|' || source_file || '|{int(seed)}'), {keys}
                ) as row_position
            from {staged}
        )
        select original.* exclude (row_position), {", ".join(f"shuffled.{c}" for c in blocked)}
        from original
        inner join shuffled on {on}
        """
    )


def rerun(con: Any, steps: Sequence[Step], renamed: dict[str, str], schema: str) -> dict[str, str]:
    """Run each step's compiled code again into `schema`, its references to the relations in
    `renamed` (real -> rebuilt) replaced; returns `renamed` with every step added."""
    renamed = dict(renamed)
    for step in steps:
        out = f'{schema}."{step.name}"'
        if step.language == "python":
            _rerun_python(con, step, renamed, out)
        else:
            sql = step.code
            for real, rebuilt in renamed.items():
                sql = sql.replace(real, rebuilt)
            con.execute(f"create or replace table {out} as\n{sql}\n")
        renamed[step.relation] = out
    return renamed


def _rerun_python(con: Any, step: Step, renamed: Mapping[str, str], out: str) -> None:
    """A Python model's compiled module, its dbt.ref() reading the rebuilt relations."""
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as handle:
        handle.write(step.code.lstrip())
    try:
        spec = importlib.util.spec_from_file_location(f"probe_{step.name}", handle.name)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        cursor = con.cursor()

        def load(relation: str) -> Any:
            return cursor.query(f"select * from {renamed.get(relation, relation)}")

        result = module.model(module.dbtObj(load), cursor)
        if hasattr(result, "to_arrow_table"):
            result = result.to_arrow_table()
        cursor.register("probe_python_result", result)
        cursor.execute(f"create or replace table {out} as select * from probe_python_result")
        cursor.unregister("probe_python_result")
    finally:
        Path(handle.name).unlink()


def compare(
    con: Any, real: str, rebuilt: str, keys: Sequence[str], columns: Sequence[str]
) -> pd.DataFrame:
    """Per column: rows compared (either side) and rows whose value differs - a row present on
    one side only differs in every column; doubles differ beyond RELATIVE_TOLERANCE."""
    types = dict(con.execute(f"select column_name, column_type from (describe {real})").fetchall())
    on = " and ".join(f"r.{k} is not distinct from b.{k}" for k in keys)
    changed = []
    for column in columns:
        r, b = f'r."{column}"', f'b."{column}"'
        differs = f"{r} is distinct from {b}"
        if types.get(column) in ("DOUBLE", "FLOAT") or str(types.get(column)).startswith("DECIMAL"):
            close = f"abs({r} - {b}) <= {RELATIVE_TOLERANCE} * greatest(1, abs({r}))"
            differs = f"({differs} and not coalesce({close}, false))"
        changed.append(
            f"count(*) filter (where r.__present is null or b.__present is null or {differs})"
        )
    row = con.execute(
        f"""select count(*), {", ".join(changed)}
        from (select *, true as __present from {real}) as r
        full outer join (select *, true as __present from {rebuilt}) as b on {on}"""
    ).fetchone()
    return pd.DataFrame(
        {"column_name": list(columns), "rows_compared": row[0], "changed_rows": list(row[1:])}
    )


def column_roles(declaration: Declaration, columns: Sequence[str]) -> dict[str, str]:
    """feature, or what a feature-table column is instead (identifier, split, target)."""
    roles = {"entity_key": "identifier", "split": "split", "cv_fold": "split"}
    roles |= {c: "identifier" for c in declaration.id_columns}
    roles[declaration.target] = "target"
    return {c: roles.get(c, "feature") for c in columns}


def verdicts(
    table: pd.DataFrame,
    roles: Mapping[str, str],
    allowed: Sequence[str],
    feature_table: str,
    unstable: Sequence[str] = (),
) -> pd.DataFrame:
    """Each column's verdict: unchanged, changed_allowed (a declared out-of-fold encoding),
    not_a_feature, leak (a feature whose values move with the permuted columns), or
    nondeterministic (it also moves between two rebuilds of the same rows: the probe cannot
    tell, and fails closed)."""
    table = table.copy()
    table["column_role"] = table["column_name"].map(roles)
    table["is_allowed"] = table["column_name"].isin(list(allowed))
    changed = table["changed_rows"] > 0
    table["verdict"] = "unchanged"
    table.loc[changed & table["is_allowed"], "verdict"] = "changed_allowed"
    table.loc[changed & ~table["is_allowed"], "verdict"] = "leak"
    table.loc[table["column_name"].isin(list(unstable)), "verdict"] = "nondeterministic"
    table.loc[table["column_role"] != "feature", "verdict"] = "not_a_feature"
    prefix = [
        f"{feature_table}.{c} changes in {n} of {total} rows"
        for c, n, total in zip(
            table["column_name"], table["changed_rows"], table["rows_compared"], strict=True
        )
    ]
    reasons = {
        "leak": " when the target / post-outcome / target-derived columns are permuted "
        "(permutation probe): it depends on them",
        "nondeterministic": ", and also between two rebuilds of the same rows (permutation "
        "probe): nondeterministic, so whether it depends on the target cannot be told",
    }
    table["message"] = [
        text + reasons[v] if v in reasons else None
        for text, v in zip(prefix, table["verdict"], strict=True)
    ]
    return table


def probe_use_case(
    con: Any,
    declaration: Declaration,
    steps: Sequence[Step],
    staged: str,
    features: str,
    seed: int,
    schema: str = PROBE_SCHEMA,
) -> pd.DataFrame:
    """The probe of one use case: permute, rebuild, compare. Only when a feature that may not
    change did, a control rebuild of the real rows tells a dependence from nondeterminism. The
    scratch tables are dropped."""
    blocked = list(declaration.blocked_columns)
    con.execute(f"create schema if not exists {schema}")
    permuted = f'{schema}."{declaration.name}__staged_permuted"'
    created = [permuted, *(f'{schema}."{s.name}"' for s in steps)]
    described = con.execute(f"select column_name from (describe {features})").fetchall()
    columns = [r[0] for r in described]
    roles = column_roles(declaration, columns)
    allowed = list(declaration.target_encodings)
    keys = ["entity_key", "split"]
    unstable: list[str] = []
    try:
        permute(con, staged, permuted, blocked, seed, "is_labelled")
        rebuilt = rerun(con, steps, {staged: permuted}, schema)[steps[-1].relation]
        table = compare(con, features, rebuilt, keys, columns)
        suspects = table[
            (table["changed_rows"] > 0)
            & table["column_name"].map(lambda c: roles[c] == "feature" and c not in allowed)
        ]["column_name"].tolist()
        if suspects:
            control = rerun(con, steps, {}, schema)[steps[-1].relation]
            again = compare(con, features, control, keys, suspects)
            unstable = again.loc[again["changed_rows"] > 0, "column_name"].tolist()
    finally:
        for relation in created:
            con.execute(f"drop table if exists {relation}")
    name = features.split(".")[-1].strip('"')
    table = verdicts(table, roles, allowed, name, unstable)
    table.insert(0, "feature_table", name)
    table.insert(0, "use_case", declaration.name)
    table["permuted_columns"] = ", ".join(blocked)
    table["permutation_seed"] = int(seed)
    table["changed_share"] = table["changed_rows"] / table["rows_compared"].clip(lower=1)
    return table


def permutation_probes(
    con: Any,
    use_cases: Sequence[Any],
    target_path: Path,
    seed: int,
    timings: dict[str, float] | None = None,
) -> pd.DataFrame:
    """ml_permutation_probe: every use case (steps.UseCaseTables) probed against the manifest and
    compiled code dbt wrote to `target_path` in this build."""
    manifest = json.loads((Path(target_path) / "manifest.json").read_text())
    code = compiled_code(target_path, manifest)
    models = {u: n for u, n in manifest["nodes"].items() if n.get("resource_type") == "model"}
    by_relation = {n.get("relation_name"): u for u, n in models.items()}
    by_name = {n["name"]: u for u, n in models.items()}
    frames = []
    for tables in use_cases:
        started = time.perf_counter()
        features = by_relation.get(tables.features)
        staged = by_name.get(f"stg_{tables.name}__rows")
        if features is None or staged is None:
            raise ProbeError(
                f"the permutation probe cannot find {tables.name}'s models in the manifest"
            )
        steps = chain(manifest, code, staged, features)
        frames.append(
            probe_use_case(
                con,
                tables.declaration,
                steps,
                manifest["nodes"][staged]["relation_name"],
                tables.features,
                seed,
            )
        )
        if timings is not None:
            timings[tables.name] = time.perf_counter() - started
    with contextlib.suppress(duckdb.Error):  # only when empty: another build may be probing
        con.execute(f"drop schema if exists {PROBE_SCHEMA}")
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in PROBE_SCHEMA_COLUMNS.items()})
    return pd.concat(frames, ignore_index=True)[list(PROBE_SCHEMA_COLUMNS)].astype(
        PROBE_SCHEMA_COLUMNS
    )


__all__ = [
    "PROBE_SCHEMA",
    "ProbeError",
    "Step",
    "chain",
    "compare",
    "compiled_code",
    "permutation_probes",
    "permute",
    "probe_use_case",
    "rerun",
    "verdicts",
]
