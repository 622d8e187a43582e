"""The ground-truth sidecar is read by evaluation only: the models trained without it are the
models the session build trained with it (same data hash, same ids, same boosters, the same
scores to the last bit), and the evaluation that reads it says so."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from dbt_runner import PROJECT_ROOT, DbtResult, run_dbt
from leakproof import oracle, steps, train
from leakproof.declarations import load_project

pytestmark = pytest.mark.dbt

# one use case is enough to see it, and the cheaper one to train
USE_CASE = "b2b"
REGISTRY = (
    "select model_id, role, algorithm, imbalance_treatment, training_data_sha256, "
    "booster_json_sha256, feature_list, threshold, cv_auc_mean, test_auc "
    f"from ml.ml_trained_models where use_case = '{USE_CASE}' order by model_id"
)
SCORES = (
    "select model_id, entity_key, split, raw_probability, calibrated_probability, predicted_label "
    f"from ml.ml_scores where use_case = '{USE_CASE}' order by entity_key, split"
)


def _read(warehouse: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.sql(sql).df()


def test_models_trained_without_the_sidecar_are_the_same(
    demo_build: DbtResult, demo_raw_dir: Path, tmp_path: Path
) -> None:
    assert (demo_raw_dir / "_truth").is_dir()  # the session build had it
    raw = tmp_path / "raw"
    raw.mkdir()
    for path in demo_raw_dir.iterdir():
        if path.is_file():
            (raw / path.name).symlink_to(path)
    assert not (raw / "_truth").exists()
    result = run_dbt(
        ["run", "--select", "+ml_scores"],
        tmp_path / "build",
        raw_dir=raw,
        dbt_vars={"use_cases": [USE_CASE]},
    )
    assert result.ok, result.output[-3000:]
    with_truth = _read(demo_build.warehouse, REGISTRY)
    without = _read(result.warehouse, REGISTRY)
    assert len(with_truth) == 2 and with_truth["booster_json_sha256"].notna().any()
    # the joblib bundle records when it was trained, so its sha256 differs by run; the training
    # data, the ids (a hash of data and parameters), the XGBoost booster and every score do not
    pd.testing.assert_frame_equal(with_truth, without)
    pd.testing.assert_frame_equal(
        _read(demo_build.warehouse, SCORES), _read(result.warehouse, SCORES)
    )


def _truth(demo_raw_dir: Path, use_case: str) -> pd.Series:
    """The sidecar's true probability by entity_key, read here with pandas."""
    truth = load_project(PROJECT_ROOT)[use_case].truth
    assert truth is not None
    frame = pd.read_parquet(demo_raw_dir / truth.file)
    keys = frame[list(truth.id)].astype(str).agg("/".join, axis=1)
    return pd.Series(frame[truth.probability].to_numpy(), index=keys)


def test_the_oracle_comparison_reads_the_sidecar(
    warehouse: duckdb.DuckDBPyConnection, demo_raw_dir: Path
) -> None:
    table = warehouse.sql("select * from ml.ml_oracle_comparison order by use_case").df()
    assert table["use_case"].tolist() == ["b2b", "marketing"]
    assert table["has_truth"].all() and (table["verdict"] == "plausible").all()
    assert table["message"].isna().all()
    for row in table.itertuples():
        scores = warehouse.sql(
            "select entity_key, actual_label, calibrated_probability from ml.ml_scores "
            f"where use_case = '{row.use_case}' and split = 'test' and actual_label is not null"
        ).df()
        assert row.rows_evaluated == len(scores) and row.rows_without_truth == 0
        y = scores["actual_label"].to_numpy(dtype=int)
        assert row.model_auc == pytest.approx(roc_auc_score(y, scores["calibrated_probability"]))
        truth = _truth(demo_raw_dir, row.use_case).loc[scores["entity_key"]].to_numpy()
        assert row.oracle_auc == pytest.approx(roc_auc_score(y, truth), abs=1e-12)
        # an honest model is not above the oracle beyond the interval
        assert not row.is_above_oracle and row.difference_ci_lower < 0
        assert np.isclose(row.auc_difference, row.model_auc - row.oracle_auc)


def test_a_model_trained_on_a_leaky_feature_is_above_the_oracle_and_named(
    warehouse: duckdb.DuckDBPyConnection, demo_raw_dir: Path, tmp_path: Path
) -> None:
    """The marketing features plus a noisy copy of the target (no guard layer consulted): the
    model's test AUC is above the truth's beyond the interval, and the gate names the model."""
    declaration = load_project(PROJECT_ROOT)["marketing"]
    features = warehouse.sql(
        "select * from features.ml_marketing_features where split in ('train', 'test') "
        "order by entity_key"
    ).df()
    rng = np.random.default_rng(0)
    features["leak"] = features["conversion"] + rng.normal(scale=0.5, size=len(features))
    honest = ["income", "age", "previous_purchases", "loyalty_points", "time_on_site"]
    spec = steps.model_spec(declaration, features, [*honest, "leak"], str(tmp_path))
    # one cheap model: the gate judges whatever model scored the rows
    spec = dataclasses.replace(
        spec,
        primary_family="logistic",
        families=("logistic",),
        imbalance_treatments=("none",),
        calibration_methods=("sigmoid",),
    )
    scores = train.train(features, spec, save=False).scores
    assert scores is not None
    tables = steps.UseCaseTables(declaration, "features", "prepared")
    test = scores[scores["split"] == "test"].assign(use_case="marketing")
    (row,) = oracle.oracle_comparisons(test, [tables], str(demo_raw_dir), 1.96).to_dict("records")
    assert row["verdict"] == "too_good" and row["is_above_oracle"]
    assert row["model_auc"] > row["oracle_auc"] and row["difference_ci_lower"] > 0
    model_id = scores["model_id"].iloc[0]
    assert row["message"].startswith(f"ml_oracle_comparison: marketing model {model_id}: test AUC")
