"""leakproof.models, the steps the dbt Python models call: turns, and config values read as bools.

Large Python models take turns (leakproof.models.one_large_model_at_a_time): dbt runs two
threads, and two models each holding a whole feature table at once broke the 12 GB budget at 5M
customers (issue 9). The lock must exclude, and every model that reads a feature table must read it
inside its turn."""

from __future__ import annotations

import ast
import json
import threading
import time
from pathlib import Path

import pytest

from dbt_runner import run_dbt
from leakproof.models import TURNS_LOG_ENV, USE_CASES, as_bool, one_large_model_at_a_time

MODELS = Path(__file__).resolve().parents[2] / "models"
FEATURE_TABLES = {u.feature_table for u in USE_CASES.values()} | {
    "ml_customer_features_leaky",
    "ml_recommendations",
}


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
    try:
        with one_large_model_at_a_time("test"):
            raise RuntimeError("model failed")
    except RuntimeError:
        pass
    acquired = []
    thread = threading.Thread(target=lambda: acquired.append(_enter_and_leave()))
    thread.start()
    thread.join(timeout=5)
    assert acquired == [True]


def _enter_and_leave() -> bool:
    with one_large_model_at_a_time("test"):
        return True


def _reads_outside_the_turn(source: str) -> list[int]:
    """Line numbers of `.to_arrow_table()` calls that are not inside
    `with one_large_model_at_a_time(...):` in a model that refs a feature table."""
    tree = ast.parse(source)
    refs = {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "ref"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }
    if not refs & FEATURE_TABLES:
        return []
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.With) and any(
            isinstance(item.context_expr, ast.Call)
            and getattr(item.context_expr.func, "id", None) == "one_large_model_at_a_time"
            for item in node.items
        ):
            inside |= {id(n) for n in ast.walk(node)}
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "to_arrow_table"
        and id(node) not in inside
    ]


def test_the_static_check_catches_a_read_outside_the_turn() -> None:
    bad = (
        "def model(dbt, session):\n"
        "    frame = dbt.ref('ml_customer_features').to_arrow_table()\n"
        "    return frame\n"
    )
    good = (
        "def model(dbt, session):\n"
        "    with one_large_model_at_a_time(dbt.this.identifier):\n"
        "        frame = dbt.ref('ml_customer_features').to_arrow_table()\n"
        "    return frame\n"
    )
    assert _reads_outside_the_turn(bad) == [2]
    assert _reads_outside_the_turn(good) == []


def test_every_model_reading_a_feature_table_reads_it_in_its_turn() -> None:
    checked = []
    for path in sorted(MODELS.rglob("*.py")):
        source = path.read_text()
        assert _reads_outside_the_turn(source) == [], path.name
        if "one_large_model_at_a_time" in source:
            checked.append(path.stem)
    assert set(checked) == {
        "ml_b2b_model",
        "ml_b2b_scores",
        "ml_leakage_audit",
        "ml_marketing_model",
        "ml_marketing_scores",
        "ml_policy_evaluation",
        "ml_psi_reference_bins",
        "ml_recommendations",
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), (False, False), ("False", False), ("true", True), ("0", False)],
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
