"""Analytics marts: every number recomputed independently in pandas / scipy from the layer below.

The marts are built once by the shared `demo_build` fixture (6,000 generated customers). The SQL
p-value functions are also checked over a wide grid of arguments, beyond what the demo data
reaches, by compiling the macros with `dbt compile --inline` and running them in DuckDB.
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from dbt_runner import PROJECT_ROOT, run_dbt

pytestmark = pytest.mark.dbt

VARS = yaml.safe_load((PROJECT_ROOT / "dbt_project.yml").read_text())["vars"]
Z = VARS["interval_z"]
ALPHA = VARS["significance_level"]
SMOOTHING = VARS["woe_smoothing"]
PERFORMANCE = {
    "fct_channel_performance": ["campaign_channel"],
    "fct_platform_performance": ["advertising_platform"],
    "fct_tool_performance": ["advertising_tool"],
    "fct_campaign_type_performance": ["campaign_type"],
    "fct_channel_platform_performance": ["campaign_channel", "advertising_platform"],
}
DOMAINS = {
    "campaign_channel": "channel",
    "advertising_platform": "platform",
    "advertising_tool": "tool",
    "campaign_type": "campaign_type",
}
# Statistics equal scipy's to 1e-9 relative (the same formulas in double precision; observed
# <= 4e-12). p-values: absolute tolerance 1e-10 - the SQL tails are accurate to ~1e-13 (normal,
# chi-square) and ~1e-11 (t, incomplete-beta series), well inside it.
STATISTIC_RTOL = 1e-9
P_VALUE_ATOL = 1e-10


def table(connection: duckdb.DuckDBPyConnection, name: str) -> pd.DataFrame:
    return connection.sql(f"select * from {name}").df()


@pytest.fixture()
def customers(warehouse: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return warehouse.sql(
        "select * from intermediate.int_customers_segmented where split in ('train', 'test')"
    ).df()


@pytest.fixture()
def accounts(warehouse: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return warehouse.sql(
        "select * from intermediate.int_accounts_split where split in ('train', 'test')"
    ).df()


@pytest.fixture()
def known(warehouse: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    rows = warehouse.sql(
        "select domain, canonical_value from reference.category_aliases where is_canonical"
    ).fetchall()
    out: dict[str, set[str]] = {}
    for domain, value in rows:
        out.setdefault(domain, set()).add(value)
    return out


def wilson(successes: np.ndarray, trials: np.ndarray, z: float = Z) -> tuple[np.ndarray, ...]:
    """The textbook form: centre (p + z^2/2n) / (1 + z^2/n) -/+ half-width."""
    n = np.asarray(trials, dtype=float)
    p = np.asarray(successes, dtype=float) / n
    denominator = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denominator
    half = z / denominator * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return np.maximum(centre - half, 0.0), np.minimum(centre + half, 1.0)


def two_proportion_p(s1: float, n1: float, s2: float, n2: float) -> float:
    pooled = (s1 + s2) / (n1 + n2)
    z = (s1 / n1 - s2 / n2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return 2 * stats.norm.sf(abs(z))


def band(values: pd.Series, bands: list[dict]) -> pd.Series:
    """pandas.cut with the var's inclusive upper bounds (right-closed)."""
    edges = [-np.inf] + [b["up_to"] for b in bands[:-1]] + [np.inf]
    return pd.cut(values, edges, labels=[b["label"] for b in bands], right=True).astype(str)


