"""The ML steps on Spark (leakproof.spark): `leakproof spark-ml --skip-sql` runs the Spark ML job
on the session's Spark build of the SQL layer (spark_build.py); the same raw data is built on
DuckDB up to its ML models. The job's tables must have the DuckDB Python models' columns and
grain, and each use case's model of record must score the test split about as well as DuckDB's.

Why a tolerance and not equality: training differs (Spark ML's logistic regression and an
untuned SparkXGBClassifier, no imbalance treatments; see leakproof.spark._train), and for a
stratified split the test rows differ too (DuckDB orders rows by its hash(), Spark by xxhash64),
so the two test AUCs are estimates on different rows. TOLERANCE below is what that allows.

Needs the Spark extras (`make spark`), run by `make test-spark`; skipped elsewhere.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import duckdb
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from dbt_runner import PROJECT_ROOT, run_dbt
from leakproof import artifacts, train
from spark_build import SKIP_REASON, SPARK_DBT, SparkBuild, spark_available

# Test AUC of the Spark model of record minus DuckDB's, per use case, on the session's Spark data
# (3,000 customers, 3,000 B2B rows). b2b's test split is the newest labelled wave on both engines
# (a time split: the same ~600 rows, ~120 responders), so only training differs: 0.05.
# marketing's stratified test split holds different rows on each engine, and only ~8 converters
# at a 1.3 % rate: each AUC's standard error is ~0.1, so the two may differ by ~0.3 by sampling
# alone - this bound catches a broken model (AUC ~0.5 against ~0.7), not a small loss.
TOLERANCE = {"b2b": 0.05, "marketing": 0.3}
JOB_TABLES = ("ml_trained_models", "ml_scores", "ml_psi_reference_bins", "ml_recommendations")

pytestmark = pytest.mark.skipif(not spark_available(), reason=SKIP_REASON)


@pytest.fixture(scope="module")
def builds(
    tmp_path_factory: pytest.TempPathFactory, spark_sql_build: SparkBuild
) -> Iterator[dict[str, Any]]:
    """DuckDB's build of the ML models, then the Spark ML job on the session's Spark SQL layer
    (`leakproof spark-ml --skip-sql`, in the Spark venv), over the same raw data."""
    duck = run_dbt(
        ["build", "--select", "+ml_recommendations", "+ml_psi_reference_bins"],
        tmp_path_factory.mktemp("duck_ml"),
        spark_sql_build.raw,
    )
    assert duck.ok, duck.output[-5000:]
    spark_sql_build.wait()
    assert SPARK_DBT is not None
    command = [
        str(SPARK_DBT.with_name("python")),
        "-m",
        "leakproof.cli",
        "spark-ml",
        "--skip-sql",
        "--raw-dir",
        str(spark_sql_build.raw),
        "--artifact-dir",
        str(spark_sql_build.workdir / "spark_ml_artifacts"),
        "--target-path",
        str(spark_sql_build.target),
    ]
    env = {**spark_sql_build.env(), "PYTHONPATH": str(PROJECT_ROOT / "python")}
    job = subprocess.run(
        command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=1800
    )
    assert job.returncode == 0, (job.stdout + job.stderr)[-8000:]
    yield {"duck": duck.warehouse, "spark": spark_sql_build.warehouse, "output": job.stderr}


@pytest.fixture(scope="module")
def connection(builds: dict[str, Any]) -> Iterator[duckdb.DuckDBPyConnection]:
    """DuckDB's warehouse (read-only), with each Spark ML table as a view spark_<table> over
    its Parquet files."""
    with duckdb.connect(str(builds["duck"]), read_only=True) as con:
        for table in (*JOB_TABLES, "ml_use_cases"):
            files = builds["spark"] / "ml.db" / table / "*.parquet"
            con.execute(f"create temp view spark_{table} as select * from read_parquet('{files}')")
        yield con


def columns(con: duckdb.DuckDBPyConnection, relation: str) -> list[str]:
    return [d[0] for d in con.execute(f"select * from {relation} limit 0").description]


@pytest.mark.parametrize("table", JOB_TABLES)
def test_job_table_has_duckdb_columns(connection: duckdb.DuckDBPyConnection, table: str) -> None:
    assert columns(connection, f"spark_{table}") == columns(connection, f"ml.{table}")
    assert connection.execute(f"select count(*) from spark_{table}").fetchone()[0] > 0


def test_every_feature_row_is_scored_once(connection: duckdb.DuckDBPyConnection) -> None:
    rows = connection.execute(
        "select use_case, count(*), count(distinct split || '|' || entity_key) "
        "from spark_ml_scores group by use_case order by use_case"
    ).fetchall()
    expected = connection.execute(
        "select use_case, train_rows + test_rows + score_rows from spark_ml_use_cases "
        "order by use_case"
    ).fetchall()
    assert [(u, n) for u, n, _ in rows] == expected
    assert all(n == distinct for _, n, distinct in rows)


def test_scores_deciles_and_reason_codes(connection: duckdb.DuckDBPyConnection) -> None:
    # decile 1 holds the top raw logits of its split: its lowest is at least decile 2's highest
    overlaps = connection.execute(
        "with d as (select use_case, split, decile, min(raw_logit) as low, max(raw_logit) as high "
        "from spark_ml_scores group by all) select count(*) from d as a inner join d as b "
        "using (use_case, split) where b.decile = a.decile + 1 and a.low < b.high"
    ).fetchone()[0]
    assert overlaps == 0
    bad = connection.execute(
        "select count(*) from spark_ml_scores where calibrated_probability not between 0 and 1 "
        "or (reason_1 is not null and not (reason_1_contribution > 0 "
        "and reason_1 like reason_1_feature || '=%')) "
        "or predicted_label <> (calibrated_probability >= (select threshold from "
        "spark_ml_trained_models as m where m.model_id = spark_ml_scores.model_id))::int"
    ).fetchone()[0]
    assert bad == 0
    explained = connection.execute(
        "select avg((reason_1 is not null)::int) from spark_ml_scores"
    ).fetchone()[0]
    assert explained > 0.5


def test_registered_artifact_rescores_the_job(
    builds: dict[str, Any], connection: duckdb.DuckDBPyConnection
) -> None:
    """The artifact the job registered, loaded and verified, gives the scores the partitions
    computed (the per-partition Python is the DuckDB steps' own)."""
    registry = connection.execute(
        "select * from spark_ml_trained_models where role = 'primary'"
    ).df()
    for row in registry.to_dict("records"):
        bundle = artifacts.load_registered(row)
        table = bundle.use_case
        features = connection.execute(
            f"select * from read_parquet('{builds['spark']}/features.db/ml_{table}_features/"
            "*.parquet') order by split, entity_key limit 300"
        ).df()
        scored = connection.execute(
            "select entity_key, split, calibrated_probability from spark_ml_scores "
            f"where use_case = '{table}'"
        ).df()
        again = train.score_frame(bundle, features)[["entity_key", "split"]].assign(
            p=train.score_frame(bundle, features)["calibrated_probability"]
        )
        again["entity_key"] = again["entity_key"].astype(str)
        merged = again.merge(scored, on=["entity_key", "split"], how="left")
        assert len(merged) == len(features)
        np.testing.assert_allclose(merged["p"], merged["calibrated_probability"], rtol=1e-12)


def test_grain_of_bins_and_recommendations(connection: duckdb.DuckDBPyConnection) -> None:
    duplicated = connection.execute(
        "select count(*) - count(distinct (use_case, model_id, variable_name, bin_index)) "
        "from spark_ml_psi_reference_bins"
    ).fetchone()[0]
    assert duplicated == 0
    recommended = connection.execute(
        "select count(*), count(distinct (use_case, entity_key, split)), "
        "count(*) filter (where recommended_probability < current_probability) "
        "from spark_ml_recommendations"
    ).fetchone()
    what_if_rows = connection.execute(
        "select sum(train_rows + test_rows + score_rows) from spark_ml_use_cases "
        "where coalesce(treatments, '') <> ''"
    ).fetchone()[0]
    assert recommended[0] == recommended[1] == what_if_rows
    assert recommended[2] == 0


def test_primary_model_quality_near_duckdb(connection: duckdb.DuckDBPyConnection) -> None:
    for use_case, tolerance in TOLERANCE.items():
        aucs = {}
        for engine, prefix in (("duckdb", "ml."), ("spark", "spark_")):
            labels, scores = connection.execute(
                f"select list(actual_label order by entity_key), "
                f"list(raw_logit order by entity_key) from {prefix}ml_scores "
                f"where use_case = '{use_case}' and split = 'test'"
            ).fetchone()
            aucs[engine] = roc_auc_score(labels, scores)
            registered = connection.execute(
                f"select test_auc from {prefix}ml_trained_models "
                f"where use_case = '{use_case}' and role = 'primary'"
            ).fetchone()[0]
            assert registered == pytest.approx(aucs[engine], abs=1e-9), (engine, use_case)
        print(f"{use_case}: test AUC DuckDB {aucs['duckdb']:.4f}, Spark {aucs['spark']:.4f}")
        assert abs(aucs["spark"] - aucs["duckdb"]) <= tolerance, (use_case, aucs)
