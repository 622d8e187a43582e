"""Every custom generic test is proven able to fail: it runs on good and bad fixtures
(fixtures/generic_tests) and each outcome must match the fixture's declared expectation; a
failing test says why (the guard's log lines, the rows it stores)."""

from __future__ import annotations

import duckdb
import pytest

from dbt_runner import PROJECT_ROOT, DbtResult, run_dbt

pytestmark = pytest.mark.dbt

# the leakage tests take either the target (with the columns' feature_role meta) or a use case
LEAKAGE_TESTS = {
    "single_feature_auc_below",
    "target_not_determined_by_pair",
    "missingness_does_not_predict_target",
}


@pytest.fixture(scope="module")
def fixtures_build(tmp_path_factory: pytest.TempPathFactory) -> DbtResult:
    """The fixture models and their tests, built once (they need no raw data)."""
    return run_dbt(
        ["build", "--select", "tag:fixture"],
        tmp_path_factory.mktemp("fixtures"),
        dbt_vars={"leakproof_fixtures": True},
    )


def fixture_tests(result: DbtResult) -> dict[str, dict]:
    return {
        unique_id: node
        for unique_id, node in result.manifest()["nodes"].items()
        if node["resource_type"] == "test" and "expect" in node["config"]["meta"]
    }


def test_every_generic_test_catches_its_bad_fixture(fixtures_build: DbtResult) -> None:
    statuses = fixtures_build.statuses()
    tests = fixture_tests(fixtures_build)
    assert tests, fixtures_build.output[-3000:]
    mismatched = {
        unique_id: (node["config"]["meta"]["expect"], statuses.get(unique_id))
        for unique_id, node in tests.items()
        if statuses.get(unique_id) != node["config"]["meta"]["expect"]
    }
    assert not mismatched, f"fixture tests with an unexpected outcome: {mismatched}"
    # every custom generic test in tests/generic has a fixture expected to fail and one to pass
    generic_tests = {path.stem for path in (PROJECT_ROOT / "tests" / "generic").glob("*.sql")}
    assert "rows_conserved" not in generic_tests
    for expect in ("fail", "pass"):
        proven = {
            node["test_metadata"]["name"]
            for node in tests.values()
            if node["config"]["meta"]["expect"] == expect
        }
        assert generic_tests == proven, f"generic tests without a {expect}ing fixture"
    # the leakage tests, in both forms, pass on honest features and fail on leaks
    forms = {
        (node["test_metadata"]["name"], "use_case" in node["test_metadata"]["kwargs"], expect)
        for node in tests.values()
        if (expect := node["config"]["meta"]["expect"])
    }
    for name in LEAKAGE_TESTS:
        for by_use_case in (True, False):
            assert {(name, by_use_case, "pass"), (name, by_use_case, "fail")} <= forms, name


def test_the_guard_names_each_leak_of_the_bad_fixture(fixtures_build: DbtResult) -> None:
    lines = [line for line in fixtures_build.output.splitlines() if "LEAKAGE GUARD:" in line]
    model = "fixture_features_with_leaks"
    for message in (
        f"{model}.target_copy alone predicts conversion with AUC 1.0000 (ceiling 0.9)",
        f"{model}.conversion_rate alone predicts conversion with AUC 1.0000 (ceiling 0.9)",
        f"{model}.ad_spend and cpa_proxy together determine conversion (their ratio",
        f"{model}.order_note is NULL in a way that predicts conversion (AUC 1.0000",
        f"{model}.conversion_rate is declared blocked (target_derived / post_outcome) in "
        "use_cases/marketing.yml and must never be in a feature table",
    ):
        assert any(message in line for line in lines), (message, lines)
    # nothing is said of the honest features
    assert not [line for line in lines if "fixture_features_clean." in line]


def test_failing_tests_store_the_rows_that_break_them(fixtures_build: DbtResult) -> None:
    tests = fixture_tests(fixtures_build)

    def stored(test_name: str, model: str, **kwargs: object) -> list[tuple]:
        (node,) = [
            n
            for n in tests.values()
            if n["test_metadata"]["name"] == test_name
            and n["attached_node"] == f"model.leakproof.{model}"
            and all(n["test_metadata"]["kwargs"].get(k) == v for k, v in kwargs.items())
        ]
        with duckdb.connect(str(fixtures_build.warehouse), read_only=True) as connection:
            return connection.sql(
                f'select * from "{node["schema"]}"."{node["alias"]}" order by all'
            ).fetchall()

    broken = "fixture_split_rows_broken"
    assert stored("split_is_declared", broken, use_case="marketing") == [
        ("outcome 1: 3 test rows of 20, declared share 0.2",),
        ("outcome 1: fold sizes 3 to 5",),
    ]
    assert stored("split_is_declared", broken, use_case="b2b") == [
        ("training row in period 2 is not older than test period 2",),
    ]
    assert stored("no_blocked_columns", "fixture_features_with_leaks") == [("conversion_rate",)]
    out_of_fold = stored(
        "target_encoding_is_out_of_fold", "fixture_features_with_leaks", use_case="marketing"
    )
    assert len(out_of_fold) == 3000  # the naive encoding differs on every row
