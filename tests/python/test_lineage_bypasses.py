"""Every known way around column lineage fails, naming its column (one planted leak per fixture,
next to a clean feature that must pass); declared mechanisms and allow-listed features pass."""

from __future__ import annotations

import pytest

import lineage_project as lp
from leakproof.lineage import check_features, lineage_table

CUSTOMERS = "with customers as (select * from {{ ref('int_customers') }})"


def _joined_back(statistic_cte: str, column: str, feature: str) -> str:
    """A feature table taking `column` from `statistic_cte` (one row per campaign_channel),
    left-joined back to every customer, beside the clean feature income."""
    return f"""
        {CUSTOMERS},
        statistic as ({statistic_cte})
        select c.customer_id, c.income, s.{column} as {feature}
        from customers as c
        left join statistic as s
            on c.campaign_channel = s.campaign_channel
    """


# name: (feature table SQL, the leaking feature, the column it must name, leak | unresolved)
BYPASSES = {
    "where filter CTE joined back": (
        _joined_back(
            "select campaign_channel, count(*) as converters from customers"
            " where conversion = 1 group by campaign_channel",
            "converters",
            "channel_converters",
        ),
        "channel_converters",
        "Conversion",
    ),
    "join on the target": (
        _joined_back(
            "select c.campaign_channel, count(o.customer_id) as converted_peers"
            " from customers as c inner join customers as o"
            " on o.campaign_channel = c.campaign_channel and o.conversion = 1"
            " group by c.campaign_channel",
            "converted_peers",
            "channel_converted_peers",
        ),
        "channel_converted_peers",
        "Conversion",
    ),
    "having": (
        _joined_back(
            "select campaign_channel, avg(ad_spend) as spend from customers"
            " group by campaign_channel having sum(conversion) > 0",
            "spend",
            "spend_of_converting_channels",
        ),
        "spend_of_converting_channels",
        "Conversion",
    ),
    "qualify": (
        _joined_back(
            "select campaign_channel, avg(ad_spend) as spend from customers"
            " group by campaign_channel qualify rank() over (order by avg(conversion) desc) <= 2",
            "spend",
            "spend_of_top_channels",
        ),
        "spend_of_top_channels",
        "Conversion",
    ),
    "order by + limit": (
        f"""
        {CUSTOMERS},
        top as (
            select avg(ad_spend) as spend
            from (select ad_spend from customers order by conversion desc limit 100)
        )
        select c.customer_id, c.income, top.spend as spend_of_top_100
        from customers as c
        cross join top
        """,
        "spend_of_top_100",
        "Conversion",
    ),
    "window partition by the target": (
        "select customer_id, income,"
        " avg(ad_spend) over (partition by conversion) as spend_by_outcome"
        " from {{ ref('int_customers') }}",
        "spend_by_outcome",
        "Conversion",
    ),
    "window order by the target": (
        "select customer_id, income,"
        " lag(ad_spend) over (order by conversion, customer_id) as previous_spend"
        " from {{ ref('int_customers') }}",
        "previous_spend",
        "Conversion",
    ),
    "exists subquery": (
        """
        select
            c.customer_id,
            c.income,
            exists (
                select 1 from {{ ref('int_customers') }} as o
                where o.campaign_channel = c.campaign_channel and o.conversion = 1
            ) as channel_has_converters
        from {{ ref('int_customers') }} as c
        """,
        "channel_has_converters",
        "Conversion",
    ),
    "in subquery": (
        """
        select
            customer_id,
            income,
            campaign_channel in (
                select campaign_channel from {{ ref('int_customers') }} where conversion = 1
            ) as is_converting_channel
        from {{ ref('int_customers') }}
        """,
        "is_converting_channel",
        "Conversion",
    ),
    "scalar subquery": (
        """
        select
            customer_id,
            income,
            income / (
                select avg(income) from {{ ref('int_customers') }} where conversion = 1
            ) as income_vs_converters
        from {{ ref('int_customers') }}
        """,
        "income_vs_converters",
        "Conversion",
    ),
    "except": (
        _joined_back(
            "select campaign_channel, count(*) as non_converters from ("
            " select customer_id, campaign_channel from customers"
            " except select customer_id, campaign_channel from customers where conversion = 1"
            ") group by campaign_channel",
            "non_converters",
            "channel_non_converters",
        ),
        "channel_non_converters",
        "Conversion",
    ),
    "intersect": (
        _joined_back(
            "select campaign_channel, count(*) as refunded from ("
            " select customer_id, campaign_channel from customers"
            " intersect select customer_id, campaign_channel from customers"
            " where refunded_after_30d"
            ") group by campaign_channel",
            "refunded",
            "channel_refunds",
        ),
        "channel_refunds",
        "RefundedAfter30d",
    ),
    "union of a target-filtered branch": (
        _joined_back(
            "select campaign_channel, count(*) as weighted_customers from ("
            " select customer_id, campaign_channel from customers"
            " union all select customer_id, campaign_channel from customers where conversion = 1"
            ") group by campaign_channel",
            "weighted_customers",
            "channel_weighted_customers",
        ),
        "channel_weighted_customers",
        "Conversion",
    ),
}