# --- rate tables -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PERFORMANCE))
def test_performance_counts_rates_and_intervals(
    warehouse: duckdb.DuckDBPyConnection, customers: pd.DataFrame, name: str
) -> None:
    keys = PERFORMANCE[name]
    mart = table(warehouse, f"marts.{name}").set_index(keys).sort_index()
    expected = customers.groupby(keys).agg(
        customers=("conversion", "size"),
        conversions=("conversion", "sum"),
        total_spend=("ad_spend_capped", "sum"),
    )
    observed = mart.loc[expected.index]
    assert (observed["customers"] == expected["customers"]).all()
    assert (observed["conversions"] == expected["conversions"]).all()
    np.testing.assert_allclose(observed["total_spend"], expected["total_spend"], rtol=1e-12)
    # cells not observed are explicit and empty
    empty = mart.drop(index=expected.index)
    assert (empty["customers"] == 0).all() and empty["conversion_rate"].isna().all()
    assert mart["customers"].sum() == len(customers)

    rate = expected["conversions"] / expected["customers"]
    np.testing.assert_allclose(observed["conversion_rate"], rate, rtol=1e-12)
    lower, upper = wilson(expected["conversions"], expected["customers"])
    np.testing.assert_allclose(observed["conversion_rate_ci_lower"], lower, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(observed["conversion_rate_ci_upper"], upper, rtol=1e-9)
    overall = customers["conversion"].mean()
    np.testing.assert_allclose(observed["rate_relative_to_overall"], rate / overall, rtol=1e-12)
    np.testing.assert_allclose(
        observed["cost_per_conversion"],
        (expected["total_spend"] / expected["conversions"]).replace(np.inf, np.nan),
        rtol=1e-12,
    )
    for share in ("spend_share", "customer_share", "conversion_share"):
        assert mart[share].sum() == pytest.approx(1.0, abs=1e-12)
    ranks = rate.rank(method="min", ascending=False)
    assert (observed["conversion_rate_rank"] == ranks).all()


@pytest.mark.parametrize("name", sorted(PERFORMANCE))
def test_gap_to_best_z_test_and_bonferroni(
    warehouse: duckdb.DuckDBPyConnection, customers: pd.DataFrame, name: str
) -> None:
    mart = table(warehouse, f"marts.{name}")
    overall = customers["conversion"].mean()
    adequate = mart[mart["customers"] * overall >= VARS["min_expected_events"]]
    assert (mart["is_below_min_sample"] == ~mart.index.isin(adequate.index)).all()
    pool = adequate if len(adequate) >= 1 else mart[mart["customers"] > 0]
    best = pool.sort_values("conversion_rate", ascending=False).iloc[0]
    assert mart["is_best"].sum() == 1
    assert mart.loc[mart["is_best"], "conversion_rate"].item() == best["conversion_rate"]
    k = len(adequate) if len(adequate) >= 2 else int((mart["customers"] > 0).sum())
    compared = mart[(mart["customers"] > 0) & ~mart["is_best"]]
    for row in compared.itertuples():
        s = row.conversions + best["conversions"]
        if s == 0 or s == row.customers + best["customers"]:
            assert pd.isna(row.gap_to_best_p_value)
            continue
        p = two_proportion_p(best["conversions"], best["customers"], row.conversions, row.customers)
        assert row.gap_to_best_p_value == pytest.approx(p, abs=P_VALUE_ATOL)
        assert row.gap_to_best_p_value_adjusted == pytest.approx(
            min(1.0, p * k * (k - 1) / 2), abs=1e-9
        )
        assert row.is_gap_to_best_significant == (min(1.0, p * k * (k - 1) / 2) < ALPHA)


def test_channel_platform_grid_is_complete(
    warehouse: duckdb.DuckDBPyConnection, known: dict[str, set[str]]
) -> None:
    grid = table(warehouse, "marts.fct_channel_platform_performance")
    known_cells = grid[grid["is_known_category"]]
    assert len(known) and len(known_cells) == len(known["channel"]) * len(known["platform"]) == 49
    pairs = set(
        zip(known_cells["campaign_channel"], known_cells["advertising_platform"], strict=True)
    )
    assert pairs == {(c, p) for c in known["channel"] for p in known["platform"]}
    # an unknown value observed in the data is crossed with every platform too
    channels = set(grid["campaign_channel"])
    assert len(grid) == len(channels) * grid["advertising_platform"].nunique()


def test_grid_with_a_missing_category_shows_empty_cells(demo_raw_dir: Path, tmp_path: Path) -> None:
    """A file without any X rows (under any spelling) still has the 7 X cells, empty."""
    with (PROJECT_ROOT / "seeds" / "category_aliases.csv").open(newline="") as handle:
        x_keys = {
            row["alias_key"]
            for row in csv.DictReader(handle)
            if row["domain"] == "platform" and row["canonical_value"] == "X"
        }
    raw = tmp_path / "raw"
    raw.mkdir()
    for path in demo_raw_dir.glob("*.csv"):
        with path.open(newline="") as source, (raw / path.name).open("w", newline="") as target:
            reader, writer = csv.reader(source), csv.writer(target)
            header = next(reader)
            writer.writerow(header)
            column = header.index("AdvertisingPlatform") if "AdvertisingPlatform" in header else -1
            writer.writerows(
                row
                for row in reader
                if column < 0 or re.sub("[^a-z0-9]+", "", row[column].lower()) not in x_keys
            )
    result = run_dbt(
        [
            "build",
            "--select",
            "+fct_channel_platform_performance",
            "--indirect-selection",
            "cautious",
        ],
        tmp_path,
        raw_dir=raw,
    )
    assert result.ok, result.output[-3000:]
    with duckdb.connect(str(result.warehouse), read_only=True) as connection:
        cells = connection.sql(
            "select campaign_channel, customers, conversion_rate "
            "from marts.fct_channel_platform_performance "
            "where advertising_platform = 'X' and is_known_category"
        ).fetchall()
    assert len(cells) == 7
    assert all(customers == 0 and rate is None for _, customers, rate in cells)


def test_segment_performance(warehouse: duckdb.DuckDBPyConnection, customers: pd.DataFrame) -> None:
    segments = table(warehouse, "marts.fct_segment_performance")
    for segment_type, breakdown in segments.groupby(["segment_type", "breakdown"]).groups:
        part = segments[
            (segments["segment_type"] == segment_type) & (segments["breakdown"] == breakdown)
        ]
        assert part["customers"].sum() == len(customers)
        assert part["customer_share"].sum() == pytest.approx(1.0, abs=1e-12)
    # the marketing document's segments, with one filter each
    high_income = customers[customers["income"] > 80_000]
    young = customers[customers["age"] <= 29]
    for segment_type, value, members in (
        ("income_tier", "high", high_income),
        ("age_group", "18-29", young),
    ):
        row = segments[
            (segments["segment_type"] == segment_type)
            & (segments["segment_value"] == value)
            & (segments["breakdown"] == "segment")
        ].iloc[0]
        assert row["customers"] == len(members)
        assert row["conversion_rate"] == pytest.approx(members["conversion"].mean(), rel=1e-12)
        by_combo = members.groupby(["campaign_channel", "advertising_platform"])["conversion"]
        cells = segments[
            (segments["segment_type"] == segment_type)
            & (segments["segment_value"] == value)
            & (segments["breakdown"] == "segment_channel_platform")
        ].set_index(["campaign_channel", "advertising_platform"])
        counts = by_combo.size()
        assert (cells.loc[counts.index, "customers"] == counts).all()
        np.testing.assert_allclose(
            cells.loc[counts.index, "rate_relative_to_segment"],
            by_combo.mean() / members["conversion"].mean(),
            rtol=1e-12,
        )
    for segment_type, var_name, column in (
        ("age_group", "age_groups", "age"),
        ("income_tier", "income_tiers", "income"),
        ("loyalty_tier", "loyalty_tiers", "loyalty_points"),
    ):
        expected = band(customers[column], VARS[var_name]).value_counts()
        rows = segments[
            (segments["segment_type"] == segment_type) & (segments["breakdown"] == "segment")
        ].set_index("segment_value")
        assert set(rows.index) == {b["label"] for b in VARS[var_name]}
        assert (rows.loc[expected.index, "customers"] == expected).all()


def test_budget_reallocation_recomputed_from_performance_tables(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    reallocation = table(warehouse, "marts.fct_budget_reallocation").set_index("dimension")
    share = VARS["reallocation_share"]
    for name, dimension in (
        ("fct_channel_performance", "campaign_channel"),
        ("fct_platform_performance", "advertising_platform"),
        ("fct_tool_performance", "advertising_tool"),
    ):
        cells = table(warehouse, f"marts.{name}")
        adequate = cells[~cells["is_below_min_sample"] & (cells["total_spend"] > 0)]
        if len(adequate) < 2:
            assert dimension not in reallocation.index
            continue
        best = cells[cells["is_best"]].iloc[0]
        worst = adequate.sort_values(
            ["conversion_rate", "customers", dimension], ascending=[True, False, True]
        ).iloc[0]
        row = reallocation.loc[dimension]
        assert (row["from_value"], row["to_value"]) == (worst[dimension], best[dimension])
        shifted = share * worst["total_spend"]
        change = shifted * (
            best["conversions"] / best["total_spend"] - worst["conversions"] / worst["total_spend"]
        )
        assert row["shifted_spend"] == pytest.approx(shifted, rel=1e-12)
        assert row["expected_conversion_change"] == pytest.approx(change, rel=1e-9, abs=1e-12)
        # Newcombe / MOVER from the two Wilson intervals, scaled by customers per dollar
        a_best = best["customers"] / best["total_spend"]
        a_worst = worst["customers"] / worst["total_spend"]
        (lb,), (ub,) = wilson(np.array([best["conversions"]]), np.array([best["customers"]]))
        (lw,), (uw,) = wilson(np.array([worst["conversions"]]), np.array([worst["customers"]]))
        pb, pw = best["conversion_rate"], worst["conversion_rate"]
        below = shifted * math.hypot(a_best * (pb - lb), a_worst * (uw - pw))
        above = shifted * math.hypot(a_best * (ub - pb), a_worst * (pw - lw))
        assert row["expected_conversion_change_ci_lower"] == pytest.approx(change - below, rel=1e-9)
        assert row["expected_conversion_change_ci_upper"] == pytest.approx(change + above, rel=1e-9)
        assert row["relative_rate_gap"] == pytest.approx(pb / pw - 1, rel=1e-12)
        p = two_proportion_p(
            best["conversions"], best["customers"], worst["conversions"], worst["customers"]
        )
        assert row["rate_gap_p_value"] == pytest.approx(p, abs=P_VALUE_ATOL)
        assert row["evidence"] == "correlational"
        assert "not random" in row["caveat"]
        assert row["recommendation"].startswith(
            f"Shift {round(share * 100)}% of {worst[dimension]} spend"
        )
        assert f"to {best[dimension]}:" in row["recommendation"]


def test_b2b_response_rates(
    warehouse: duckdb.DuckDBPyConnection, accounts: pd.DataFrame, known: dict[str, set[str]]
) -> None:
    rates = table(warehouse, "marts.fct_b2b_response_rates")
    months = VARS["renewal_window_months"]
    frame = accounts.assign(
        company_size_band=band(accounts["company_size"], VARS["company_size_bands"]),
        renewal_window=np.where(
            accounts["contract_remaining_months"] <= months,
            f"within {months} months",
            f"more than {months} months",
        ),
    )
    for dimension in ("industry", "region", "company_size_band", "renewal_window"):
        rows = rates[rates["dimension"] == dimension].set_index("dimension_value")
        grouped = frame.groupby(dimension)["response_flag"].agg(["size", "sum"])
        assert (rows.loc[grouped.index, "accounts"] == grouped["size"]).all()
        assert (rows.loc[grouped.index, "responses"] == grouped["sum"]).all()
        lower, upper = wilson(grouped["sum"], grouped["size"])
        np.testing.assert_allclose(
            rows.loc[grouped.index, "response_rate_ci_lower"], lower, rtol=1e-9
        )
        np.testing.assert_allclose(
            rows.loc[grouped.index, "response_rate_ci_upper"], upper, rtol=1e-9
        )
        assert rows["accounts"].sum() == len(accounts)
        assert rows["overall_response_rate"].iloc[0] == pytest.approx(
            accounts["response_flag"].mean(), rel=1e-12
        )
        if dimension in ("industry", "region"):
            assert known[dimension] <= set(rows.index)  # every known value, even if empty
    within = rates[rates["dimension_value"] == f"within {months} months"].iloc[0]
    assert within["rate_relative_to_overall"] > 1  # the document's renewal-window effect


# --- statistical tests -------------------------------------------------------------------------


def test_feature_target_tests_match_scipy(
    warehouse: duckdb.DuckDBPyConnection, customers: pd.DataFrame, accounts: pd.DataFrame
) -> None:
    tests = table(warehouse, "marts.fct_feature_target_tests")
    frames = {"marketing": (customers, "conversion"), "b2b": (accounts, "response_flag")}
    features = VARS["analytics_features"]
    for use_case in frames:
        expected = {
            (f, t) for f in features[use_case]["numeric"] for t in ("welch_t", "mann_whitney_u")
        } | {(f, "chi_square") for f in features[use_case]["categorical"]}
        got = tests[tests["use_case"] == use_case]
        assert set(zip(got["feature"], got["test_name"], strict=True)) == expected
        assert "conversion_rate" not in set(got["feature"])
    for row in tests.itertuples():
        frame, target = frames[row.use_case]
        y = frame[target].astype(int)
        if row.test_name == "chi_square":
            chi2, p, dof, _ = stats.chi2_contingency(
                pd.crosstab(frame[row.feature], y), correction=False
            )
            statistic, effect = chi2, math.sqrt(chi2 / len(frame))
            assert row.degrees_of_freedom == dof
        else:
            x = frame[row.feature].astype(float)
            positive, negative = x[y == 1], x[y == 0]
            if row.test_name == "welch_t":
                result = stats.ttest_ind(positive, negative, equal_var=False)
                statistic, p = result.statistic, result.pvalue
                assert row.degrees_of_freedom == pytest.approx(result.df, rel=1e-9)
                pooled = math.sqrt(
                    ((len(positive) - 1) * positive.var() + (len(negative) - 1) * negative.var())
                    / (len(x) - 2)
                )
                effect = (positive.mean() - negative.mean()) / pooled
            else:
                result = stats.mannwhitneyu(
                    positive, negative, alternative="two-sided", method="asymptotic"
                )
                statistic, p = result.statistic, result.pvalue
                effect = 2 * statistic / (len(positive) * len(negative)) - 1
        assert row.statistic == pytest.approx(statistic, rel=STATISTIC_RTOL), row
        assert row.p_value == pytest.approx(p, abs=P_VALUE_ATOL), row
        assert row.effect_size == pytest.approx(effect, rel=1e-9, abs=1e-12), row
    for _, family in tests.groupby("use_case"):
        family = family.sort_values("p_value")
        p = family["p_value"].to_numpy()
        np.testing.assert_allclose(
            family["p_value_bh"], stats.false_discovery_control(p, method="bh"), atol=1e-12
        )
        m = len(p)
        holm = np.minimum(1, np.maximum.accumulate((m - np.arange(m)) * p))
        np.testing.assert_allclose(family["p_value_holm"], holm, atol=1e-12)
        assert (family["is_significant"] == (family["p_value_bh"] < ALPHA)).all()


def test_p_value_macros_over_a_wide_grid(tmp_path: Path) -> None:
    """The SQL tails against scipy well beyond the demo data: t with df from 1 to 1e7 and |t| up
    to 60, chi-square with df 1..40, normal z from -9 to 37 (tails down to 1e-300)."""
    t_grid = [
        (t, df)
        for df in (1, 2.5, 7.3, 30, 151.7, 999.9, 2.5e4, 1e7)
        for t in (0.0, 1e-6, 0.3, 1.0, 1.96, 2.5, 4.0, 8.0, 20.0, 60.0)
    ]
    chi_grid = [(x, df) for df in range(1, 41) for x in (0.0, 0.01, 0.5, 3.84, 10.0, 40.0, 150.0)]
    z_grid = [float(z) for z in np.linspace(-9, 37, 93)]

    def values(rows: list[tuple], columns: str) -> str:
        body = ", ".join("(" + ", ".join(f"cast({v!r} as double)" for v in r) + ")" for r in rows)
        return f"select * from (values {body}) as grid ({columns})"

    t_rows = [(i, t, df) for i, (t, df) in enumerate(t_grid)]
    chi_rows = [(i, x, df) for i, (x, df) in enumerate(chi_grid)]
    z_rows = [(i, z) for i, z in enumerate(z_grid)]
    sql = f"""
with
t_grid as ({values(t_rows, "id, t, df")}),
chi_grid as ({values(chi_rows, "id, x, df")}),
z_grid as ({values(z_rows, "id, z")}),
{{{{ student_t_p_values('t_p', 't_grid', ['id'], 't', 'df') }}}},
{{{{ chi_square_p_values('chi_p', 'chi_grid', ['id'], 'x', 'df') }}}},
z_p as (select id, {{{{ normal_sf('z') }}}} as p_value from z_grid)
select 't' as kind, id, p_value from t_p
union all select 'chi', id, p_value from chi_p
union all select 'z', id, p_value from z_p
"""
    result = run_dbt(["--quiet", "compile", "--inline", sql], tmp_path)
    assert result.ok, result.output[-3000:]
    compiled = result.output[result.output.index("with") :]
    with duckdb.connect() as connection:
        got = {(k, int(i)): p for k, i, p in connection.sql(compiled).fetchall()}
    worst = {"t": 0.0, "chi": 0.0, "z": 0.0}
    for i, (t, df) in enumerate(t_grid):
        # scipy's own t tail loses precision for df = 1 at tiny t: use the exact Cauchy form
        reference = 1 - 2 / math.pi * math.atan(t) if df == 1 else 2 * stats.t.sf(t, df)
        worst["t"] = max(worst["t"], abs(got[("t", i)] - reference))
    for i, (x, df) in enumerate(chi_grid):
        worst["chi"] = max(worst["chi"], abs(got[("chi", i)] - stats.chi2.sf(x, df)))
    for i, z in enumerate(z_grid):
        reference = stats.norm.sf(z)
        worst["z"] = max(worst["z"], abs(got[("z", i)] - reference) / reference)
    assert worst["t"] < 1e-11, worst
    assert worst["chi"] < 1e-13, worst
    assert worst["z"] < 1e-12, worst  # relative


# --- EDA bins and information value ------------------------------------------------------------


def qcut_bins(x: pd.Series, y: pd.Series, bins: int) -> pd.DataFrame:
    """pandas' reference: qcut with duplicate edges dropped, empty bins kept, NULLs as bin 0."""
    observed = x.notna()
    codes = pd.qcut(x[observed], bins, labels=False, duplicates="drop")
    n_bins = len(pd.qcut(x[observed], bins, duplicates="drop", retbins=True)[1]) - 1
    frame = pd.DataFrame({"bin_index": codes + 1, "y": y[observed]})
    if not observed.all():
        frame = pd.concat([frame, pd.DataFrame({"bin_index": 0, "y": y[~observed]})])
    out = frame.groupby("bin_index")["y"].agg(bin_rows="size", bin_events="sum")
    index = ([0] if not observed.all() else []) + list(range(1, max(n_bins, 1) + 1))
    return out.reindex(index, fill_value=0)


def woe_iv(counts: pd.DataFrame) -> pd.DataFrame:
    events, non_events = counts["bin_events"], counts["bin_rows"] - counts["bin_events"]
    k = len(counts)
    e = (events + SMOOTHING) / (events.sum() + SMOOTHING * k)
    n = (non_events + SMOOTHING) / (non_events.sum() + SMOOTHING * k)
    return counts.assign(woe=np.log(e / n), iv_contribution=(e - n) * np.log(e / n))


def test_response_rate_bins_match_pandas(
    warehouse: duckdb.DuckDBPyConnection, customers: pd.DataFrame, accounts: pd.DataFrame
) -> None:
    bins = table(warehouse, "marts.fct_response_rate_bins")
    observed_customers = customers.assign(
        click_through_rate=customers["click_through_rate"].mask(
            customers["is_click_through_rate_imputed"]
        ),
        pages_per_visit=customers["pages_per_visit"].mask(customers["is_pages_per_visit_imputed"]),
    )
    frames = {"marketing": (observed_customers, "conversion"), "b2b": (accounts, "response_flag")}
    features = VARS["analytics_features"]
    for use_case, (frame, target) in frames.items():
        y = frame[target].astype(int)
        for feature in features[use_case]["numeric"] + features[use_case]["categorical"]:
            got = bins[(bins["use_case"] == use_case) & (bins["feature"] == feature)]
            got = got.set_index("bin_index").sort_index()
            if feature in features[use_case]["numeric"]:
                expected = qcut_bins(frame[feature].astype(float), y, VARS["response_bins"])
            else:
                grouped = frame.groupby(feature)[target].agg(bin_rows="size", bin_events="sum")
                expected = grouped.sort_index().reset_index(drop=True)
                expected.index = expected.index + 1
                assert list(got["bin_label"]) == sorted(frame[feature].unique())
            expected = woe_iv(expected)
            assert list(got.index) == list(expected.index), (use_case, feature)
            assert (got["bin_rows"] == expected["bin_rows"]).all(), (use_case, feature)
            assert (got["bin_events"] == expected["bin_events"]).all(), (use_case, feature)
            np.testing.assert_allclose(got["woe"], expected["woe"], rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(
                got["iv_contribution"], expected["iv_contribution"], rtol=1e-9, atol=1e-15
            )
            assert got["row_share"].sum() == pytest.approx(1.0, abs=1e-12)
    # the observed (pre-imputation) click-through rate has its missing values in bin 0
    missing = bins[(bins["feature"] == "click_through_rate") & bins["is_missing_bin"]]
    assert missing["bin_rows"].item() == customers["is_click_through_rate_imputed"].sum() > 0


def test_information_value_summary(warehouse: duckdb.DuckDBPyConnection) -> None:
    bins = table(warehouse, "marts.fct_response_rate_bins")
    summary = table(warehouse, "marts.fct_feature_information_value")
    expected = bins.groupby(["use_case", "feature"])["iv_contribution"].sum()
    got = summary.set_index(["use_case", "feature"]).loc[expected.index]
    np.testing.assert_allclose(got["information_value"], expected, rtol=1e-12)
    cuts = VARS["iv_strength_bands"]
    assert (got["iv_strength"] == band(got["information_value"], cuts).to_numpy()).all()


def test_every_mart_column_is_documented_and_contracted(demo_build) -> None:
    manifest = demo_build.manifest()
    marts = [
        node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
        and re.match(r"marts/(marketing|b2b|analytics)/", node["path"])
    ]
    assert len(marts) == 11
    for node in marts:
        assert node["config"]["contract"]["enforced"], node["name"]
        assert node["columns"], node["name"]
        for column in node["columns"].values():
            assert column["description"] and column["data_type"], (node["name"], column["name"])
