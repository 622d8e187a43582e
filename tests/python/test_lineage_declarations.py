"""What a project declares to the lineage guard: mechanisms lineage stops at, allow-listed
features, and models allowed to query at compile time - each honoured only with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest

import lineage_project as lp
from dbt_runner import run_dbt
from leakproof.lineage import check_features, feature_lineage_from_target, lineage_table

SPLIT = """
select
    *,
    case
        when row_number() over (partition by conversion order by hash(customer_id)) % 5 = 0
            then 'test'
        else 'train'
    end as split
from {{ ref('int_customers') }}
"""

TRAINING_STATISTIC = """
with

customers as (select * from {{ ref('int_split') }}),

training as (
    select campaign_channel, avg(ad_spend) as spend
    from customers
    where split = 'train'
    group by campaign_channel
)

select c.customer_id, c.income, t.spend as channel_training_spend
from customers as c
left join training as t
    on c.campaign_channel = t.campaign_channel
"""

SPLIT_REASON = "seeded train / test assignment stratified by the target"


def _split_model(mechanisms: object = None) -> dict:
    meta = {} if mechanisms is None else {"leakage_mechanisms": mechanisms}
    return lp.model("int_split", SPLIT, meta=meta)


def test_a_filter_on_an_undeclared_split_is_a_leak() -> None:
    rows = lp.features(TRAINING_STATISTIC, None, _split_model())
    (violation,) = check_features(rows)
    assert violation.column == "channel_training_spend"
    assert violation.message == (
        "ml_features.channel_training_spend reaches marketing.customers.Conversion (target)"
        " through a filter via ml_features.channel_training_spend <- (filter) int_split.split"
        " <- (filter) int_customers.conversion <- stg_customers.conversion"
        " <- source marketing.customers.Conversion"
    )


def test_a_declared_split_mechanism_is_where_lineage_stops() -> None:
    rows = lp.features(TRAINING_STATISTIC, None, _split_model({"split": SPLIT_REASON}))
    assert check_features(rows) == []
    table = lineage_table(rows)
    stop = table[(table.feature == "channel_training_spend") & table.source_column.isna()]
    assert stop[["dependency", "status", "reason", "path"]].values.tolist() == [
        [
            "filter",
            "clean",
            f"through declared mechanism int_split.split: {SPLIT_REASON}",
            "ml_features.channel_training_spend <- (filter) int_split.split",
        ]
    ]
    # a copy of the target next to it still fails: the mechanism covers the split alone
    leaky = TRAINING_STATISTIC.replace("c.income,", "c.income, c.conversion as label_copy,")
    rows = lp.features(leaky, None, _split_model({"split": SPLIT_REASON}))
    assert lp.by_feature(check_features(rows)) == {"label_copy": ["leak"]}


def test_a_mechanism_without_a_reason_is_a_violation_and_not_honoured() -> None:
    rows = lp.features(TRAINING_STATISTIC, None, _split_model({"split": "  "}))
    violations = check_features(rows)
    assert sorted((v.column, v.kind) for v in violations) == [
        ("*", "invalid_meta"),
        ("channel_training_spend", "leak"),
    ]
    invalid = next(v for v in violations if v.kind == "invalid_meta")
    assert invalid.message == (
        "ml_features.*: int_split config meta leakage_mechanisms.split:"
        " leakage_mechanisms.split must give a reason (got '  ')"
    )


def test_a_mechanism_on_a_column_the_model_lacks_is_a_violation() -> None:
    rows = lp.features(TRAINING_STATISTIC, None, _split_model({"fold": SPLIT_REASON}))
    assert sorted((v.column, v.kind) for v in check_features(rows)) == [
        ("*", "invalid_meta"),
        ("channel_training_spend", "leak"),
    ]
    assert any("int_split has no column fold" in v.message for v in check_features(rows))


FOLDS = """
with

customers as (select * from {{ ref('int_customers') }}),

customers_with_folds as (
    select
        *,
        row_number() over (partition by conversion order by hash(customer_id)) % 5 as cv_fold
    from customers
),

by_fold as (
    select cv_fold, avg(ad_spend) as fold_spend
    from customers_with_folds
    group by cv_fold
),

by_channel as (
    select campaign_channel, sum(conversion) as conversions, count(*) as customers
    from customers_with_folds
    group by campaign_channel
),