@pytest.mark.parametrize("name", list(BYPASSES))
def test_each_bypass_fails_naming_its_column(name: str) -> None:
    sql, feature, column = BYPASSES[name]
    rows = lp.features(sql)
    violations = check_features(rows)
    assert {v.column for v in violations} == {feature}, [v.message for v in violations]
    assert {v.kind for v in violations} == {"leak"}
    assert f"marketing.customers.{column}" in {v.source for v in violations}
    message = next(v.message for v in violations if v.source.endswith(f".{column}"))
    assert message.startswith(f"ml_features.{feature} reaches marketing.customers.{column} (")
    assert " through a filter via " in message
    # the clean feature beside it passes, with its own lineage
    assert lp.reached(rows, "income") == {"marketing.customers.Income"}


UNTRACEABLE = {
    "COLUMNS()": (
        "select customer_id, income, columns('^conversion_rat.$') from {{ ref('int_customers') }}",
        {"conversion_rate": {}},
        {"conversion_rate", "*"},
        "COLUMNS(...) is not traced",
    ),
    "star EXCLUDE": (
        "with base as (select customer_id, income, ad_spend, conversion_rate"
        " from {{ ref('int_customers') }})"
        " select b.* exclude (income), b.income from base as b",
        None,
        {"ad_spend", "conversion_rate"},
        "* EXCEPT is not traced",
    ),
    "star REPLACE": (
        "with base as (select customer_id, income, ad_spend, conversion_rate"
        " from {{ ref('int_customers') }})"
        " select b.customer_id, b.income, b.* exclude (customer_id, income, conversion_rate)"
        " replace (b.conversion_rate as ad_spend) from base as b",
        None,
        {"ad_spend"},
        "* EXCEPT, REPLACE is not traced",
    ),
    "star RENAME": (
        "with base as (select customer_id, income, conversion_rate"
        " from {{ ref('int_customers') }})"
        " select b.customer_id, b.income, b.* exclude (customer_id, income)"
        " rename (conversion_rate as rate) from base as b",
        {"rate": {}},
        {"rate"},
        "* EXCEPT, RENAME is not traced",
    ),
    "unnest": (
        "select customer_id, income, unnest([conversion, 0]) as outcome_or_zero"
        " from {{ ref('int_customers') }}",
        None,
        {"outcome_or_zero"},
        "EXPLODE(...) is not traced",
    ),
    "lambda capturing a column": (
        "select customer_id, income,"
        " list_transform([1, 2], lambda x: x * conversion) as scaled"
        " from {{ ref('int_customers') }}",
        None,
        {"scaled"},
        "a lambda capturing column conversion",
    ),
    "unknown function": (
        "select customer_id, income, getvariable('top_channel') = campaign_channel as is_top"
        " from {{ ref('int_customers') }}",
        None,
        {"is_top"},
        "function getvariable() is not a DuckDB built-in lineage knows",
    ),
    "pivot": (
        "with pivoted as (pivot (select customer_id, campaign_channel, conversion"
        " from {{ ref('int_customers') }}) on campaign_channel using max(conversion))"
        " select customer_id, email as email_outcome from pivoted",
        None,
        {"email_outcome"},
        "is not traced",
    ),
}


