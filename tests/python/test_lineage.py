"""Column lineage (leakage guard, layer 2): synthetic mini-projects, then the real project."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import lineage_project as lp
from dbt_runner import run_dbt
from leakproof.lineage import (
    TABLE_COLUMNS,
    LeakageError,
    assert_no_leaks,
    check_features,
    compiled_sql_from_target,
    guard_table,
    lineage_table,
    load_target,
    trace_model,
)

# --------------------------------------------------------------------------------------------
# Value lineage and the seed document's leaks


def test_clean_feature_through_two_models_with_its_path():
    rows = lp.features(
        """
        select
            customer_id,
            ad_spend / (website_visits + 1) as cpa_v2,
            conversion
        from {{ ref('int_customers') }}
        """
    )
    assert lp.reached(rows, "cpa_v2") == {
        "marketing.customers.AdSpend",
        "marketing.customers.WebsiteVisits",
    }
    (ad_spend,) = [
        r
        for r in rows
        if r.feature == "cpa_v2"
        and r.source
        and r.source.column == "AdSpend"
        and r.dependency == "value"
    ]
    assert ad_spend.path == (
        "ml_features.cpa_v2 <- int_customers.ad_spend <- stg_customers.ad_spend"
        " <- source marketing.customers.AdSpend"
    )
    assert ad_spend.leakage_role is None
    assert check_features(rows) == []  # conversion is the declared target, customer_id the id


def test_copy_of_the_target_fails_with_the_path():
    rows = lp.features(
        "select customer_id, conversion, conversion as converted_copy"
        " from {{ ref('int_customers') }}"
    )
    violations = check_features(rows)
    assert [v.message for v in violations] == [
        "ml_features.converted_copy reaches marketing.customers.Conversion (target) via "
        "ml_features.converted_copy <- int_customers.conversion <- stg_customers.conversion"
        " <- source marketing.customers.Conversion"
    ]
    assert violations[0].kind == "leak"
    assert violations[0].leakage_role == "target"


def test_cpa_proxy_reaches_the_target():
    rows = lp.features(
        "select customer_id, ad_spend / (conversion + 1) as cpa_proxy"
        " from {{ ref('int_customers') }}"
    )
    assert lp.reached(rows, "cpa_proxy") == {
        "marketing.customers.AdSpend",
        "marketing.customers.Conversion",
    }
    assert lp.by_feature(check_features(rows)) == {"cpa_proxy": ["leak"]}


def test_roi_proxy_reaches_the_target_derived_column():
    rows = lp.features(
        "select customer_id, conversion_rate * income / ad_spend as roi_proxy,"
        " click_rate * income / ad_spend as roi_v2"
        " from (select *, website_visits / 100.0 as click_rate"
        " from {{ ref('int_customers') }}) as c"
    )
    (violation,) = check_features(rows)
    assert violation.column == "roi_proxy"
    assert violation.leakage_role == "target_derived"
    assert violation.source == "marketing.customers.ConversionRate"
    assert lp.reached(rows, "roi_v2") == {
        "marketing.customers.WebsiteVisits",
        "marketing.customers.Income",
        "marketing.customers.AdSpend",
    }


def test_naive_window_target_encoding_reaches_the_target():
    rows = lp.features(
        """
        select
            customer_id,
            avg(conversion) over (partition by campaign_channel) as channel_conversion_rate,
            count(*) over (partition by campaign_channel) as channel_customers
        from {{ ref('int_customers') }}
        """
    )
    assert lp.reached(rows, "channel_conversion_rate") == {"marketing.customers.Conversion"}
    # the partition key picks the rows the window reads: a filter
    assert "marketing.customers.CampaignChannel" in lp.reached(
        rows, "channel_conversion_rate", "filter"
    )
    assert lp.reached(rows, "channel_customers") == set()
    assert "marketing.customers.CampaignChannel" in lp.reached(rows, "channel_customers", "filter")
    assert lp.by_feature(check_features(rows)) == {"channel_conversion_rate": ["leak"]}


def test_window_order_by_the_target_is_a_filter_leak():
    rows = lp.features(
        "select customer_id, income,"
        " row_number() over (order by conversion desc) as rank_by_outcome"
        " from {{ ref('int_customers') }}"
    )
    assert lp.reached(rows, "rank_by_outcome") == set()
    assert "marketing.customers.Conversion" in lp.reached(rows, "rank_by_outcome", "filter")
    (violation,) = check_features(rows)
    assert violation.message.startswith(
        "ml_features.rank_by_outcome reaches marketing.customers.Conversion (target)"
        " through a filter via ml_features.rank_by_outcome <- (filter) int_customers.conversion"
    )


def test_target_encoding_joined_from_an_aggregate_cte_is_caught():
    rows = lp.features(
        """
        with

        customers as (
            select * from {{ ref('int_customers') }}
        ),

        channel_rates as (
            select campaign_channel, avg(conversion) as conversion_rate_of_channel
            from customers
            group by campaign_channel
        )

        select
            c.customer_id,
            c.income as customer_income,
            r.conversion_rate_of_channel as channel_rate
        from customers as c
        left join channel_rates as r
            on c.campaign_channel = r.campaign_channel
        """
    )
    assert lp.reached(rows, "customer_income") == {"marketing.customers.Income"}
    assert lp.reached(rows, "channel_rate") == {"marketing.customers.Conversion"}
    # the join key and the group-by key are filters, recorded but not value lineage
    assert "marketing.customers.CampaignChannel" in lp.reached(rows, "channel_rate", "filter")
    assert lp.by_feature(check_features(rows)) == {"channel_rate": ["leak"]}


def test_scalar_subquery_over_the_target_is_caught():
    rows = lp.features(
        "select customer_id,"
        " income / (select avg(conversion) from {{ ref('int_customers') }}) as income_per_rate"
        " from {{ ref('int_customers') }}"
    )
    assert "marketing.customers.Conversion" in lp.reached(rows, "income_per_rate")


def test_post_outcome_column_fails():
    rows = lp.features(
        "select customer_id, cast(refunded_after_30d as integer) as was_refunded"
        " from {{ ref('int_customers') }}"
    )
    (violation,) = check_features(rows)
    assert violation.message.startswith(
        "ml_features.was_refunded reaches marketing.customers.RefundedAfter30d (post_outcome) via"
    )


def test_case_condition_is_value_lineage():
    rows = lp.features(
        """
        select
            customer_id,
            case when conversion = 1 then 'converted' else income::varchar end as segment,
            case when income > 50000 then 'high' else 'low' end as income_band
        from {{ ref('int_customers') }}
        """
    )
    assert lp.reached(rows, "segment") == {
        "marketing.customers.Conversion",
        "marketing.customers.Income",
    }
    assert lp.reached(rows, "income_band") == {"marketing.customers.Income"}
    assert lp.by_feature(check_features(rows)) == {"segment": ["leak"]}


def test_coalesce_and_casts_and_lateral_alias():
    rows = lp.features(
        """
        select
            customer_id,
            coalesce(income, ad_spend * 2)::double as income_or_spend,
            income_or_spend + website_visits as combined
        from {{ ref('int_customers') }}
        """
    )
    assert lp.reached(rows, "income_or_spend") == {
        "marketing.customers.Income",
        "marketing.customers.AdSpend",
    }
    assert lp.reached(rows, "combined") == {
        "marketing.customers.Income",
        "marketing.customers.AdSpend",
        "marketing.customers.WebsiteVisits",
    }


# --------------------------------------------------------------------------------------------
# Filters


def test_where_on_the_target_is_a_filter_leak_of_every_column():
    rows = lp.features(
        """
        select customer_id, income
        from {{ ref('int_customers') }}
        where conversion = 1 and refunded_after_30d is not true
        """
    )
    assert lp.reached(rows, "income") == {"marketing.customers.Income"}
    assert {
        "marketing.customers.Conversion",
        "marketing.customers.RefundedAfter30d",
        "marketing.customers.CustomerID",  # int_customers' own where
    } <= lp.reached(rows, "income", "filter")
    violations = check_features(rows)
    assert sorted((v.column, v.source) for v in violations) == [
        ("income", "marketing.customers.Conversion"),
        ("income", "marketing.customers.RefundedAfter30d"),
    ]
    table = lineage_table(rows)
    conversion = table[(table.feature == "income") & (table.source_column == "Conversion")]
    assert conversion[["dependency", "status", "leakage_role", "reason"]].values.tolist() == [
        ["filter", "leak", "target", "filter reaches a target column"]
    ]
    assert conversion.path.iloc[0] == (
        "ml_features.income <- (filter) int_customers.conversion <- stg_customers.conversion"
        " <- source marketing.customers.Conversion"
    )


def test_group_by_key_is_a_filter_for_the_aggregate():
    rows = lp.features(
        """
        select campaign_channel, avg(income) as mean_income, count(*) as customers
        from {{ ref('int_customers') }}
        group by all
        """
    )
    assert lp.reached(rows, "campaign_channel") == {"marketing.customers.CampaignChannel"}
    assert lp.reached(rows, "mean_income") == {"marketing.customers.Income"}
    assert lp.reached(rows, "customers") == set()
    assert "marketing.customers.CampaignChannel" in lp.reached(rows, "mean_income", "filter")
    assert check_features(rows) == []


def test_grouping_by_the_target_is_a_filter_leak():
    rows = lp.features(
        """
        select campaign_channel, count(*) as customers
        from {{ ref('int_customers') }}
        group by campaign_channel, conversion
        """,
        {"campaign_channel": {"feature_role": "identifier"}},
    )
    assert lp.by_feature(check_features(rows)) == {"customers": ["leak"]}


# --------------------------------------------------------------------------------------------
# Stars, unions, joins, Python models: resolve or fail closed


def test_select_star_over_a_traced_upstream_resolves():
    rows = lp.features(
        "with features as (select customer_id, income, campaign_channel, conversion"
        " from {{ ref('int_customers') }}) select * from features"
    )
    assert [r.feature for r in rows if r.dependency == "value" and r.source] == [
        "customer_id",
        "income",
        "campaign_channel",
        "conversion",
    ]
    assert lp.reached(rows, "income") == {"marketing.customers.Income"}
    assert check_features(rows) == []


def test_a_cte_column_list_renames_by_position():
    rows = lp.features(
        """
        with renamed(id, amount, rate) as (
            select customer_id, income, conversion_rate from {{ ref('int_customers') }}
        )
        select id as customer_id, amount, rate from renamed
        """
    )
    assert lp.reached(rows, "amount") == {"marketing.customers.Income"}
    assert lp.reached(rows, "rate") == {"marketing.customers.ConversionRate"}
    assert lp.by_feature(check_features(rows)) == {"rate": ["leak"]}


def test_grouping_sets_lateral_and_recursive_ctes():
    rows = lp.features(
        "select campaign_channel, count(*) as customers from {{ ref('int_customers') }}"
        " group by rollup (campaign_channel, conversion)",
        {"campaign_channel": {"feature_role": "identifier"}},
    )
    assert lp.by_feature(check_features(rows)) == {"customers": ["leak"]}
    rows = lp.features(
        "select c.customer_id, c.income, l.doubled from {{ ref('int_customers') }} as c,"
        " lateral (select c.income * 2 as doubled) as l"
    )
    violations = check_features(rows)
    assert {(v.column, v.kind) for v in violations} == {
        ("income", "unresolved"),
        ("doubled", "unresolved"),
    }
    assert any("a LATERAL join is not traced" in v.message for v in violations)
    rows = lp.features(
        "with recursive r(n) as (select 1 union all select n + 1 from r where n < 3)"
        " select c.customer_id, c.income, r.n from {{ ref('int_customers') }} as c cross join r"
    )
    violations = check_features(rows)
    assert {v.column for v in violations} == {"income", "n"}
    assert {v.kind for v in violations} == {"unresolved"}
    assert any("a recursive CTE is not traced" in v.message for v in violations)


def test_select_star_over_an_unknown_relation_fails_closed():
    sql = 'select * from "lp"."other"."mystery_table"'
    rows = lp.features(sql)
    (violation,) = check_features(rows)
    assert violation.kind == "unresolved"
    assert violation.column == "*"
    assert '"lp"."other"."mystery_table" is not a model, seed or source' in violation.message


def test_named_column_of_an_unknown_relation_fails_closed_unless_allow_listed():
    sql = 'select m.customer_id, m.score from "lp"."other"."mystery_table" as m'
    rows = lp.features(sql)
    assert lp.by_feature(check_features(rows)) == {"score": ["unresolved"]}

    allowed = lp.features(
        sql, {"score": {"leakage_allow": "vendor score, computed before the campaign"}}
    )
    assert check_features(allowed) == []
    table = lineage_table(allowed)
    score = table[table.feature == "score"]
    assert score[["status", "reason"]].values.tolist() == [
        ["allowed", "vendor score, computed before the campaign"]
    ]


def test_allow_list_needs_a_reason():
    rows = lp.features(
        "select customer_id, conversion as label_copy from {{ ref('int_customers') }}",
        {"label_copy": {"leakage_allow": " "}},
    )
    assert sorted(v.kind for v in check_features(rows)) == ["invalid_meta", "leak"]
    # an explicit allow list (model, column) -> reason overrides the yml
    assert check_features(rows, {("ml_features", "label_copy"): "audit scenario A"}) == []


def test_unknown_feature_role_is_reported_and_checked_as_a_feature():
    rows = lp.features(
        "select customer_id, conversion as outcome from {{ ref('int_customers') }}",
        {"outcome": {"feature_role": "tagret"}},
    )
    assert sorted(v.kind for v in check_features(rows)) == ["invalid_meta", "leak"]


def test_python_model_upstream_is_unresolved():
    scores = lp.model("ml_vendor_scores", None, {"customer_id": {}, "score": {}}, language="python")
    rows = lp.features(
        """
        select c.customer_id, c.income, s.score
        from {{ ref('int_customers') }} as c
        inner join {{ ref('ml_vendor_scores') }} as s
            on c.customer_id = s.customer_id
        """,
        None,
        scores,
    )
    violations = {v.column: v for v in check_features(rows)}
    # the inner join lets the Python model's rows decide which customers exist
    assert sorted(violations) == ["income", "score"]
    assert "ml_vendor_scores is a python model" in violations["score"].message
    assert violations["score"].path == "ml_features.score <- ml_vendor_scores.score"
    assert violations["income"].path == (
        "ml_features.income <- (filter) ml_vendor_scores.customer_id"
    )


def test_select_star_over_a_python_model_fails_closed():
    scores = lp.model("ml_vendor_scores", None, {"customer_id": {}, "score": {}}, language="python")
    rows = lp.features("select * from {{ ref('ml_vendor_scores') }}", None, scores)
    kinds = lp.by_feature(check_features(rows))
    # declared columns are listed, but a Python model's declaration is not a contract
    assert kinds == {"score": ["unresolved"], "*": ["unresolved"]}


def test_feature_table_that_is_a_python_model_is_unresolved():
    project = lp.project(None, {"score": {}}, language="python")
    rows = trace_model(project, "ml_features")
    assert {v.column for v in check_features(rows)} == {"score", "*"}


def test_union_reaches_both_branches():
    other = lp.model(
        "stg_partner_customers",
        "select 1::bigint as customer_id, 10.0 as income, 0 as conversion",
    )
    rows = lp.features(
        """
        with

        ours as (
            select customer_id, income, conversion as label from {{ ref('int_customers') }}
        ),

        partners as (
            select customer_id, income * 1.1 as income, ad_spend as label
            from {{ ref('int_customers') }}
        ),

        final as (
            select * from ours
            union all
            select * from partners
        )

        select * from final
        """,
        None,
        other,
    )
    assert lp.reached(rows, "income") == {"marketing.customers.Income"}
    assert lp.reached(rows, "label") == {
        "marketing.customers.Conversion",
        "marketing.customers.AdSpend",
    }
    assert lp.by_feature(check_features(rows)) == {"label": ["leak"]}


def test_union_positions_not_names():
    rows = lp.features(
        """
        select customer_id, income as amount from {{ ref('int_customers') }}
        union all
        select customer_id, conversion_rate from {{ ref('int_customers') }}
        """
    )
    assert lp.reached(rows, "amount") == {
        "marketing.customers.Income",
        "marketing.customers.ConversionRate",
    }
    assert lp.by_feature(check_features(rows)) == {"amount": ["leak"]}


def test_join_with_aliases_and_table_star():
    rows = lp.features(
        """
        select
            a.*,
            b.ad_spend as peer_spend
        from (select customer_id, income from {{ ref('int_customers') }}) as a
        left join {{ ref('stg_customers') }} as b
            on a.customer_id = b.customer_id + 1
        """
    )
    assert lp.reached(rows, "income") == {"marketing.customers.Income"}
    assert lp.reached(rows, "peer_spend") == {"marketing.customers.AdSpend"}
    (path,) = [r.path for r in rows if r.feature == "peer_spend" and r.dependency == "value"]
    assert (
        path
        == "ml_features.peer_spend <- stg_customers.ad_spend <- source marketing.customers.AdSpend"
    )
    assert check_features(rows) == []


def test_ambiguous_unqualified_column_fails_closed():
    rows = lp.features(
        """
        select a.customer_id, income
        from {{ ref('int_customers') }} as a
        inner join {{ ref('stg_customers') }} as b
            on a.customer_id = b.customer_id
        """
    )
    (violation,) = check_features(rows)
    assert violation.kind == "unresolved"
    assert "cannot tell which of a, b column income comes from" in violation.message


def test_sql_sqlglot_cannot_parse_fails_closed():
    rows = lp.features("select customer_id, (income from {{ ref('int_customers') }}")
    assert {v.column for v in check_features(rows)} == {"*"}
    assert "sqlglot cannot parse ml_features" in check_features(rows)[0].message


def test_undeclared_source_column_is_unresolved():
    rows = lp.features(
        "with s as (select * from {{ source('marketing', 'customers') }})"
        ' select "CustomerID" as customer_id, "Secret" as secret from s'
    )
    (violation,) = check_features(rows)
    assert violation.column == "secret"
    assert "source marketing.customers.secret is not declared in yml" in violation.message


def test_contracted_model_declaration_closes_a_star():
    contracted = lp.model(
        "int_contracted",
        'select * from "lp"."other"."mystery_table"',
        {"customer_id": {}, "income": {}},
        contract=True,
    )
    rows = lp.features("select * from {{ ref('int_contracted') }}", None, contracted)
    assert sorted({r.feature for r in rows}) == ["customer_id", "income"]  # no '*' row
    assert lp.by_feature(check_features(rows)) == {"income": ["unresolved"]}


# --------------------------------------------------------------------------------------------
# Table, error, loading


def test_lineage_table_one_row_per_feature_and_source_column():
    rows = lp.features(
        """
        select
            customer_id,
            conversion,
            ad_spend / (conversion + 1) as cpa_proxy,
            42 as constant_feature
        from {{ ref('int_customers') }}
        where conversion is not null
        """
    )
    table = lineage_table(rows)
    assert list(table.columns) == TABLE_COLUMNS
    assert not table.duplicated(["model", "feature", "source_table", "source_column"]).any()

    cpa = table[(table.feature == "cpa_proxy") & (table.dependency == "value")]
    assert cpa.source_column.tolist() == ["AdSpend", "Conversion"]
    assert cpa.leakage_role.fillna("").tolist() == ["", "target"]
    assert cpa.status.tolist() == ["clean", "leak"]
    # cpa_proxy also reaches Conversion through the where: the value row wins
    assert len(table[(table.feature == "cpa_proxy") & (table.source_column == "Conversion")]) == 1

    constant = table[(table.feature == "constant_feature") & (table.dependency == "value")]
    assert constant.source_column.isna().tolist() == [True]
    assert constant[["status", "path"]].values.tolist() == [
        ["clean", "ml_features.constant_feature"]
    ]
    assert set(table[table.feature == "conversion"].status) == {"not_a_feature"}
    assert set(table[table.feature == "customer_id"].feature_role) == {"identifier"}


def test_assert_no_leaks_raises_with_one_line_per_violation():
    rows = lp.features(
        "select customer_id, conversion as a, conversion_rate as b from {{ ref('int_customers') }}"
    )
    violations = check_features(rows)
    with pytest.raises(LeakageError) as raised:
        assert_no_leaks(violations)
    lines = str(raised.value).splitlines()
    assert lines[0] == "leakage guard: 2 feature column problem(s)"
    assert lines[1:] == [v.message for v in violations]
    assert raised.value.violations == violations
    assert_no_leaks([])  # nothing to raise


def test_compiled_sql_from_target_reads_the_compiled_files(tmp_path: Path):
    project = lp.project("select customer_id, income from {{ ref('int_customers') }}")
    manifest = {
        "nodes": {
            "model.lp.ml_features": {
                "resource_type": "model",
                "package_name": "lp",
                "language": "sql",
                "original_file_path": "models/ml/ml_features.sql",
            },
            "model.lp.py_model": {
                "resource_type": "model",
                "package_name": "lp",
                "language": "python",
                "original_file_path": "models/ml/py_model.py",
            },
        }
    }
    compiled = tmp_path / "compiled" / "lp" / "models" / "ml" / "ml_features.sql"
    compiled.parent.mkdir(parents=True)
    compiled.write_text("select 1 as one")
    assert compiled_sql_from_target(tmp_path, manifest) == {
        "model.lp.ml_features": "select 1 as one"
    }
    assert project.resolve("ml_features").unique_id == "model.lp.ml_features"


def test_correlated_subquery_target_encoding_is_caught():
    rows = lp.features(
        """
        select
            c.customer_id,
            (
                select avg(o.conversion)
                from {{ ref('int_customers') }} as o
                where o.campaign_channel = c.campaign_channel
            ) as channel_rate
        from {{ ref('int_customers') }} as c
        """
    )
    assert "marketing.customers.Conversion" in lp.reached(rows, "channel_rate")
    assert lp.by_feature(check_features(rows)) == {"channel_rate": ["leak"]}


def test_except_right_side_decides_the_rows():
    rows = lp.features(
        """
        select customer_id, income from {{ ref('int_customers') }}
        except
        select customer_id, conversion_rate from {{ ref('int_customers') }}
        """
    )
    assert lp.reached(rows, "income") == {"marketing.customers.Income"}
    assert "marketing.customers.ConversionRate" in lp.reached(rows, "income", "filter")
    assert lp.by_feature(check_features(rows)) == {"income": ["leak"]}


def test_relation_names_match_as_written_not_by_bare_name():
    rows = lp.features(
        'select s.customer_id, s.income from "elsewhere"."main"."stg_customers" as s'
    )
    assert lp.by_feature(check_features(rows)) == {"income": ["unresolved"]}
    rows = lp.features("select s.customer_id, s.income from main.stg_customers as s")
    assert lp.reached(rows, "income") == {"marketing.customers.Income"}


# --------------------------------------------------------------------------------------------
# The real project, compiled by dbt into a scratch target


@pytest.fixture(scope="session")
def compiled_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    result = run_dbt(["compile"], tmp_path_factory.mktemp("lineage"))
    assert result.ok, result.output[-3000:]
    return result.target_path


@pytest.mark.dbt
def test_real_project_prepared_rows(compiled_project: Path):
    started = time.perf_counter()
    project = load_target(compiled_project)
    rows = trace_model(project, "int_marketing__prepared") + trace_model(
        project, "int_b2b__prepared"
    )
    elapsed = time.perf_counter() - started
    assert elapsed < 5, f"lineage of two models took {elapsed:.1f}s"

    assert "marketing.customers.ClickThroughRate" in lp.reached(rows, "click_through_rate")
    assert "marketing.customers.ClickThroughRate" in lp.reached(
        rows, "is_click_through_rate_imputed"
    )
    assert lp.reached(rows, "conversion") == {"marketing.customers.Conversion"}
    assert lp.reached(rows, "conversion_rate") == {"marketing.customers.ConversionRate"}
    # one source per use case: the labelled file and the scoring batch are both its rows
    assert lp.reached(rows, "ad_spend_capped") == {"marketing.customers.AdSpend"}
    # the stratified split is computed from the target (partition by conversion); it is a
    # declared mechanism, so lineage stops there, and the imputation medians (from split = 'train'
    # rows) reach it through a filter
    assert "marketing.customers.Conversion" not in lp.reached(rows, "click_through_rate", "filter")
    assert "through declared mechanism int_marketing__split.split" in {
        str(r.reason).split(":")[0]
        for r in _table_rows(rows, "int_marketing__prepared", "click_through_rate")
    }
    split_rows = _table_rows(rows, "int_b2b__prepared", "split")
    assert {r.status for r in split_rows} == {"clean"}
    assert any(
        str(r.reason).startswith("through declared mechanism int_b2b__split.split")
        for r in split_rows
    )

    (path,) = [
        r.path
        for r in rows
        if r.feature == "conversion"
        and r.model == "int_marketing__prepared"
        and r.dependency == "value"
    ]
    assert path == (
        "int_marketing__prepared.conversion <- stg_marketing__rows.conversion"
        " <- base_marketing__validated.conversion"
        " <- source marketing.customers.Conversion"
    )
    leaks = {(v.model, v.column, v.leakage_role) for v in check_features(rows)}
    # an intermediate model is not a feature table: its target columns are undeclared
    assert leaks == {
        ("int_marketing__prepared", "conversion", "target"),
        ("int_marketing__prepared", "conversion_rate", "target_derived"),
        ("int_marketing__prepared", "is_labelled", "target"),
        ("int_b2b__prepared", "response_flag", "target"),
        ("int_b2b__prepared", "is_labelled", "target"),
    }
    assert not any(r.unresolved for r in rows)


def _table_rows(rows, model: str, feature: str) -> list:
    table = lineage_table(rows)
    return list(table[(table.model == model) & (table.feature == feature)].itertuples())


@pytest.mark.dbt
def test_real_feature_tables_pass_with_their_declared_mechanisms(compiled_project: Path):
    project = load_target(compiled_project)
    table = guard_table(project, ["ml_marketing_features", "ml_b2b_features"])
    assert table[table.status.isin(["leak", "unresolved"])].empty
    features = table[table.feature_role == "feature"]
    assert features.groupby("model").feature.nunique().to_dict() == {
        "ml_b2b_features": 13,
        "ml_marketing_features": 38,
    }
    assert set(features.status) == {"clean", "allowed"}
    assert set(features.loc[features.status == "allowed", "feature"]) == {
        "channel_conversion_rate_oof"
    }
    # every marketing feature's rows pass the quarantine filter, the duplicate collapse and the
    # split; the stops are recorded with their reasons
    income = features[(features.model == "ml_marketing_features") & (features.feature == "income")]
    stops = sorted(r.split(":")[0] for r in income.reason.dropna())
    assert stops == [
        "through declared mechanism base_marketing__validated.quarantine_reasons",
        "through declared row mechanism base_marketing__validated rows",
    ]
    # an imputed feature also passes the split: its medians come from training rows
    imputed = features[
        (features.model == "ml_marketing_features") & (features.feature == "click_through_rate")
    ]
    assert "through declared mechanism int_marketing__split.split" in {
        r.split(":")[0] for r in imputed.reason.dropna()
    }
    oof = features[features.feature == "channel_conversion_rate_oof"]
    assert "through declared mechanism int_marketing__split.cv_fold" in set(
        oof.reason.str.split(":").str[0]
    )
