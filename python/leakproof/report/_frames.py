"""The frames the report reads from the serving copy, in one read-only connection (one snapshot).

Every table is shared by all use cases (a `use_case` column); nothing here names one. A use case
appears in the report when its rows are in the frames.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

QUERIES: dict[str, str] = {
    "publish": "select * from main._publish order by table_schema, table_name",
    "use_cases": "select * from ml.ml_use_cases order by use_case",
    "registry": (
        "select model_id, use_case, role, algorithm, threshold, cv_auc_mean, test_auc, trained_at"
        " from ml.ml_model_registry order by use_case, role desc"
    ),
    "calibration": (
        "select bins.* from ml.ml_calibration_bins as bins inner join ml.ml_model_registry as reg"
        " on bins.model_id = reg.model_id and reg.role = 'primary' where bins.split = 'test'"
        " order by bins.use_case, bins.calibration_bin"
    ),
    "lift": (
        "select lift.* from ml.ml_lift_by_decile as lift inner join ml.ml_model_registry as reg"
        " on lift.model_id = reg.model_id and reg.role = 'primary' where lift.split = 'test'"
        " order by lift.use_case, lift.decile"
    ),
    "sweep": (
        "select sweep.*, reg.threshold as model_threshold from ml.ml_threshold_sweep as sweep"
        " inner join ml.ml_model_registry as reg"
        " on sweep.model_id = reg.model_id and reg.role = 'primary'"
        " where sweep.population = 'test' order by sweep.use_case, sweep.threshold"
    ),
    "treatments": "select * from marts.fct_treatment_performance order by use_case, arm",
    "dimensions": (
        "select * from marts.fct_dimension_performance"
        " order by use_case, dimension, positive_rate_rank, value_order"
    ),
    "psi": "select * from ml.ml_psi order by use_case, population, psi desc",
    "targeting": (
        "select * from ml.ml_targeting order by use_case, population_split, period, contacted_share"
    ),
    # select *: the estimators (and their columns) of this table are being redesigned; the charts
    # and the key table read the columns they need defensively.
    "policy": (
        "select * from ml.ml_policy_evaluation where policy_kind <> 'fixed_arm' "
        "order by use_case, policy"
    ),
    "evaluation": "select * from ml.ml_evaluation_summary order by use_case, split desc",
}


def load_frames(serving: Path) -> dict[str, pd.DataFrame]:
    """Every frame the report needs, read in one read-only connection (one snapshot)."""
    connection = duckdb.connect(str(serving), read_only=True)
    try:
        with warnings.catch_warnings():
            # duckdb 2.0's .df() calls a pandas API deprecated in pandas 3.1; not ours to fix
            warnings.filterwarnings("ignore", message="The inplace keyword")
            return {name: connection.execute(query).df() for name, query in QUERIES.items()}
    finally:
        connection.close()


def use_cases_in(frame: pd.DataFrame) -> list[str]:
    """The use cases a frame holds rows for, sorted (none for an empty or use-case-less frame)."""
    if frame.empty or "use_case" not in frame.columns:
        return []
    return sorted(str(name) for name in frame["use_case"].dropna().unique())


def column(frame: pd.DataFrame, name: str) -> pd.Series:
    """A column of the frame, or all-missing when the table does not (or no longer) carry it."""
    if name in frame.columns:
        return frame[name]
    return pd.Series(np.nan, index=frame.index, dtype="float64")
