"""leakproof.steps, the steps the shared dbt Python models call: the guard's approval, the model
spec a declaration gives, training and scoring through a Reader, turns, and config values read
as bools.

Large Python models take turns (steps.one_large_model_at_a_time): dbt runs two threads, and two
models each holding a whole feature table at once broke the 12 GB budget at 5M customers
(issue 9). The lock must exclude, and every model that reads a feature table must read it inside
its turn."""

from __future__ import annotations

import ast
import json
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from dbt_runner import PROJECT_ROOT, run_dbt
from leakproof import steps
from leakproof.declarations import load, load_project
from leakproof.exceptions import LeakproofError
from leakproof.steps import TURNS_LOG_ENV, as_bool, one_large_model_at_a_time
from test_train import synthetic_frame

MODELS = PROJECT_ROOT / "models"
DECLARATIONS = load_project(PROJECT_ROOT)


# --- turns ---------------------------------------------------------------------------------------


def test_two_threads_never_hold_a_turn_at_once() -> None:
    inside, overlaps, order = [0], [], []
    lock = threading.Lock()

    def work(name: str) -> None:
        with one_large_model_at_a_time("test"):
            with lock:
                inside[0] += 1
                overlaps.append(inside[0])
                order.append(f"{name} in")
            time.sleep(0.05)
            with lock:
                inside[0] -= 1
                order.append(f"{name} out")

    threads = [threading.Thread(target=work, args=(n,)) for n in ("a", "b", "c")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == [1, 1, 1]
    assert [o.split()[1] for o in order] == ["in", "out"] * 3


def test_each_turn_logs_how_long_its_model_waited(tmp_path, monkeypatch) -> None:
    log = tmp_path / "turns.jsonl"
    monkeypatch.setenv(TURNS_LOG_ENV, str(log))
    holding = threading.Event()

    def first() -> None:
        with one_large_model_at_a_time("first"):
            holding.set()
            time.sleep(0.3)

    thread = threading.Thread(target=first)
    thread.start()
    holding.wait(timeout=5)
    with one_large_model_at_a_time("second"):
        pass
    thread.join()
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e["model"] for e in entries] == ["first", "second"]
    assert entries[0]["waited_seconds"] < 0.1
    assert 0.2 < entries[1]["waited_seconds"] < 5


def test_a_turn_is_released_when_the_model_fails() -> None:
    with pytest.raises(RuntimeError, match="model failed"), one_large_model_at_a_time("test"):
        raise RuntimeError("model failed")
    acquired = []
    thread = threading.Thread(target=lambda: acquired.append(_enter_and_leave()))
    thread.start()
    thread.join(timeout=5)
    assert acquired == [True]


def _enter_and_leave() -> bool:
    with one_large_model_at_a_time("test"):
        return True


def _is_turn(item: ast.withitem) -> bool:
    """`with one_large_model_at_a_time(...)` or `with steps.one_large_model_at_a_time(...)`."""
    call = item.context_expr
    if not isinstance(call, ast.Call):
        return False
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    return name == "one_large_model_at_a_time"


def _reads_outside_the_turn(source: str) -> list[int]:
    """Line numbers of the reads (`.to_arrow_table()` of a ref, a `duckdb_reader(session)`) that
    are not inside a turn, in a model that reads a feature table: one that refs it, or that
    reads the use cases' tables through the session (refs ml_use_cases and makes a reader)."""
    tree = ast.parse(source)
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]

    def name_of(call: ast.Call) -> str | None:
        func = call.func
        return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)

    refs = {
        call.args[0].value
        for call in calls
        if name_of(call) == "ref" and call.args and isinstance(call.args[0], ast.Constant)
    }
    feature_tables = {d.feature_table for d in DECLARATIONS.values()}
    reads_features = bool(refs & feature_tables) or (
        "ml_use_cases" in refs and any(name_of(call) == "duckdb_reader" for call in calls)
    )
    if not reads_features:
        return []
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.With) and any(_is_turn(item) for item in node.items):
            inside |= {id(n) for n in ast.walk(node)}
    return sorted(
        call.lineno
        for call in calls
        if name_of(call) in ("to_arrow_table", "duckdb_reader") and id(call) not in inside
    )


def test_the_static_check_catches_a_read_outside_the_turn() -> None:
    bad_ref = (
        "def model(dbt, session):\n"
        "    frame = dbt.ref('ml_marketing_features').to_arrow_table()\n"
        "    return frame\n"
    )
    bad_reader = (
        "def model(dbt, session):\n"
        "    use_cases = dbt.ref('ml_use_cases').to_arrow_table().to_pandas()\n"
        "    with steps.one_large_model_at_a_time(dbt.this.identifier):\n"
        "        pass\n"
        "    return steps.scores(steps.duckdb_reader(session), use_cases, None)\n"
    )
    good = (
        "def model(dbt, session):\n"
        "    with steps.one_large_model_at_a_time(dbt.this.identifier):\n"
        "        use_cases = dbt.ref('ml_use_cases').to_arrow_table().to_pandas()\n"
        "        table = steps.scores(steps.duckdb_reader(session), use_cases, None)\n"
        "    return table\n"
    )
    assert _reads_outside_the_turn(bad_ref) == [2]
    assert _reads_outside_the_turn(bad_reader) == [2, 5]
    assert _reads_outside_the_turn(good) == []