by_channel_and_fold as (
    select campaign_channel, cv_fold, sum(conversion) as conversions, count(*) as customers
    from customers_with_folds
    group by campaign_channel, cv_fold
)

select
    c.customer_id,
    c.cv_fold,
    c.income,
    f.fold_spend,
    (ch.conversions - cf.conversions + 1.0) / (ch.customers - cf.customers + 2.0)
        as channel_rate_oof
from customers_with_folds as c
left join by_fold as f on c.cv_fold = f.cv_fold
left join by_channel as ch on c.campaign_channel = ch.campaign_channel
left join by_channel_and_fold as cf
    on c.campaign_channel = cf.campaign_channel and c.cv_fold = cf.cv_fold
"""
FOLD_COLUMNS = {
    "cv_fold": {"feature_role": "split"},
    "channel_rate_oof": {"leakage_allow": "out-of-fold target encoding, proven by its test"},
}
FOLD_REASON = "cross-validation folds stratified by the target"


def test_a_fold_mechanism_defined_inside_the_feature_table() -> None:
    # fold_spend is computed per fold, and the folds are stratified by the target
    rows = lp.features(FOLDS, FOLD_COLUMNS)
    violations = check_features(rows)
    assert lp.by_feature(violations) == {"fold_spend": ["leak"]}
    assert "<- (filter) ml_features.cv_fold" not in violations[0].message  # not declared yet

    declared = {"leakage_mechanisms": {"cv_fold": FOLD_REASON}}
    rows = lp.features(FOLDS, FOLD_COLUMNS, feature_meta=declared)
    assert check_features(rows) == []
    table = lineage_table(rows)
    fold_spend = table[table.feature == "fold_spend"]
    assert set(fold_spend.status) == {"clean"}
    assert f"through declared mechanism ml_features.cv_fold: {FOLD_REASON}" in set(
        fold_spend.reason
    )
    # the out-of-fold encoding reaches the target by value and is allowed with its reason
    oof = table[(table.feature == "channel_rate_oof") & (table.source_column == "Conversion")]
    assert oof[["dependency", "status", "reason"]].values.tolist() == [
        ["value", "allowed", "out-of-fold target encoding, proven by its test"]
    ]
    assert set(table.loc[table.feature == "income", "status"]) == {"clean"}


DEDUPLICATED = """
select customer_id, income, campaign_channel, ad_spend, conversion, count(*) as copies
from {{ ref('int_customers') }}
group by all
"""


def test_a_declared_row_mechanism_covers_the_model_s_own_filters_only() -> None:
    features_sql = "select customer_id, income from {{ ref('base_deduplicated') }}"
    rows = lp.features(features_sql, None, lp.model("base_deduplicated", DEDUPLICATED))
    assert lp.by_feature(check_features(rows)) == {"income": ["leak"]}  # grouped by the target

    reason = "exact duplicate rows are collapsed"
    declared = lp.model("base_deduplicated", DEDUPLICATED, meta={"leakage_row_mechanism": reason})
    rows = lp.features(features_sql, None, declared)
    assert check_features(rows) == []
    table = lineage_table(rows)
    assert f"through declared row mechanism base_deduplicated rows: {reason}" in set(table.reason)

    # the filters of the models it reads are still followed
    upstream = DEDUPLICATED.replace("{{ ref('int_customers') }}", "{{ ref('int_converters') }}")
    converters = lp.model(
        "int_converters", "select * from {{ ref('int_customers') }} where conversion = 1"
    )
    declared = lp.model("base_deduplicated", upstream, meta={"leakage_row_mechanism": reason})
    rows = lp.features(features_sql, None, declared, converters)
    assert lp.by_feature(check_features(rows)) == {"income": ["leak"]}


# --------------------------------------------------------------------------------------------
# Compile-time queries

FLAGS = """
select campaign_channel, bool_or(campaign_channel in ('Referral', 'Email')) as is_top_channel
from {{ ref('int_customers') }}
group by campaign_channel
"""
FLAGGED_FEATURES = """
select c.customer_id, c.income, f.is_top_channel
from {{ ref('int_customers') }} as c
left join (select * from {{ ref('int_channel_flags') }}) as f
    on c.campaign_channel = f.campaign_channel
