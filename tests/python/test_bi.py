"""BI access to the serving copy (SQLAlchemy through duckdb-engine, what Superset uses) and the
dbt docs that describe it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from dbt_runner import DbtResult, run_dbt
from leakproof.publish import publish

BI_SCHEMAS = ("features", "main", "marts", "ml")


@pytest.fixture(scope="module")
def served(demo_build: DbtResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    serving = tmp_path_factory.mktemp("bi") / "serving.duckdb"
    publish(demo_build.warehouse, serving)
    return serving


@pytest.fixture(scope="module")
def engine(served: Path) -> sa.Engine:
    # The Superset / SQLAlchemy URI: duckdb:////abs/path/serving.duckdb with read_only=True.
    return sa.create_engine(f"duckdb:///{served}", connect_args={"read_only": True})


def test_sqlalchemy_lists_the_serving_schemas_and_tables(engine: sa.Engine) -> None:
    inspector = sa.inspect(engine)
    schemas = {name.split(".", 1)[-1] for name in inspector.get_schema_names()}
    assert set(BI_SCHEMAS) <= schemas
    assert "staging" not in schemas and "intermediate" not in schemas
    marts = inspector.get_table_names(schema="marts")
    assert {"fct_dimension_performance", "fct_treatment_performance"} <= set(marts)
    assert "ml_model_registry" in inspector.get_table_names(schema="ml")


def test_sqlalchemy_answers_the_readme_question(engine: sa.Engine, served: Path) -> None:
    # docs/bi.md: a use case's rates by one dimension, the use case a bound parameter
    query = sa.text(
        "select dimension_value, labelled_rows, positive_rate, positive_rate_rank "
        "from marts.fct_dimension_performance "
        "where use_case = :use_case and dimension = 'campaign_channel' "
        "and not is_below_min_sample order by positive_rate_rank"
    )
    with engine.connect() as connection:
        frame = pd.read_sql(query, connection, params={"use_case": "marketing"})
        registry = connection.execute(
            sa.text("select count(*) from ml.ml_model_registry where role = :role"),
            {"role": "primary"},
        ).scalar_one()
    assert registry == 2
    assert len(frame) == 7  # the seven declared channels, each with enough rows
    assert list(frame["positive_rate_rank"]) == list(range(1, 8))
    assert frame["positive_rate"].between(0, 1).all()
    assert frame["positive_rate"].is_monotonic_decreasing


def test_sqlalchemy_connection_is_read_only(engine: sa.Engine, served: Path) -> None:
    before = served.stat().st_mtime_ns
    with engine.connect() as connection, pytest.raises(sa.exc.DBAPIError, match="read-only"):
        connection.execute(sa.text("create table marts.scratch as select 1 as one"))
    assert served.stat().st_mtime_ns == before


def test_sqlalchemy_reflects_columns(engine: sa.Engine) -> None:
    """What Superset does when a dataset is added (needs SQLAlchemy < 2.0.45 with DuckDB 2.0:
    newer versions reflect through pg_catalog.pg_collation, which DuckDB 2.0 lacks)."""
    columns = sa.inspect(engine).get_columns("ml_model_registry", schema="ml")
    assert "model_id" in {column["name"] for column in columns}


def test_docs_generate_describes_every_published_table_and_column(
    demo_build: DbtResult, demo_raw_dir: Path, served: Path, tmp_path: Path
) -> None:
    shutil.copy(demo_build.warehouse, tmp_path / "leakproof.duckdb")
    result = run_dbt(
        ["docs", "generate"],
        tmp_path,
        raw_dir=demo_raw_dir,
        dbt_vars={"artifact_dir": str(demo_build.warehouse.parent / "artifacts")},
    )
    assert result.ok, result.output[-3000:]
    manifest = result.manifest()
    catalog = json.loads((result.target_path / "catalog.json").read_text())
    nodes = {
        f"{node['schema']}.{node['name']}": node
        for node in manifest["nodes"].values()
        if node["resource_type"] in {"model", "seed"}
    }
    with sa.create_engine(f"duckdb:///{served}", connect_args={"read_only": True}).connect() as c:
        published = [
            row[0]
            for row in c.execute(
                sa.text("select table_schema || '.' || table_name from main._publish")
            )
        ]
        # a use case's feature table has the columns its declaration names: each is listed,
        # with its role and lineage path, in ml_feature_lineage
        lineage = {
            (model, feature)
            for model, feature in c.execute(
                sa.text("select distinct model, feature from ml.ml_feature_lineage")
            )
        }
    undescribed = []
    for key in published:
        node = nodes[key]
        if not node["description"]:
            undescribed.append(key)
        documented = {name.lower(): column for name, column in node["columns"].items()}
        for column in catalog["nodes"][node["unique_id"]]["columns"]:
            if node["schema"] == "features" and (node["name"], column.lower()) in lineage:
                continue
            if not documented.get(column.lower(), {}).get("description"):
                undescribed.append(f"{key}.{column}")
    assert undescribed == []
    features = [key for key in published if key.startswith("features.")]
    assert len(features) == 2 and all(nodes[key]["columns"] == {} for key in features)
    exposures = {exposure["name"]: exposure for exposure in manifest["exposures"].values()}
    assert set(exposures) == {"leakproof_report", "serving_copy"}
    report_inputs = set(exposures["leakproof_report"]["depends_on"]["nodes"])
    assert "model.leakproof.ml_policy_evaluation" in report_inputs
    assert all(node.startswith("model.leakproof.") for node in report_inputs)
