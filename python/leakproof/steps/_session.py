"""What every step shares: the Reader over an engine, the turns of the large Python models, the
use cases' relations from ml_use_cases and the features the leakage guard approved."""

import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from leakproof.declarations import Declaration, load
from leakproof.exceptions import LeakproofError

APPROVED_STATUSES = ("clean", "allowed")
# Not features in any feature table: the key, the split and fold (the target and ids come from
# the declaration).
FEATURE_TABLE_KEYS = ("entity_key", "split", "cv_fold")

Reader = Callable[..., pd.DataFrame]

# dbt runs two threads, so SQL models and tests overlap the Python models. Two Python models that
# each hold a whole feature table at once would add up, though: scores and recommendations side by
# side took the 5M-customer build to 13.4 GB (issue 9). Every Python model that reads a feature
# table whole takes its turn under this lock; the others (and all SQL) run alongside.
_LARGE_MODEL_TURN = threading.Lock()
# When set, each turn appends {"model", "waited_seconds"} to this file (JSON lines): the benchmark
# subtracts the wait from the node's time, which dbt reports including it.
TURNS_LOG_ENV = "LEAKPROOF_TURNS_LOG"


@contextmanager
def one_large_model_at_a_time(model: str) -> Iterator[None]:
    """Hold the process-wide turn of the large Python models (dbt runs them in one process);
    ``model`` names the waiting model (``dbt.this.identifier``) in the turns log."""
    started = time.perf_counter()
    with _LARGE_MODEL_TURN:
        log = os.environ.get(TURNS_LOG_ENV)
        if log:
            waited = time.perf_counter() - started
            with open(log, "a") as handle:
                handle.write(json.dumps({"model": model, "waited_seconds": waited}) + "\n")
        yield


def duckdb_reader(session: Any) -> Reader:
    """A Reader over a DuckDB connection: filter and projection run in DuckDB, the result
    arrives as Arrow (then pandas)."""

    def read(
        relation: str,
        columns: Sequence[str] | None = None,
        where: str | None = None,
        order_by: str | None = None,
    ) -> pd.DataFrame:
        sql = select_sql(relation, columns, where, order_by)
        return session.sql(sql).to_arrow_table().to_pandas()

    return read


def select_sql(
    relation: str,
    columns: Sequence[str] | None = None,
    where: str | None = None,
    order_by: str | None = None,
    quote: str = '"',
) -> str:
    """The query of a Reader call: the columns (quoted with `quote`) of `relation`, filtered and
    ordered."""
    select = ", ".join(f"{quote}{c}{quote}" for c in columns) if columns else "*"
    sql = f"select {select} from {relation}" + (f" where {where}" if where else "")
    return sql + (f" order by {order_by}" if order_by else "")


def as_bool(value: Any) -> bool:
    """A dbt config value (bool, or its text after Jinja rendering) as a bool."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def resolve(path: str | Path) -> str:
    """A path as an absolute path (dbt runs from the project directory)."""
    return str(Path(path).resolve())


@dataclass(frozen=True)
class UseCaseTables:
    """One turned-on use case: its declaration and the relations of its tables."""

    declaration: Declaration
    features: str
    prepared: str

    @property
    def name(self) -> str:
        return self.declaration.name


def use_case_tables(use_cases: pd.DataFrame, project_dir: str | Path) -> list[UseCaseTables]:
    """The rows of `ml_use_cases` with their declarations loaded, in use-case order."""
    tables = []
    for row in use_cases.sort_values("use_case").itertuples(index=False):
        declaration = load(Path(project_dir) / str(row.declaration))
        tables.append(
            UseCaseTables(declaration, str(row.feature_relation), str(row.prepared_relation))
        )
    return tables


# ---- training and scoring ----------------------------------------------------------------------


def approved_features(lineage: pd.DataFrame, feature_table: str) -> list[str]:
    """Feature columns of `feature_table` whose every lineage row the guard approved."""
    rows = lineage[(lineage["model"] == feature_table) & (lineage["feature_role"] == "feature")]
    if rows.empty:
        raise LeakproofError(
            f"the leakage guard has no lineage for {feature_table}; nothing to train"
        )
    verdict = rows.groupby("feature")["status"].agg(lambda s: bool(s.isin(APPROVED_STATUSES).all()))
    rejected = sorted(verdict.index[~verdict])
    if rejected:
        raise LeakproofError(f"{feature_table}: the leakage guard rejected {', '.join(rejected)}")
    return sorted(verdict.index)