"""
RUN_QUERY = lp.macro("macro.dbt.run_query", "{% macro run_query(sql) %}...{% endmacro %}")
TOP_CHANNELS = lp.macro(
    "macro.lp.top_channels",
    "{% macro top_channels() %}{{ return(run_query(sql).columns[0].values()) }}{% endmacro %}",
    ("macro.dbt.run_query",),
)


def _flags(**kwargs) -> dict:
    return lp.model(
        "int_channel_flags",
        FLAGS,
        macros=("macro.lp.top_channels",),
        raw_code="{% set top = top_channels() %} select ...",
        **kwargs,
    )


def test_a_compile_time_query_upstream_fails_the_columns_it_feeds() -> None:
    rows = lp.features(FLAGGED_FEATURES, None, _flags(), macros=(RUN_QUERY, TOP_CHANNELS))
    (violation,) = check_features(rows)
    assert violation.column == "is_top_channel"
    assert violation.kind == "compile_queries"
    assert violation.message.startswith(
        "ml_features.is_top_channel: int_channel_flags runs queries at compile time, and what"
        " they render into its SQL is invisible to lineage (int_channel_flags"
        " -> macro.lp.top_channels calls run_query(...)); allow-list that model with config"
        " meta leakage_allow_compile_queries"
    )


def test_a_model_allowed_to_query_at_compile_time_passes_with_its_reason() -> None:
    reason = "lists channel names by spend, never a rate"
    flags = _flags(meta={"leakage_allow_compile_queries": reason})
    rows = lp.features(FLAGGED_FEATURES, None, flags, macros=(RUN_QUERY, TOP_CHANNELS))
    assert check_features(rows) == []
    table = lineage_table(rows)
    compile_rows = table[table.dependency == "compile"]
    assert compile_rows[["feature", "status", "reason"]].values.tolist() == [
        [
            "is_top_channel",
            "clean",
            f"through declared compile-time queries int_channel_flags: {reason}",
        ]
    ]

    flags = _flags(meta={"leakage_allow_compile_queries": ""})
    rows = lp.features(FLAGGED_FEATURES, None, flags, macros=(RUN_QUERY, TOP_CHANNELS))
    assert sorted((v.column, v.kind) for v in check_features(rows)) == [
        ("*", "invalid_meta"),
        ("is_top_channel", "compile_queries"),
    ]


def test_statement_and_load_result_in_the_feature_table_itself_fail_every_feature() -> None:
    project = lp.project(
        "select customer_id, income, ad_spend from {{ ref('int_customers') }}",
    )
    features = project.relations["model.lp.ml_features"]
    raw = "{% call statement('rates', fetch_result=True) %}...{% endcall %}{{ load_result('r') }}"
    project.relations["model.lp.ml_features"] = type(features)(
        **{**features.__dict__, "raw_code": raw}
    )
    violations = check_features(lp.trace_model(project, "ml_features"))
    assert lp.by_feature(violations) == {
        "income": ["compile_queries"],
        "ad_spend": ["compile_queries"],
    }
    assert "(ml_features calls statement(...) in its own SQL)" in violations[0].message


def test_a_dispatched_macro_that_queries_is_found() -> None:
    dispatcher = lp.macro(
        "macro.lp.top_channels",
        "{% macro top_channels() %}{{ adapter.dispatch('top_channels', 'lp')() }}{% endmacro %}",
    )
    implementation = lp.macro(
        "macro.lp.duckdb__top_channels",
        "{% macro duckdb__top_channels() %}{% set r = run_query('select 1') %}{% endmacro %}",
    )
    rows = lp.features(
        FLAGGED_FEATURES, None, _flags(), macros=(dispatcher, implementation, RUN_QUERY)
    )
    (violation,) = check_features(rows)
    assert (
        "(int_channel_flags -> macro.lp.top_channels -> macro.lp.duckdb__top_channels"
        " calls run_query(...))"
    ) in violation.message


def test_a_compile_time_query_no_feature_reaches_still_fails_the_table() -> None:
    # a dependency forced with a comment: dbt runs the model first, no column reads it
    features_sql = (
        "-- depends_on: {{ ref('int_channel_flags') }}\n"
        "select customer_id, income from {{ ref('int_customers') }}"
    )
    rows = lp.features(features_sql, None, _flags(), macros=(RUN_QUERY, TOP_CHANNELS))
    (violation,) = check_features(rows)
    assert (violation.column, violation.kind) == ("*", "compile_queries")
    assert violation.path == "int_channel_flags -> macro.lp.top_channels calls run_query(...)"


def test_a_macro_reached_only_through_depends_on_is_found() -> None:
    rows = lp.features(
        FLAGGED_FEATURES,
        None,
        _flags(),
        macros=(RUN_QUERY, lp.macro("macro.lp.top_channels", "{{ x }}", ("macro.dbt.run_query",))),
    )
    (violation,) = check_features(rows)
    assert violation.path == "int_channel_flags -> macro.lp.top_channels -> macro.dbt.run_query"


# --------------------------------------------------------------------------------------------
# End to end: dbt's own manifest of a throwaway project

TINY_PROJECT = {
    "dbt_project.yml": "name: tiny\nversion: '1.0'\nconfig-version: 2\nprofile: tiny\n"
    "flags: {send_anonymous_usage_stats: false}\n",
    "profiles.yml": "tiny:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
    "      path: \"{{ env_var('LEAKPROOF_WAREHOUSE') }}\"\n      threads: 1\n",
    "seeds/customers.csv": "customer_id,channel,spend,conversion\n1,Email,10.0,1\n2,SEO,5.0,0\n",
    "seeds/_seeds.yml": "version: 2\nseeds:\n  - name: customers\n    columns:\n"
    "      - {name: customer_id, config: {meta: {leakage_role: identifier}}}\n"
    "      - {name: channel}\n      - {name: spend}\n"
    "      - {name: conversion, config: {meta: {leakage_role: target}}}\n",
    # a list of channels rendered from a query while dbt compiles: a target value in disguise
    "macros/top_channels.sql": "{% macro top_channels() %}\n"
    "    {%- if execute -%}\n"
    "        {{ return(run_query(\"select 'Email' as channel\").columns[0].values() | list) }}\n"
    "    {%- endif -%}\n"
    "    {{ return(['none']) }}\n"
    "{% endmacro %}\n",
    "models/int_channel_flags.sql": "select channel, bool_or(channel in"
    " ('{{ top_channels() | join(\"', '\") }}')) as is_top_channel\n"
    "from {{ ref('customers') }}\ngroup by channel\n",
    "models/ml_features.sql": "select c.customer_id, c.spend, f.is_top_channel\n"
    "from {{ ref('customers') }} as c\n"
    "left join {{ ref('int_channel_flags') }} as f\n    on c.channel = f.channel\n",
    "models/_models.yml": "version: 2\nmodels:\n  - name: ml_features\n"
    "    config: {meta: {leakage_guard: features}}\n    columns:\n"
    "      - {name: customer_id, config: {meta: {feature_role: identifier}}}\n",
}


@pytest.mark.dbt
def test_compile_time_query_found_in_dbt_s_manifest(tmp_path: Path) -> None:
    project_dir = tmp_path / "tiny"
    for name, text in TINY_PROJECT.items():
        (project_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (project_dir / name).write_text(text)
    result = run_dbt(["compile"], tmp_path / "run", project_dir=project_dir, timeout=300)
    assert result.ok, result.output[-3000:]
    compiled = (result.target_path / "compiled/tiny/models/int_channel_flags.sql").read_text()
    assert "in ('Email')" in compiled  # the queried value, now a literal lineage cannot see

    manifest = result.manifest()
    assert manifest["nodes"]["model.tiny.int_channel_flags"]["depends_on"]["macros"] == [
        "macro.tiny.top_channels"
    ]
    assert manifest["macros"]["macro.tiny.top_channels"]["depends_on"]["macros"] == [
        "macro.dbt.run_query"
    ]

    table = feature_lineage_from_target(result.target_path, project_dir)
    rejected = table[table.status.isin(["leak", "unresolved"])]
    assert rejected[["feature", "dependency", "path"]].values.tolist() == [
        [
            "is_top_channel",
            "compile",
            "int_channel_flags -> macro.tiny.top_channels calls run_query(...)",
        ]
    ]
    assert rejected.message.iloc[0].startswith(
        "ml_features.is_top_channel: int_channel_flags runs queries at compile time"
    )
    assert set(table.loc[table.feature == "spend", "status"]) == {"clean"}
