"""Turn simulated chunks into Arrow tables: raw files (with faults) and the truth sidecar."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from leakproof.generate import faults as F
from leakproof.generate import params as P
from leakproof.generate.accounts import INDUSTRY_NAMES, REGION_NAMES, AccountWaves
from leakproof.generate.customers import COMBOS, CustomerDraw, truth_column

CUSTOMER_CATEGORIES: dict[str, tuple[str, ...]] = {
    "Gender": P.GENDERS,
    "CampaignChannel": P.CHANNELS,
    "CampaignType": P.CAMPAIGN_TYPES,
    "AdvertisingPlatform": P.PLATFORMS,
    "AdvertisingTool": P.TOOLS,
}
ACCOUNT_CATEGORIES: dict[str, tuple[str, ...]] = {
    "industry": INDUSTRY_NAMES,
    "region": REGION_NAMES,
}
CUSTOMER_TYPES: dict[str, pa.DataType] = {
    "CustomerID": pa.int64(),
    "Age": pa.int64(),
    "Income": pa.int64(),
    "AdSpend": pa.float64(),
    "ClickThroughRate": pa.float64(),
    "ConversionRate": pa.float64(),
    "WebsiteVisits": pa.int64(),
    "PagesPerVisit": pa.float64(),
    "TimeOnSite": pa.float64(),
    "SocialShares": pa.int64(),
    "EmailOpens": pa.int64(),
    "EmailClicks": pa.int64(),
    "PreviousPurchases": pa.int64(),
    "LoyaltyPoints": pa.int64(),
    "Conversion": pa.int64(),
    **{c: pa.string() for c in CUSTOMER_CATEGORIES},
}
ACCOUNT_TYPES: dict[str, pa.DataType] = {
    "account_id": pa.int64(),
    "campaign_wave": pa.int64(),
    "wave_date": pa.date32(),
    "industry": pa.string(),
    "region": pa.string(),
    "company_size": pa.int64(),
    "annual_revenue": pa.int64(),
    "website_visits_30d": pa.int64(),
    "contract_remaining_months": pa.int64(),
    "response_flag": pa.int64(),
}


def customer_schema(fmt: str, scoring: bool) -> pa.Schema:
    """Raw customers schema; in CSV the columns that can hold unparseable numbers are strings."""
    names = P.SCORING_COLUMNS if scoring else P.CUSTOMER_COLUMNS
    text = set(P.UNPARSEABLE_COLUMNS) if fmt == "csv" else set()
    return pa.schema([(c, pa.string() if c in text else CUSTOMER_TYPES[c]) for c in names])


def account_schema(fmt: str) -> pa.Schema:
    """Raw accounts schema (dates and unparseable-capable numbers are strings in CSV)."""
    text = {"wave_date", *P.ACCOUNT_UNPARSEABLE_COLUMNS} if fmt == "csv" else set()
    return pa.schema([(c, pa.string() if c in text else t) for c, t in ACCOUNT_TYPES.items()])


def customer_truth_schema() -> pa.Schema:
    """Truth sidecar: per clean customer, p under every channel x platform and as realised."""
    fields = [
        ("CustomerID", pa.int64()),
        ("population", pa.string()),
        ("realised_channel", pa.string()),
        ("realised_platform", pa.string()),
        ("realised_tool", pa.string()),
        ("conversion_realised", pa.int8()),
        ("p_realised", pa.float32()),
        ("propensity_realised", pa.float32()),
    ]
    return pa.schema(fields + [(truth_column(c, p), pa.float32()) for c, p in COMBOS])


def account_truth_schema() -> pa.Schema:
    """Truth sidecar: per account x wave, the true response probability and the realised draw."""
    return pa.schema(
        [
            ("account_id", pa.int64()),
            ("campaign_wave", pa.int64()),
            ("p_response", pa.float64()),
            ("response_realised", pa.int8()),
        ]
    )


def _categorical_array(index: np.ndarray, names: tuple[str, ...]) -> pa.Array:
    return pa.DictionaryArray.from_arrays(
        pa.array(index.astype(np.int32)), pa.array(names, pa.string())
    ).cast(pa.string())


def _replace(arr: pa.Array, rows: np.ndarray, values: np.ndarray) -> pa.Array:
    """Replace `arr[rows]` (row positions ascending) by string `values`."""
    if rows.shape[0] == 0:
        return arr
    mask = np.zeros(len(arr), dtype=bool)
    mask[rows] = True
    return pc.replace_with_mask(arr, pa.array(mask), pa.array(values.astype(str), pa.string()))


def _category_faults(
    arrays: dict[str, pa.Array],
    index: dict[str, np.ndarray],
    plan: F.FaultPlan,
    kind: str,
    columns: tuple[str, ...],
    names: dict[str, tuple[str, ...]],
) -> int:
    """Apply mis-casing/padding or misspellings in place; returns the number of rows hit."""
    rows = np.flatnonzero(plan.rows(kind))
    column = F.pick(plan.column_pick[rows], len(columns))
    for j, col in enumerate(columns):
        sel = rows[column == j]
        if sel.size == 0:
            continue
        u = plan.variant_pick[sel]
        if kind == "misspelled":
            values = F.misspell(col, index[col][sel], u)
        else:
            values = F.miscase(np.asarray(names[col])[index[col][sel]], u)
        arrays[col] = _replace(arrays[col], sel, values)
    return int(rows.shape[0])


def _unparseable_faults(
    arrays: dict[str, pa.Array],
    numbers: dict[str, np.ndarray],
    plan: F.FaultPlan,
    columns: tuple[str, ...],
) -> int:
    rows = np.flatnonzero(plan.rows("unparseable_number"))
    column = F.pick(plan.column_pick[rows], len(columns))
    for j, col in enumerate(columns):
        sel = rows[column == j]
        if sel.size == 0:
            continue
        arrays[col] = _replace(
            arrays[col], sel, F.unparseable(numbers[col][sel], plan.variant_pick[sel])
        )
    return int(rows.shape[0])


def customer_table(
    draw: CustomerDraw, first_id: int, plan: F.FaultPlan, fmt: str, scoring: bool
) -> tuple[pa.Table, dict[str, int]]:
    """The raw customers chunk with faults, and the fault counts (per distinct clean row)."""
    n = draw.combo.shape[0]
    schema = customer_schema(fmt, scoring)
    num = {
        c: draw.cov[c].copy()
        for c in CUSTOMER_TYPES
        if c in draw.cov and c not in CUSTOMER_CATEGORIES
    }
    counts: dict[str, int] = {}

    neg = plan.rows("negative_adspend")
    num["AdSpend"][neg] = -num["AdSpend"][neg]
    counts["negative_adspend"] = int(neg.sum())
    age = plan.rows("impossible_age")
    num["Age"][age] = F.impossible_ages(plan.variant_pick[age])
    counts["impossible_age"] = int(age.sum())
    ctr = plan.rows("ctr_above_one") & ~plan.missing["ClickThroughRate"]
    num["ClickThroughRate"][ctr] = np.round(num["ClickThroughRate"][ctr] * 100.0, 2)
    counts["ctr_above_one"] = int(ctr.sum())

    arrays: dict[str, pa.Array] = {"CustomerID": pa.array(first_id + np.arange(n))}
    for col, values in num.items():
        mask = plan.missing.get(col)
        arrays[col] = pa.array(values, CUSTOMER_TYPES[col], mask=mask)
        counts |= {f"missing_{col}": int(mask.sum())} if mask is not None else {}
    if not scoring:
        arrays["Conversion"] = pa.array(draw.conversion.astype(np.int64))
        rate = draw.conversion / np.maximum(draw.cov["WebsiteVisits"], 1)
        arrays["ConversionRate"] = pa.array(np.round(rate, 4))
    index = {
        "Gender": draw.cov["Gender"],
        "CampaignChannel": draw.channel,
        "CampaignType": draw.cov["CampaignType"],
        "AdvertisingPlatform": draw.platform,
        "AdvertisingTool": draw.tool,
    }
    for col, names in CUSTOMER_CATEGORIES.items():
        arrays[col] = _categorical_array(index[col], names)
    counts["miscased_or_padded"] = _category_faults(
        arrays,
        index,
        plan,
        "miscased_or_padded",
        P.CASE_FAULT_COLUMNS,
        CUSTOMER_CATEGORIES,
    )
    counts["misspelled"] = _category_faults(
        arrays, index, plan, "misspelled", tuple(P.MISSPELLINGS), CUSTOMER_CATEGORIES
    )
    for col in P.UNPARSEABLE_COLUMNS:
        arrays[col] = arrays[col].cast(schema.field(col).type)
    counts["unparseable_number"] = (
        _unparseable_faults(arrays, num, plan, P.UNPARSEABLE_COLUMNS) if fmt == "csv" else 0
    )
    counts["duplicate_rows"] = plan.n_duplicates
    table = pa.table([arrays[c] for c in schema.names], schema=schema)
    return table.take(pa.array(plan.order)), counts


def customer_truth_table(draw: CustomerDraw, first_id: int, population: str) -> pa.Table:
    """The truth rows of a chunk (clean, one per CustomerID)."""
    n = draw.combo.shape[0]
    columns = [
        pa.array(first_id + np.arange(n)),
        pa.array(np.full(n, population)),
        _categorical_array(draw.channel, P.CHANNELS),
        _categorical_array(draw.platform, P.PLATFORMS),
        _categorical_array(draw.tool, P.TOOLS),
        pa.array(draw.conversion),
        pa.array(draw.p_realised.astype(np.float32)),
        pa.array(draw.propensity_realised.astype(np.float32)),
        *(pa.array(draw.p_all[:, k]) for k in range(len(COMBOS))),
    ]
    return pa.table(columns, schema=customer_truth_schema())


def account_table(
    waves: AccountWaves, plan: F.FaultPlan, fmt: str
) -> tuple[pa.Table, dict[str, int]]:
    """The raw accounts table with faults; the newest wave's response_flag is empty."""
    schema = account_schema(fmt)
    dates = np.array(P.WAVE_DATES, dtype="datetime64[D]")[waves.wave - 1]
    index = {"industry": waves.industry, "region": waves.region}
    arrays: dict[str, pa.Array] = {
        "account_id": pa.array(waves.account_id),
        "campaign_wave": pa.array(waves.wave),
        "wave_date": pa.array(dates).cast(schema.field("wave_date").type),
        "company_size": pa.array(waves.company_size),
        "annual_revenue": pa.array(waves.annual_revenue).cast(schema.field("annual_revenue").type),
        "website_visits_30d": pa.array(waves.website_visits_30d),
        "contract_remaining_months": pa.array(waves.contract_remaining_months),
        "response_flag": pa.array(waves.response.astype(np.int64), mask=waves.wave == P.N_WAVES),
        **{c: _categorical_array(index[c], names) for c, names in ACCOUNT_CATEGORIES.items()},
    }
    counts = {
        "miscased_or_padded": _category_faults(
            arrays,
            index,
            plan,
            "miscased_or_padded",
            P.ACCOUNT_CASE_FAULT_COLUMNS,
            ACCOUNT_CATEGORIES,
        ),
        "unparseable_number": (
            _unparseable_faults(
                arrays,
                {"annual_revenue": waves.annual_revenue},
                plan,
                P.ACCOUNT_UNPARSEABLE_COLUMNS,
            )
            if fmt == "csv"
            else 0
        ),
        "duplicate_rows": plan.n_duplicates,
    }
    table = pa.table([arrays[c] for c in schema.names], schema=schema)
    return table.take(pa.array(plan.order)), counts


def account_truth_table(waves: AccountWaves) -> pa.Table:
    """The truth rows: one per account x wave."""
    return pa.table(
        [
            pa.array(waves.account_id),
            pa.array(waves.wave),
            pa.array(waves.p_response),
            pa.array(waves.response),
        ],
        schema=account_truth_schema(),
    )