def test_every_model_reading_a_feature_table_reads_it_in_its_turn() -> None:
    checked = []
    for path in sorted(MODELS.rglob("*.py")):
        source = path.read_text()
        assert _reads_outside_the_turn(source) == [], path.name
        if "one_large_model_at_a_time" in source:
            checked.append(path.stem)
    assert set(checked) == {
        "ml_leakage_audit",
        "ml_model_yardsticks",
        "ml_policy_evaluation",
        "ml_psi_reference_bins",
        "ml_recommendations",
        "ml_scores",
        "ml_trained_models",
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), (False, False), ("False", False), ("true", True), ("0", False), (" yes ", True)],
)
def test_as_bool_reads_rendered_dbt_config(value: object, expected: bool) -> None:
    assert as_bool(value) is expected


@pytest.mark.dbt
@pytest.mark.parametrize("threads", ["abc", "0", "-2"])
def test_a_bad_dbt_thread_count_stops_dbt_naming_the_variable(
    threads: str, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("LEAKPROOF_DBT_THREADS", threads)
    result = run_dbt(["parse"], tmp_path)
    assert not result.ok
    assert "LEAKPROOF_DBT_THREADS (set it to a whole number of dbt threads, at least 1)" in (
        result.output
    )
    assert "Traceback" not in result.output


# --- the guard's approval and the model spec -----------------------------------------------------


def lineage(rows: list[tuple[str, str, str]], model: str = "ml_demo_features") -> pd.DataFrame:
    """ml_feature_lineage rows: (feature, feature_role, status), one per source column reached."""
    return pd.DataFrame(
        [{"model": model, "feature": f, "feature_role": r, "status": s} for f, r, s in rows]
    )


def test_approved_features_are_the_features_every_path_of_which_was_approved() -> None:
    rows = [
        ("x1", "feature", "clean"),
        ("x1", "feature", "clean"),
        ("channel_rate_oof", "feature", "allowed"),
        ("converted", "target", "not_a_feature"),
        ("customer_id", "identifier", "not_a_feature"),
        ("x2", "feature", "clean"),
    ]
    assert steps.approved_features(lineage(rows), "ml_demo_features") == [
        "channel_rate_oof",
        "x1",
        "x2",
    ]
    leaking = lineage([*rows, ("x2", "feature", "leak"), ("x3", "feature", "unresolved")])
    with pytest.raises(LeakproofError, match="ml_demo_features: the leakage guard rejected x2, x3"):
        steps.approved_features(leaking, "ml_demo_features")
    with pytest.raises(LeakproofError, match="no lineage for ml_other_features"):
        steps.approved_features(lineage(rows), "ml_other_features")


def test_model_spec_comes_from_the_declaration(tmp_path: Path) -> None:
    features = pd.DataFrame(
        {
            "entity_key": ["1/1"],
            "income": [1.0],
            "website_visits_30d": [3],
            "region": ["EMEA"],
            "large_account_flag": [True],
        }
    )
    approved = ["income", "large_account_flag", "region", "website_visits_30d"]
    b2b = DECLARATIONS["b2b"]
    spec = steps.model_spec(b2b, features, approved, str(tmp_path))
    assert spec.use_case == "b2b"
    assert spec.id_columns == ("entity_key",)
    assert spec.target == "response_flag"
    assert spec.numeric_features == ("income", "large_account_flag", "website_visits_30d")
    assert spec.categorical_features == ("region",)
    assert (spec.cv_fold_column, spec.cv_group_column) == ("cv_fold", "account_id")
    # the declaration's model keys
    assert (spec.primary_family, spec.seed, spec.max_training_rows) == (None, 42, 50_000)
    assert spec.selection_rule == "best_cv_auc"
    assert (spec.contact_cost, spec.conversion_value) == (20.0, 150.0)
    assert spec.artifact_dir == str(tmp_path)
    marketing = steps.model_spec(DECLARATIONS["marketing"], features, approved, str(tmp_path))
    assert (marketing.selection_rule, marketing.cv_group_column) == ("best_cv_auc", None)


# --- training and scoring through a Reader -----------------------------------------------------

DEMO_DECLARATION = """\
version: 2
sources:
  - name: demo
    config:
      meta:
        use_case:
          grain: [customer_id]
          target: {column: converted, positive: [1], negative: [0]}
          split: {method: stratified, folds: 3}
          model:
            primary_family: logistic
            seed: 3
            families: [logistic, xgboost]
            imbalance_treatments: [none]
            calibration_methods: [sigmoid]
    tables:
      - name: rows
        config: {meta: {file: rows}}
        columns:
          - {name: customer_id, data_type: bigint, config: {meta: {role: id}}}
          - {name: x1, data_type: double}
          - {name: x2, data_type: double}
          - {name: x3, data_type: double}
          - {name: noise, data_type: double}
          - {name: channel, data_type: varchar}
          - {name: platform, data_type: varchar}
          - {name: converted, data_type: integer, config: {meta: {role: target}}}
"""


@pytest.fixture(scope="module")
def demo_use_case(tmp_path_factory: pytest.TempPathFactory) -> steps.UseCaseTables:
    path = tmp_path_factory.mktemp("project") / "use_cases" / "demo.yml"
    path.parent.mkdir()
    path.write_text(DEMO_DECLARATION)
    return steps.UseCaseTables(load(path), "features.ml_demo_features", "int_demo__prepared")


def demo_features() -> pd.DataFrame:
    """A feature table as the macro builds it: entity_key, the id, split, cv_fold, the target,
    the features - and a column the guard never approved."""
    frame = synthetic_frame(1500, seed=5, n_score=100)
    frame = frame.rename(columns={"converted": "converted_float"})
    frame.insert(0, "entity_key", frame["customer_id"].astype(str))
    frame["converted"] = frame.pop("converted_float").astype("Int64")
    train_rows = frame["split"] == "train"
    frame["cv_fold"] = pd.array([None] * len(frame), dtype="Int64")
    frame.loc[train_rows, "cv_fold"] = (frame.loc[train_rows, "customer_id"] % 3).to_numpy()
    frame["not_approved"] = frame["converted"].astype(float)  # a leak the guard did not approve
    return frame


class RecordingReader:
    """A Reader over one in-memory feature table that records what the steps asked for."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame, self.calls = frame, []

    def __call__(self, relation, columns=None, where=None, order_by=None) -> pd.DataFrame:
        self.calls.append((relation, tuple(columns or ()), where, order_by))
        assert relation == "features.ml_demo_features"
        out = self.frame
        if where == "split in ('train', 'test')":
            out = out[out["split"].isin(["train", "test"])]
        else:
            assert where is None
        if order_by:
            out = out.sort_values(order_by)
        return out[list(columns)] if columns else out


def test_trained_models_read_only_approved_features_and_scores_cover_every_row(
    tmp_path: Path, demo_use_case: steps.UseCaseTables
) -> None:
    approved = ["channel", "noise", "platform", "x1", "x2", "x3"]
    guard = lineage(
        [(f, "feature", "clean") for f in approved] + [("converted", "target", "not_a_feature")]
    )
    features = demo_features()
    reader = RecordingReader(features)
    registry = steps.trained_models(reader, [demo_use_case], guard, str(tmp_path), retrain=True)
    ((_, columns, where, order_by),) = reader.calls
    assert (where, order_by) == ("split in ('train', 'test')", "entity_key")
    assert set(columns) == {"entity_key", "split", "cv_fold", "converted", *approved}
    assert "not_approved" not in columns
    assert sorted(zip(registry["algorithm"], registry["role"], strict=True)) == [
        ("logistic_l2", "primary"),
        ("xgboost", "comparison"),
    ]
    assert (registry["use_case"] == "demo").all()
    assert all(sorted(json.loads(f)) == approved for f in registry["feature_list"])
    assert (registry["training_split_rows"] == (features["split"] == "train").sum()).all()
    assert (registry["cv_folds"] == 3).all()

    reader.calls.clear()
    scored = steps.scores(reader, [demo_use_case], registry)
    ((_, columns, where, _),) = reader.calls
    assert where is None  # every row: train, test and score
    assert "not_approved" not in columns
    assert len(scored) == len(features)
    assert sorted(zip(scored["entity_key"], scored["split"], strict=True)) == sorted(
        zip(features["entity_key"], features["split"], strict=True)
    )
    primary = registry.loc[registry["role"] == "primary", "model_id"].item()
    assert (scored["model_id"] == primary).all()
    assert scored["calibrated_probability"].between(0, 1).all()

    # with retrain false the registered models are read back, and nothing is trained
    reader.calls.clear()
    again = steps.trained_models(reader, [demo_use_case], guard, str(tmp_path), retrain=False)
    assert reader.calls == []
    assert sorted(again["model_id"]) == sorted(registry["model_id"])


def test_training_refuses_a_feature_table_the_guard_rejected(
    tmp_path: Path, demo_use_case: steps.UseCaseTables
) -> None:
    guard = lineage([("x1", "feature", "clean"), ("not_approved", "feature", "leak")])
    reader = RecordingReader(demo_features())
    with pytest.raises(LeakproofError, match="rejected not_approved"):
        steps.trained_models(reader, [demo_use_case], guard, str(tmp_path), retrain=True)
    assert reader.calls == []  # refused before reading a row
