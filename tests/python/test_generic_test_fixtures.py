"""Every custom generic test is proven able to fail: it runs on good and bad fixtures
(fixtures/generic_tests) and each outcome must match the fixture's declared expectation."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbt_runner import PROJECT_ROOT, run_dbt

pytestmark = pytest.mark.dbt

EXPECTED_STATUS = {"pass": "pass", "fail": "fail"}


def test_every_generic_test_catches_its_bad_fixture(tmp_path: Path) -> None:
    result = run_dbt(
        ["build", "--select", "tag:fixture"], tmp_path, dbt_vars={"leakproof_fixtures": True}
    )
    manifest = result.manifest()
    statuses = result.statuses()
    tests = {
        unique_id: node
        for unique_id, node in manifest["nodes"].items()
        if node["resource_type"] == "test" and "expect" in node["config"]["meta"]
    }
    assert tests, result.output
    mismatched = {
        unique_id: (node["config"]["meta"].get("expect"), statuses.get(unique_id))
        for unique_id, node in tests.items()
        if statuses.get(unique_id) != EXPECTED_STATUS[node["config"]["meta"]["expect"]]
    }
    assert not mismatched, f"fixture tests with an unexpected outcome: {mismatched}"
    # every custom generic test in tests/generic has at least one fixture expected to fail
    generic_tests = {path.stem for path in (PROJECT_ROOT / "tests" / "generic").glob("*.sql")}
    proven = {
        node["test_metadata"]["name"]
        for node in tests.values()
        if node["config"]["meta"]["expect"] == "fail"
    }
    assert generic_tests <= proven, (
        f"generic tests with no failing fixture: {generic_tests - proven}"
    )
