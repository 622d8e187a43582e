"""In-memory dbt projects for the lineage tests: one external source read with read_csv (as
dbt-duckdb renders it), a staging model, an intermediate model, and the feature model under test.
SQL is written with {{ ref('x') }} / {{ source('s', 't') }}, rendered the way dbt compiles them;
each model's depends_on lists the refs its SQL makes."""

from __future__ import annotations

import re
from typing import Any

from leakproof.lineage import LineageRow, Project, Violation, load_project, trace_model

CUSTOMERS_CSV = "read_csv('raw/customers.csv', header = true, all_varchar = true)"
SOURCE_ID = "source.lp.marketing.customers"
SOURCE_ROLES = {
    "CustomerID": "identifier",
    "Income": None,
    "CampaignChannel": None,
    "AdSpend": None,
    "WebsiteVisits": None,
    "ConversionRate": "target_derived",
    "RefundedAfter30d": "post_outcome",
    "Conversion": "target",
}

STG_CUSTOMERS = """
with

source as (

    select * from {{ source('marketing', 'customers') }}

),

renamed as (

    select
        try_cast("CustomerID" as bigint) as customer_id,
        try_cast("Income" as double) as income,
        trim("CampaignChannel") as campaign_channel,
        try_cast("AdSpend" as double) as ad_spend,
        try_cast("WebsiteVisits" as integer) as website_visits,
        try_cast("ConversionRate" as double) as conversion_rate,
        try_cast("RefundedAfter30d" as boolean) as refunded_after_30d,
        try_cast("Conversion" as integer) as conversion
    from source

)

select * from renamed
"""

INT_CUSTOMERS = """
with

customers as (

    select * from {{ ref('stg_customers') }}

),

final as (

    select
        customer_id,
        income,
        campaign_channel,
        ad_spend,
        website_visits,
        conversion_rate,
        refunded_after_30d,
        conversion
    from customers
    where customer_id is not null

)

select * from final
"""

FEATURE_META = {
    "customer_id": {"feature_role": "identifier"},
    "conversion": {"feature_role": "target"},
}

_REF = re.compile(r"\{\{ ref\('(\w+)'\) \}\}")


def relation(name: str) -> str:
    return f'"lp"."main"."{name}"'


def render(sql: str) -> str:
    sql = _REF.sub(lambda m: relation(m.group(1)), sql)
    return sql.replace("{{ source('marketing', 'customers') }}", CUSTOMERS_CSV)


def model(
    name: str,
    sql: str | None,
    columns: dict[str, dict[str, Any]] | None = None,
    language: str = "sql",
    contract: bool = False,
    meta: dict[str, Any] | None = None,
    macros: tuple[str, ...] = (),
    raw_code: str | None = None,
) -> dict[str, Any]:
    """A manifest node; `meta` is its config meta, `macros` its depends_on.macros."""
    refs = [f"model.lp.{r}" for r in _REF.findall(sql or "")]
    if "{{ source(" in (sql or ""):
        refs.append(SOURCE_ID)
    return {
        "unique_id": f"model.lp.{name}",
        "resource_type": "model",
        "name": name,
        "package_name": "lp",
        "language": language,
        "original_file_path": f"models/{name}.{'py' if language == 'python' else 'sql'}",
        "relation_name": relation(name),
        "raw_code": raw_code if raw_code is not None else (sql or ""),
        "compiled_code": render(sql) if sql is not None else None,
        "config": {"contract": {"enforced": contract}, "meta": meta or {}},
        "depends_on": {"nodes": list(dict.fromkeys(refs)), "macros": list(macros)},
        "columns": {
            column: {"name": column, "meta": column_meta, "config": {"meta": column_meta}}
            for column, column_meta in (columns or {}).items()
        },
    }


def macro(unique_id: str, sql: str, macros: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "unique_id": unique_id,
        "name": unique_id.rsplit(".", 1)[-1],
        "macro_sql": sql,
        "depends_on": {"macros": list(macros)},
    }


def source() -> dict[str, Any]:
    return {
        "unique_id": SOURCE_ID,
        "resource_type": "source",
        "source_name": "marketing",
        "name": "customers",
        "relation_name": CUSTOMERS_CSV,
        "columns": {
            column: {
                "name": column,
                "meta": {"leakage_role": role} if role else {},
                "config": {"meta": {"leakage_role": role} if role else {}},
            }
            for column, role in SOURCE_ROLES.items()
        },
    }


def project(
    features_sql: str | None = None,
    feature_columns: dict[str, dict[str, Any]] | None = None,
    *extra: dict[str, Any],
    language: str = "sql",
    feature_meta: dict[str, Any] | None = None,
    macros: tuple[dict[str, Any], ...] = (),
) -> Project:
    """The mini project; `extra` adds (or, by name, replaces) models."""
    nodes = {
        n["unique_id"]: n
        for n in (
            model("stg_customers", STG_CUSTOMERS),
            model("int_customers", INT_CUSTOMERS),
            *extra,
        )
    }
    if features_sql is not None or language != "sql":
        columns = {**FEATURE_META, **(feature_columns or {})}
        features = model("ml_features", features_sql, columns, language, meta=feature_meta)
        nodes[features["unique_id"]] = features
    manifest = {
        "nodes": nodes,
        "sources": {SOURCE_ID: source()},
        "macros": {m["unique_id"]: m for m in macros},
    }
    return load_project(manifest)


def features(
    sql: str, columns: dict[str, dict[str, Any]] | None = None, *extra: dict[str, Any], **kwargs
) -> list[LineageRow]:
    return trace_model(project(sql, columns, *extra, **kwargs), "ml_features")


def reached(rows: list[LineageRow], feature: str, dependency: str = "value") -> set[str]:
    """source.table.column labels a feature reaches, by value (or filter)."""
    return {
        row.source.label
        for row in rows
        if row.feature == feature and row.source and row.dependency == dependency
    }


def by_feature(violations: list[Violation]) -> dict[str, list[str]]:
    """feature -> the kinds of its violations."""
    out: dict[str, list[str]] = {}
    for violation in violations:
        out.setdefault(violation.column, []).append(violation.kind)
    return out