@pytest.mark.parametrize("name", list(UNTRACEABLE))
def test_what_lineage_cannot_trace_is_unresolved(name: str) -> None:
    sql, columns, named, reason = UNTRACEABLE[name]
    rows = lp.features(sql, columns)
    violations = check_features(rows)
    assert {v.column for v in violations} == named, [v.message for v in violations]
    unresolved = [v for v in violations if v.kind == "unresolved"]
    assert {v.column for v in unresolved} == named
    assert all(reason in v.message for v in unresolved), [v.message for v in unresolved]
    # what can still be traced is reported too (the unnest of a list holding the target)
    assert {v.kind for v in violations} <= {"unresolved", "leak"}
    assert lp.reached(rows, "income") in ({"marketing.customers.Income"}, set())


def test_a_left_join_that_may_repeat_rows_taints_every_column() -> None:
    # the joined side is not grouped on the join key: how often a customer repeats depends on it
    rows = lp.features(
        f"""
        {CUSTOMERS},
        converters as (select campaign_channel, customer_id from customers where conversion = 1)
        select c.customer_id, c.income, v.customer_id is not null as converted_peer
        from customers as c
        left join converters as v
            on c.campaign_channel = v.campaign_channel
        """
    )
    assert lp.by_feature(check_features(rows)) == {
        "income": ["leak"],
        "converted_peer": ["leak"],
    }


def test_distinct_over_the_target_picks_rows() -> None:
    rows = lp.features(
        """
        select distinct customer_id, income, refunded_after_30d and false as never
        from {{ ref('int_customers') }}
        """,
        {"never": {}},
    )
    assert lp.by_feature(check_features(rows)) == {"income": ["leak"], "never": ["leak"]}


def test_lineage_table_marks_filter_leaks() -> None:
    sql, feature, column = BYPASSES["where filter CTE joined back"]
    table = lineage_table(lp.features(sql))
    leak = table[(table.feature == feature) & (table.status == "leak")]
    assert leak[["source_column", "dependency", "reason"]].values.tolist() == [
        [column, "filter", "filter reaches a target column"]
    ]
    assert set(table.loc[table.feature == "income", "status"]) == {"clean"}


def test_a_statistic_model_joined_back_on_its_key_taints_only_its_column() -> None:
    rates = lp.model(
        "int_channel_converters",
        "select campaign_channel, count(*) as converters from {{ ref('int_customers') }}"
        " where conversion = 1 group by campaign_channel",
    )
    rows = lp.features(
        """
        with

        customers as (select * from {{ ref('int_customers') }}),

        converters as (select * from {{ ref('int_channel_converters') }})

        select c.customer_id, c.income, v.converters as channel_converters
        from customers as c
        left join converters as v
            on c.campaign_channel = v.campaign_channel
        """,
        None,
        rates,
    )
    (violation,) = check_features(rows)
    assert violation.column == "channel_converters"
    assert violation.message.endswith(
        "via ml_features.channel_converters <- (filter) int_channel_converters rows"
        " <- (filter) int_customers.conversion <- stg_customers.conversion"
        " <- source marketing.customers.Conversion"
    )


def test_a_lambda_over_its_own_variables_is_traced() -> None:
    rows = lp.features(
        "select customer_id, list_filter([income, ad_spend], lambda x: x > 0) as positives"
        " from {{ ref('int_customers') }}"
    )
    assert lp.reached(rows, "positives") == {
        "marketing.customers.Income",
        "marketing.customers.AdSpend",
    }
    assert check_features(rows) == []


def test_names_under_a_column_list_are_not_trusted_for_uniqueness() -> None:
    # the column list swaps the names: the side is unique on what it now calls `converters`
    rows = lp.features(
        f"""
        {CUSTOMERS},
        statistic(campaign_channel, converters) as (
            select count(*), campaign_channel from customers
            where conversion = 1 group by campaign_channel
        )
        select c.customer_id, c.income, s.converters as channel_name
        from customers as c
        left join statistic as s
            on c.campaign_channel = s.campaign_channel
        """
    )
    assert lp.by_feature(check_features(rows)) == {"income": ["leak"], "channel_name": ["leak"]}
