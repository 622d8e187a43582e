"""The leakage guard fails the build, naming the column, for every kind of leak the marketing
document ran into - and passes the honest feature tables (see test_pipeline for the clean build).

One build of an edited copy of the project carries all five leaks at once; each must be named.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dbt_runner import copy_project, run_dbt

pytestmark = pytest.mark.dbt

LEAKS = {
    # name: (SQL over int_customers_segmented, what the lineage guard must say)
    "converted_copy": (
        "cast(conversion as double)",
        "reaches marketing.customers.Conversion (target)",
    ),
    "cpa_proxy": (
        "ad_spend_capped / (conversion + 1)",
        "reaches marketing.customers.Conversion (target)",
    ),
    "roi_proxy": (
        "conversion_rate * income / nullif(ad_spend_capped, 0)",
        "reaches marketing.customers.ConversionRate (target_derived)",
    ),
    "channel_rate_naive": (
        "avg(conversion) over (partition by campaign_channel)",
        "reaches marketing.customers.Conversion (target)",
    ),
}


def inject_leaks(project: Path) -> None:
    features_sql = project / "models/marts/features/ml_customer_features.sql"
    sql = features_sql.read_text()
    anchor = "            as channel_conversion_rate_oof\n"
    extra = "".join(f",\n        {expression} as {name}" for name, (expression, _) in LEAKS.items())
    assert anchor in sql
    features_sql.write_text(sql.replace(anchor, anchor.rstrip("\n") + extra + "\n"))

    features_yml = project / "models/marts/features/_features__models.yml"
    yml = features_yml.read_text()
    anchor = "  - name: ml_account_features\n"
    columns = "".join(
        f"      - {{name: {name}, data_type: double, description: an injected leak}}\n"
        for name in LEAKS
    )
    features_yml.write_text(yml.replace(anchor, columns + "\n" + anchor))

    # a post-outcome column: declare SocialShares (training customers) as recorded after the
    # conversion
    sources = project / "models/staging/marketing/_marketing__sources.yml"
    text = sources.read_text()
    at = text.index("- name: SocialShares")
    meta_at = text.index("meta: {min: 0}", at)
    sources.write_text(
        text[:meta_at] + "meta: {min: 0, leakage_role: post_outcome}" + text[meta_at + 14 :]
    )


STATISTICAL_TESTS = [
    "test_name:single_feature_auc_below",
    "test_name:target_not_determined_by_pair",
    "test_name:missingness_does_not_predict_target",
]


@pytest.fixture(scope="module")
def leaky_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = copy_project(tmp_path_factory.mktemp("leaky") / "project")
    inject_leaks(project)
    return project


def test_lineage_layer_names_every_leaking_column_and_its_path(
    leaky_project: Path, demo_raw_dir: Path, tmp_path: Path
) -> None:
    # The statistical tests on the feature table would fail first and skip the lineage model
    # downstream of it; leave them out here to see the lineage layer on its own.
    result = run_dbt(
        ["build", "--select", "+ml_feature_lineage", "--exclude", *STATISTICAL_TESTS],
        tmp_path,
        raw_dir=demo_raw_dir,
        project_dir=leaky_project,
    )
    assert not result.ok
    guard_lines = [line for line in result.output.splitlines() if "LEAKAGE GUARD:" in line]
    for name, (_, reached) in LEAKS.items():
        column = f"ml_customer_features.{name}"
        expected = f"LEAKAGE GUARD: {column} {reached} via {column} <- "
        assert any(expected in line for line in guard_lines), (name, guard_lines)
    assert any(
        "ml_customer_features.social_shares reaches marketing.customers.SocialShares "
        "(post_outcome)" in line
        for line in guard_lines
    ), guard_lines
    statuses = result.statuses()
    lineage_test = [
        k for k in statuses if k.startswith("test.leakproof.no_rejected_rows_ml_feature")
    ]
    assert [statuses[k] for k in lineage_test] == ["fail"]
    # the honest out-of-fold encoding is allowed and still proven out of fold
    oof = [k for k in statuses if k.startswith("test.leakproof.target_encoding_is_out_of_fold")]
    assert [statuses[k] for k in oof] == ["pass"]


def test_statistical_layer_names_the_leaks_it_can_see(
    leaky_project: Path, demo_raw_dir: Path, tmp_path: Path
) -> None:
    result = run_dbt(
        ["build", "--select", "+ml_customer_features"],
        tmp_path,
        raw_dir=demo_raw_dir,
        project_dir=leaky_project,
    )
    assert not result.ok
    guard_lines = [line for line in result.output.splitlines() if "LEAKAGE GUARD:" in line]
    assert any("converted_copy alone predicts conversion" in line for line in guard_lines)
    assert any("roi_proxy alone predicts conversion" in line for line in guard_lines)
    assert any(
        "ad_spend_capped and cpa_proxy together determine conversion" in line
        for line in guard_lines
    ), guard_lines
