"""The leakage guard fails the build, naming the column, for every kind of leak the marketing
document ran into - and passes the honest feature tables (the session build is green).

One edited copy of the project carries all five leaks at once - four computed columns added to
the marketing feature table (around the generated model) and SocialShares declared post_outcome
while the table still carries it; each layer must name what it can see. Two builds: the lineage
layer on its own (the statistical tests would fail first and skip it), then the tests on the
feature table.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dbt_runner import copy_project, run_dbt

pytestmark = pytest.mark.dbt

FEATURES = "ml_marketing_features"
LEAKS = {
    # name: (SQL over the generated feature table `features` and the prepared rows `prepared`,
    #        what the lineage guard must say)
    "converted_copy": (
        "cast(features.conversion as double)",
        "reaches marketing.customers.Conversion (target)",
    ),
    "cpa_proxy": (
        "features.ad_spend_capped / (features.conversion + 1)",
        "reaches marketing.customers.Conversion (target)",
    ),
    "roi_proxy": (
        "prepared.conversion_rate * features.income / nullif(features.ad_spend_capped, 0)",
        "reaches marketing.customers.ConversionRate (target_derived)",
    ),
    "channel_rate_naive": (
        "avg(features.conversion) over (partition by features.campaign_channel)",
        "reaches marketing.customers.Conversion (target)",
    ),
}


def inject_leaks(project: Path) -> None:
    model = project / "models" / "marts" / "features" / f"{FEATURES}.sql"
    call = "{{ feature_table('marketing') }}"
    assert call in model.read_text()
    leaks = "".join(f",\n    {sql} as {name}" for name, (sql, _) in LEAKS.items())
    model.write_text(
        "select\n    features.*" + leaks + ",\n    prepared.social_shares\n"
        f"from ({call}) as features\n"
        "inner join {{ ref('int_marketing__prepared') }} as prepared\n"
        "    on features.entity_key = prepared.entity_key and features.split = prepared.split\n"
    )
    # a post-outcome column: SocialShares declared as recorded after the conversion (so not a
    # feature by its role), yet still carried into the feature table above
    declaration = project / "use_cases" / "marketing.yml"
    document = yaml.safe_load(declaration.read_text())
    (table,) = document["sources"][0]["tables"]
    (shares,) = [c for c in table["columns"] if c["name"] == "SocialShares"]
    shares["config"]["meta"]["role"] = "post_outcome"
    declaration.write_text(yaml.safe_dump(document, sort_keys=False))


STATISTICAL_TESTS = [
    "test_name:single_feature_auc_below",
    "test_name:target_not_determined_by_pair",
    "test_name:missingness_does_not_predict_target",
    "test_name:no_blocked_columns",
]


@pytest.fixture(scope="module")
def leaky_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = copy_project(tmp_path_factory.mktemp("leaky") / "project")
    inject_leaks(project)
    return project


def guard_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if "LEAKAGE GUARD:" in line]


def test_lineage_layer_names_every_leaking_column_and_its_path(
    leaky_project: Path, demo_raw_dir: Path, tmp_path: Path
) -> None:
    # The tests on the feature table would fail first and skip the lineage model downstream of
    # it; leave them out here to see the lineage layer on its own.
    result = run_dbt(
        ["build", "--select", "+ml_feature_lineage", "--exclude", *STATISTICAL_TESTS],
        tmp_path,
        raw_dir=demo_raw_dir,
        project_dir=leaky_project,
    )
    assert not result.ok
    lines = guard_lines(result.output)
    for name, (_, reached) in LEAKS.items():
        column = f"{FEATURES}.{name}"
        expected = f"LEAKAGE GUARD: {column} {reached} via {column} <- "
        assert any(expected in line for line in lines), (name, lines)
    assert any(
        f"{FEATURES}.social_shares reaches marketing.customers.SocialShares (post_outcome)" in line
        for line in lines
    ), lines
    # nothing honest is named: the guard's lines are the five leaks (one per path reached)
    named = {line.split("LEAKAGE GUARD: ")[1].split(" ")[0] for line in lines}
    assert named == {f"{FEATURES}.{name}" for name in [*LEAKS, "social_shares"]}
    statuses = result.statuses()
    lineage_test = [
        k for k in statuses if k.startswith("test.leakproof.no_rejected_rows_ml_feature")
    ]
    assert [statuses[k] for k in lineage_test] == ["fail"]
    # the honest out-of-fold encoding is allowed and still proven out of fold
    oof = [k for k in statuses if k.startswith("test.leakproof.target_encoding_is_out_of_fold")]
    assert oof and {statuses[k] for k in oof} == {"pass"}


def test_statistical_and_role_layers_name_the_leaks_they_can_see(
    leaky_project: Path, demo_raw_dir: Path, tmp_path: Path
) -> None:
    result = run_dbt(
        ["build", "--select", f"+{FEATURES}"],
        tmp_path,
        raw_dir=demo_raw_dir,
        project_dir=leaky_project,
    )
    assert not result.ok
    lines = guard_lines(result.output)
    for expected in (
        f"{FEATURES}.converted_copy alone predicts conversion",
        f"{FEATURES}.roi_proxy alone predicts conversion",
        f"{FEATURES}.ad_spend_capped and cpa_proxy together determine conversion",
        f"{FEATURES}.social_shares is declared blocked (target_derived / post_outcome) in "
        "use_cases/marketing.yml and must never be in a feature table",
    ):
        assert any(expected in line for line in lines), (expected, lines)
    statuses = {k.split(".")[2]: s for k, s in result.statuses().items() if k.startswith("test.")}
    failed = {name.split(f"_{FEATURES}")[0] for name, s in statuses.items() if s == "fail"}
    assert failed == {
        "no_blocked_columns",
        "single_feature_auc_below",
        "target_not_determined_by_pair",
    }
    assert statuses[f"target_encoding_is_out_of_fold_{FEATURES}_marketing"] == "pass"
