"""The dbt ML layer end to end on the demo build: SQL evaluation equals scikit-learn, scores are
reproducible, `retrain: false` scores without training, and a tampered artifact is refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pytest
from scipy.stats import ks_2samp
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from dbt_runner import PROJECT_ROOT, DbtResult, run_dbt
from leakproof.declarations import load_project

pytestmark = pytest.mark.dbt

# training (or reading back the registered models), the registry, and scoring
SCORING_MODELS = ["ml_trained_models", "ml_model_registry", "ml_scores"]
DECLARATIONS = load_project(PROJECT_ROOT)


def test_sql_metrics_equal_scikit_learn(warehouse: duckdb.DuckDBPyConnection) -> None:
    summary = warehouse.sql("select * from ml.ml_evaluation_summary").df()
    assert set(summary["split"]) == {"train", "test"}
    assert set(summary["use_case"]) == {"marketing", "b2b"}
    for row in summary.itertuples():
        rows = warehouse.sql(
            "select actual_label, calibrated_probability, predicted_label from ml.ml_scores "
            f"where use_case = '{row.use_case}' and split = '{row.split}' "
            "and actual_label is not null"
        ).df()
        assert row.rows_evaluated == len(rows)
        y = rows["actual_label"].to_numpy(dtype=int)
        p = rows["calibrated_probability"].to_numpy()
        assert row.auc == pytest.approx(roc_auc_score(y, p), abs=1e-9)
        assert row.pr_auc == pytest.approx(average_precision_score(y, p), abs=1e-9)
        assert row.ks == pytest.approx(ks_2samp(p[y == 1], p[y == 0]).statistic, abs=1e-9)
        assert row.brier == pytest.approx(brier_score_loss(y, p), abs=1e-9)
        assert row.log_loss == pytest.approx(log_loss(y, p), abs=1e-9)
        assert row.base_rate == pytest.approx(y.mean(), abs=1e-12)
        predicted = rows["predicted_label"].to_numpy()
        tp = int(((predicted == 1) & (y == 1)).sum())
        f1 = (
            2
            * tp
            / (2 * tp + ((predicted == 1) & (y == 0)).sum() + ((predicted == 0) & (y == 1)).sum())
        )
        assert row.f1_at_threshold == pytest.approx(f1, abs=1e-12)


def test_calibration_fit_equals_an_unpenalised_logistic_regression(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    from sklearn.linear_model import LogisticRegression

    summary = warehouse.sql(
        "select * from ml.ml_evaluation_summary where split = 'test' and use_case = 'b2b'"
    ).df()
    rows = warehouse.sql(
        "select actual_label, calibrated_probability from ml.ml_scores "
        "where use_case = 'b2b' and split = 'test' and actual_label is not null"
    ).df()
    score = np.clip(rows["calibrated_probability"].to_numpy(), 1e-12, 1 - 1e-12)
    x = np.log(score / (1 - score)).reshape(-1, 1)
    fit = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(
        x, rows["actual_label"].astype(int)
    )
    assert summary["calibration_slope"].iloc[0] == pytest.approx(fit.coef_[0][0], abs=1e-6)
    assert summary["recalibration_intercept"].iloc[0] == pytest.approx(fit.intercept_[0], abs=1e-6)
    # The calibration intercept fixes the slope at 1 (logit(score) an offset): the root of the
    # score equation sum(label - expit(a + logit(score))) = 0, found by bracketing.
    from scipy.optimize import brentq
    from scipy.special import expit

    labels = rows["actual_label"].astype(float).to_numpy()
    in_the_large = brentq(lambda a: float(np.sum(labels - expit(a + x[:, 0]))), -20, 20, xtol=1e-12)
    assert summary["calibration_intercept"].iloc[0] == pytest.approx(in_the_large, abs=1e-6)


def test_lift_and_calibration_tables_add_up(warehouse: duckdb.DuckDBPyConnection) -> None:
    lift = warehouse.sql(
        "select * from ml.ml_lift_by_decile where use_case = 'b2b' and split = 'test' "
        "order by decile"
    ).df()
    assert lift["decile"].tolist() == list(range(1, 11))
    assert lift["cumulative_gain"].iloc[-1] == pytest.approx(1.0)
    assert lift["cumulative_gain"].is_monotonic_increasing
    calibration = warehouse.sql(
        "select sum(rows_in_bin) as n from ml.ml_calibration_bins where split = 'test'"
    ).fetchall()
    labelled = warehouse.sql(
        "select count(*) from ml.ml_scores where split = 'test' and actual_label is not null"
    ).fetchall()
    assert calibration == labelled


def test_scores_cover_every_feature_row_with_reason_codes(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    for name, declaration in DECLARATIONS.items():
        key = "select entity_key, split from {} order by all"
        scored = warehouse.sql(key.format(f"ml.ml_scores where use_case = '{name}'")).fetchall()
        features = warehouse.sql(key.format(f"features.{declaration.feature_table}")).fetchall()
        assert scored == features, name
        assert {split for _, split in scored} == {"score", "test", "train"}
        # the label is the target where there is one, and the model is the use case's primary;
        # a row has a first reason unless no feature pushes its score up (then its logit is at
        # most the base value: a logistic model of record can score a few rows so)
        checked = warehouse.sql(
            "select count(*), count(*) filter (where s.actual_label is not distinct from "
            f"f.{declaration.target}), count(*) filter (where s.reason_1 is not null "
            "or s.raw_logit <= s.base_value + 1e-9), "
            "count(*) filter (where s.model_id = r.model_id) "
            f"from ml.ml_scores as s inner join features.{declaration.feature_table} as f "
            "using (entity_key, split) inner join ml.ml_model_registry as r "
            f"on r.use_case = '{name}' and r.role = 'primary' where s.use_case = '{name}'"
        ).fetchall()
        assert checked == [(len(features),) * 4], name


def test_models_train_only_on_features_the_guard_approved(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    registry = warehouse.sql("select use_case, role, feature_list from ml.ml_model_registry").df()
    assert sorted(zip(registry["use_case"], registry["role"], strict=True)) == [
        ("b2b", "comparison"),
        ("b2b", "primary"),
        ("marketing", "comparison"),
        ("marketing", "primary"),
    ]
    approved = {
        row[0]: set(row[1])
        for row in warehouse.sql(
            "select model, list(distinct feature) from ml.ml_feature_lineage "
            "where feature_role = 'feature' and status in ('clean', 'allowed') group by model"
        ).fetchall()
    }
    for row in registry.itertuples():
        declaration = DECLARATIONS[row.use_case]
        used = set(json.loads(row.feature_list))
        assert used <= approved[declaration.feature_table]
        assert not used & {*declaration.blocked_columns, *declaration.id_columns, "entity_key"}
        assert set(declaration.raw_features) <= used


def copy_warehouse(build: DbtResult, workdir: Path) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copy(build.warehouse, workdir / "leakproof.duckdb")


def scores_of(workdir: Path) -> list[tuple]:
    with duckdb.connect(str(workdir / "leakproof.duckdb"), read_only=True) as connection:
        return connection.sql(
            "select use_case, entity_key, split, raw_logit, calibrated_probability, reason_1 "
            "from ml.ml_scores order by use_case, entity_key, split"
        ).fetchall()


def test_retraining_reproduces_identical_scores(
    demo_build: DbtResult, demo_raw_dir: Path, tmp_path: Path
) -> None:
    copy_warehouse(demo_build, tmp_path)
    result = run_dbt(["run", "--select", *SCORING_MODELS], tmp_path, raw_dir=demo_raw_dir)
    assert result.ok, result.output[-3000:]
    assert scores_of(tmp_path) == scores_of(demo_build.warehouse.parent)


def test_retrain_false_scores_with_the_registered_model_and_trains_nothing(
    demo_build: DbtResult, demo_raw_dir: Path, tmp_path: Path
) -> None:
    copy_warehouse(demo_build, tmp_path)
    artifacts = demo_build.warehouse.parent / "artifacts"
    before = sorted(p.relative_to(artifacts) for p in artifacts.rglob("*") if p.is_file())
    result = run_dbt(
        ["run", "--select", *SCORING_MODELS],
        tmp_path,
        raw_dir=demo_raw_dir,
        dbt_vars={"retrain": False, "artifact_dir": str(artifacts)},
    )
    assert result.ok, result.output[-3000:]
    after = sorted(p.relative_to(artifacts) for p in artifacts.rglob("*") if p.is_file())
    assert before == after, "retrain: false must not write a model"
    assert scores_of(tmp_path) == scores_of(demo_build.warehouse.parent)


def test_a_tampered_artifact_is_refused_by_name(
    demo_build: DbtResult, demo_raw_dir: Path, tmp_path: Path
) -> None:
    copy_warehouse(demo_build, tmp_path)
    artifacts = tmp_path / "tampered_artifacts"
    shutil.copytree(demo_build.warehouse.parent / "artifacts", artifacts)
    tampered = sorted(artifacts.glob("marketing/*/model.joblib"))
    assert len(tampered) == 2  # primary and comparison
    for model_file in tampered:
        with model_file.open("ab") as handle:
            handle.write(b"\0")
    # the registry points at the original paths; re-point it at the copies
    current = artifacts / "marketing" / "current.json"
    original = str(demo_build.warehouse.parent / "artifacts")
    payload = json.loads(current.read_text())
    for model in payload["models"]:
        for key, value in model.items():
            if isinstance(value, str) and value.startswith(original):
                model[key] = str(artifacts) + value[len(original) :]
    current.write_text(json.dumps(payload))
    result = run_dbt(
        ["run", "--select", *SCORING_MODELS],
        tmp_path,
        raw_dir=demo_raw_dir,
        dbt_vars={"retrain": False, "artifact_dir": str(artifacts)},
    )
    assert not result.ok
    assert result.statuses()["model.leakproof.ml_scores"] != "success"
    assert f"artifact {artifacts}/marketing/" in result.output
    assert "/model.joblib failed its integrity check: expected sha256" in result.output


def test_build_does_not_assume_a_low_base_rate_or_the_demo_categories(
    demo_raw_dir: Path, tmp_path: Path
) -> None:
    """Most customers convert (the outcome flipped) and CampaignType is one constant value: the
    whole DAG still builds, trains and evaluates."""
    import csv

    raw = tmp_path / "raw"
    raw.mkdir()
    for name in ("customers.csv", "customers_scoring.csv", "accounts.csv"):
        shutil.copy(demo_raw_dir / name, raw / name)
    for name in ("customers.csv", "customers_scoring.csv"):
        with (raw / name).open(newline="") as handle:
            rows = list(csv.reader(handle))
        header = rows[0]
        for row in rows[1:]:
            row[header.index("CampaignType")] = "Awareness"
            if "Conversion" in header and row[header.index("Conversion")] in ("0", "1"):
                row[header.index("Conversion")] = str(1 - int(row[header.index("Conversion")]))
        with (raw / name).open("w", newline="") as handle:
            csv.writer(handle).writerows(rows)

    # everything that trains and evaluates (the marts and recommendations are covered elsewhere)
    # (cautious: leave out tests with an unselected parent)
    result = run_dbt(
        ["build", "--select", "+ml_evaluation_summary", "--indirect-selection", "cautious"],
        tmp_path / "run",
        raw_dir=raw,
    )
    assert result.ok, result.output[-3000:]
    with duckdb.connect(str(result.warehouse), read_only=True) as connection:
        summary = connection.sql(
            "select base_rate, auc from ml.ml_evaluation_summary "
            "where use_case = 'marketing' and split = 'test'"
        ).fetchall()
        types = connection.sql(
            "select distinct campaign_type from features.ml_marketing_features"
        ).fetchall()
    ((base_rate, auc),) = summary
    assert base_rate > 0.95
    assert 0.6 < auc < 0.85
    assert types == [("Awareness",)]
