"""Analytics marts: every number recomputed independently in pandas / scipy from the layer below.

The marts are built once by the shared `demo_build` fixture (the small generated demo data);
the expected values come from the declarations (use_cases/*.yml) and the prepared rows. The SQL
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
from leakproof.declarations import FEATURE_ROLES, load_project

pytestmark = pytest.mark.dbt

VARS = yaml.safe_load((PROJECT_ROOT / "dbt_project.yml").read_text())["vars"]
Z = VARS["interval_z"]
ALPHA = VARS["significance_level"]
SMOOTHING = VARS["woe_smoothing"]
DECLARATIONS = load_project(PROJECT_ROOT)
TARGETS = {name: d.target for name, d in DECLARATIONS.items()}
# the analytics features of a use case: its declared feature columns as prepared, by type
ANALYTICS_FEATURES = {
    name: {
        kind: [
            prepared
            for prepared, column in zip(
                d.raw_features, [c for c in d.columns if c.role in FEATURE_ROLES], strict=True
            )
            if column.is_numeric == (kind == "numeric")
        ]
        for kind in ("numeric", "categorical")
    }
    for name, d in DECLARATIONS.items()
}
# every (use case, analytics dimension) of fct_dimension_performance, and the what-if arm of
# fct_treatment_performance
DIMENSIONS = [
    (name, dimension) for name, d in DECLARATIONS.items() for dimension, _ in d.dimensions
]
ARM = " + ".join(DECLARATIONS["marketing"].what_if.treatments)
RATE_TABLES = [*DIMENSIONS, ("marketing", ARM)]
# Statistics equal scipy's to 1e-9 relative (the same formulas in double precision; observed
# <= 4e-12). p-values: absolute tolerance 1e-10 - the SQL tails are accurate to ~1e-13 (normal,
# chi-square) and ~1e-11 (t, incomplete-beta series), well inside it.
STATISTIC_RTOL = 1e-9
P_VALUE_ATOL = 1e-10


def table(connection: duckdb.DuckDBPyConnection, name: str) -> pd.DataFrame:
    return connection.sql(f"select * from {name}").df()


def known_values(use_case: str, dimension: str) -> list[str]:
    """The declared values of a dimension in order: accepted values, band labels, or none."""
    declaration = DECLARATIONS[use_case]
    if dimension == ARM:
        channels, platforms = (declaration.column(t).accepted_values for t in ARM.split(" + "))
        return [f"{c} + {p}" for c in channels for p in platforms]
    if dimension in declaration.segments:
        return [b.label for b in declaration.segments[dimension][1]]
    if any(dimension == name and sql for name, sql in declaration.dimensions):
        return []
    return list(declaration.column(dimension).accepted_values)


@pytest.fixture()
def labelled(warehouse: duckdb.DuckDBPyConnection) -> dict[str, pd.DataFrame]:
    """Each use case's labelled prepared rows (train + test), with every dimension as text."""
    frames = {}
    for name in DECLARATIONS:
        frames[name] = warehouse.sql(
            f"select * from intermediate.int_{name}__prepared where split in ('train', 'test')"
        ).df()
    b2b = frames["b2b"]
    b2b["renewal_window"] = np.where(
        b2b["contract_remaining_months"] <= 3, "within 3 months", "more than 3 months"
    )
    marketing = frames["marketing"]
    marketing[ARM] = marketing["campaign_channel"] + " + " + marketing["advertising_platform"]
    return frames


def rate_table(
    connection: duckdb.DuckDBPyConnection, use_case: str, dimension: str
) -> pd.DataFrame:
    """The cells of one dimension (or of the arms), indexed by value."""
    if dimension == ARM:
        cells = connection.sql(
            f"select * from marts.fct_treatment_performance where use_case = '{use_case}'"
        ).df()
        assert set(cells["treatments"]) == {ARM}
        return cells.set_index("arm")
    cells = connection.sql(
        "select * from marts.fct_dimension_performance "
        f"where use_case = '{use_case}' and dimension = '{dimension}'"
    ).df()
    return cells.set_index("dimension_value")


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


def band(values: pd.Series, bands: list[tuple[str, float | None]]) -> pd.Series:
    """pandas.cut with inclusive upper bounds (right-closed), the last band open-ended."""
    edges = [-np.inf] + [up_to for _, up_to in bands[:-1]] + [np.inf]
    return pd.cut(values, edges, labels=[label for label, _ in bands], right=True).astype(str)


# --- rate tables -------------------------------------------------------------------------------


@pytest.mark.parametrize(("use_case", "dimension"), RATE_TABLES)
def test_performance_counts_rates_and_intervals(
    warehouse: duckdb.DuckDBPyConnection,
    labelled: dict[str, pd.DataFrame],
    use_case: str,
    dimension: str,
) -> None:
    rows, target = labelled[use_case], TARGETS[use_case]
    spend = DECLARATIONS[use_case].spend
    mart = rate_table(warehouse, use_case, dimension)
    expected = rows.groupby(dimension).agg(
        labelled_rows=(target, "size"),
        positives=(target, "sum"),
        **({"total_spend": (spend, "sum")} if spend else {}),
    )
    observed = mart.loc[expected.index]
    assert (observed["labelled_rows"] == expected["labelled_rows"]).all()
    assert (observed["positives"] == expected["positives"]).all()
    # the complete grid: every declared value, observed or not, and nothing else unknown
    known = known_values(use_case, dimension)
    assert set(mart.index) == set(known) | set(expected.index)
    assert (mart["is_known_category"] == mart.index.isin(known)).all()
    if "value_order" in mart:
        order = {value: i + 1 for i, value in enumerate(known)}
        assert mart["value_order"].tolist() == [order.get(v, pd.NA) for v in mart.index]
    empty = mart.drop(index=expected.index)
    assert (empty["labelled_rows"] == 0).all() and empty["positive_rate"].isna().all()
    assert mart["labelled_rows"].sum() == len(rows)

    rate = expected["positives"] / expected["labelled_rows"]
    np.testing.assert_allclose(observed["positive_rate"], rate, rtol=1e-12)
    lower, upper = wilson(expected["positives"], expected["labelled_rows"])
    np.testing.assert_allclose(observed["positive_rate_ci_lower"], lower, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(observed["positive_rate_ci_upper"], upper, rtol=1e-9)
    overall = rows[target].mean()
    assert mart["overall_positive_rate"].to_numpy() == pytest.approx(overall, rel=1e-12)
    np.testing.assert_allclose(observed["rate_relative_to_overall"], rate / overall, rtol=1e-12)
    if spend:
        np.testing.assert_allclose(observed["total_spend"], expected["total_spend"], rtol=1e-12)
        np.testing.assert_allclose(
            observed["cost_per_positive"],
            (expected["total_spend"] / expected["positives"]).replace(np.inf, np.nan),
            rtol=1e-12,
        )
    else:
        assert mart[["total_spend", "cost_per_positive"]].isna().all().all()
    shares = ["row_share"] + (["spend_share", "positive_share"] if "spend_share" in mart else [])
    for share in shares:
        if share == "spend_share" and not spend:
            assert mart[share].isna().all()
            continue
        assert mart[share].sum() == pytest.approx(1.0, abs=1e-12)
    ranks = rate.rank(method="min", ascending=False)
    assert (observed["positive_rate_rank"] == ranks).all()


@pytest.mark.parametrize(("use_case", "dimension"), RATE_TABLES)
def test_gap_to_best_z_test_and_bonferroni(
    warehouse: duckdb.DuckDBPyConnection,
    labelled: dict[str, pd.DataFrame],
    use_case: str,
    dimension: str,
) -> None:
    mart = rate_table(warehouse, use_case, dimension).reset_index()
    overall = labelled[use_case][TARGETS[use_case]].mean()
    adequate = mart[mart["labelled_rows"] * overall >= VARS["min_expected_events"]]
    assert (mart["is_below_min_sample"] == ~mart.index.isin(adequate.index)).all()
    pool = adequate if len(adequate) >= 1 else mart[mart["labelled_rows"] > 0]
    best = pool.sort_values("positive_rate", ascending=False).iloc[0]
    assert mart["is_best"].sum() == 1
    assert mart.loc[mart["is_best"], "positive_rate"].item() == best["positive_rate"]
    k = len(adequate) if len(adequate) >= 2 else int((mart["labelled_rows"] > 0).sum())
    compared = mart[(mart["labelled_rows"] > 0) & ~mart["is_best"]]
    assert len(compared) > 0
    for row in compared.itertuples():
        assert row.rate_gap_to_best == pytest.approx(best["positive_rate"] - row.positive_rate)
        s = row.positives + best["positives"]
        if s == 0 or s == row.labelled_rows + best["labelled_rows"]:
            assert pd.isna(row.gap_to_best_p_value_adjusted)
            continue
        p = two_proportion_p(
            best["positives"], best["labelled_rows"], row.positives, row.labelled_rows
        )
        adjusted = min(1.0, p * k * (k - 1) / 2)
        if "gap_to_best_p_value" in mart:
            assert row.gap_to_best_p_value == pytest.approx(p, abs=P_VALUE_ATOL)
            assert row.pairwise_comparisons == k * (k - 1) / 2
        assert row.gap_to_best_p_value_adjusted == pytest.approx(adjusted, abs=1e-9)
        assert row.is_gap_to_best_significant == (adjusted < ALPHA)


def test_treatment_grid_is_complete(warehouse: duckdb.DuckDBPyConnection) -> None:
    grid = rate_table(warehouse, "marketing", ARM)
    marketing = DECLARATIONS["marketing"]
    channels = marketing.column("campaign_channel").accepted_values
    platforms = marketing.column("advertising_platform").accepted_values
    known_cells = grid[grid["is_known_category"]]
    assert len(known_cells) == len(channels) * len(platforms) == 49
    assert set(known_cells.index) == {f"{c} + {p}" for c in channels for p in platforms}
    assert "Referral + Facebook" in known_cells.index


def test_grid_with_a_missing_category_shows_empty_cells(demo_raw_dir: Path, tmp_path: Path) -> None:
    """A file without any X rows (under any declared spelling) still has the 7 X arms, empty, and
    X in the platform table, empty."""
    platform = DECLARATIONS["marketing"].column("AdvertisingPlatform")
    x_keys = {
        re.sub("[^a-z0-9]+", "", spelling.lower())
        for spelling in ["X", *(a for a, value in platform.aliases.items() if value == "X")]
    }
    assert x_keys == {"x", "twitter"}
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
            "+fct_treatment_performance",
            "+fct_dimension_performance",
            "--indirect-selection",
            "cautious",
        ],
        tmp_path,
        raw_dir=raw,
    )
    assert result.ok, result.output[-3000:]
    with duckdb.connect(str(result.warehouse), read_only=True) as connection:
        cells = connection.sql(
            "select arm, labelled_rows, positive_rate from marts.fct_treatment_performance "
            "where arm like '% + X' and is_known_category order by arm"
        ).fetchall()
        platform_cell = connection.sql(
            "select labelled_rows, positive_rate, value_order, positive_rate_rank "
            "from marts.fct_dimension_performance "
            "where dimension = 'advertising_platform' and dimension_value = 'X'"
        ).fetchall()
    assert [arm for arm, *_ in cells] == sorted(
        f"{c} + X" for c in DECLARATIONS["marketing"].column("campaign_channel").accepted_values
    )
    assert all(rows == 0 and rate is None for _, rows, rate in cells)
    assert platform_cell == [(0, None, 7, None)]


def test_segment_performance(
    warehouse: duckdb.DuckDBPyConnection, labelled: dict[str, pd.DataFrame]
) -> None:
    segments = table(warehouse, "marts.fct_segment_performance")
    for (use_case, segment_type, dimension), part in segments.groupby(
        ["use_case", "segment_type", "dimension"]
    ):
        assert part["labelled_rows"].sum() == len(labelled[use_case]), (segment_type, dimension)
        assert part["row_share"].sum() == pytest.approx(1.0, abs=1e-12)
    expected_dimensions = {
        name: {"(all)", *(dimension for dimension, _ in d.dimensions)}
        | ({ARM} if len(d.what_if.treatments if d.what_if else ()) > 1 else set())
        for name, d in DECLARATIONS.items()
    }
    for use_case, dimensions in expected_dimensions.items():
        got = segments[segments["use_case"] == use_case]
        assert set(got["segment_type"]) == set(DECLARATIONS[use_case].segments)
        assert set(got["dimension"]) == dimensions
    # the bands of every declared segment, recomputed from the segment's column
    for use_case, declaration in DECLARATIONS.items():
        rows = labelled[use_case]
        for segment_type, (column, bands) in declaration.segments.items():
            expected = band(rows[column], [(b.label, b.up_to) for b in bands]).value_counts()
            alone = segments[
                (segments["use_case"] == use_case)
                & (segments["segment_type"] == segment_type)
                & (segments["dimension"] == "(all)")
            ].set_index("segment_value")
            order = dict(zip(alone.index, alone["segment_order"], strict=True))
            assert order == {b.label: i + 1 for i, b in enumerate(bands)}
            assert (alone.loc[expected.index, "labelled_rows"] == expected).all()
            assert (alone["dimension_value"] == "(all)").all()
    # the marketing document's segments, with one filter each
    marketing = labelled["marketing"]
    high_income = marketing[marketing["income"] > 80_000]
    young = marketing[marketing["age"] <= 29]
    for segment_type, value, members in (
        ("income_tier", "high", high_income),
        ("age_group", "18-29", young),
    ):
        mine = segments[
            (segments["use_case"] == "marketing")
            & (segments["segment_type"] == segment_type)
            & (segments["segment_value"] == value)
        ]
        row = mine[mine["dimension"] == "(all)"].iloc[0]
        assert row["labelled_rows"] == len(members)
        segment_rate = members["conversion"].mean()
        assert row["positive_rate"] == pytest.approx(segment_rate, rel=1e-12)
        for dimension in (ARM, "campaign_channel"):
            by_value = members.groupby(dimension)["conversion"]
            cells = mine[mine["dimension"] == dimension].set_index("dimension_value")
            counts = by_value.size()
            assert (cells.loc[counts.index, "labelled_rows"] == counts).all()
            assert (cells["segment_positive_rate"] == segment_rate).all()
            np.testing.assert_allclose(
                cells.loc[counts.index, "rate_relative_to_segment"],
                by_value.mean() / segment_rate,
                rtol=1e-12,
            )
            non_empty = cells[cells["labelled_rows"] > 0]
            ranks = non_empty["positive_rate"].rank(method="min", ascending=False)
            assert (non_empty["rank_within_segment"] == ranks).all()
        assert len(mine[mine["dimension"] == ARM]) == 49


def test_budget_reallocation_recomputed_from_performance_tables(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    reallocation = table(warehouse, "marts.fct_budget_reallocation")
    # b2b declares no spend: nothing to reallocate
    assert set(reallocation["use_case"]) == {"marketing"}
    reallocation = reallocation.set_index("dimension")
    marketing = DECLARATIONS["marketing"]
    share = marketing.reallocation_share
    assert set(reallocation.index) <= set(marketing.reallocate)
    for dimension in marketing.reallocate:
        cells = rate_table(warehouse, "marketing", dimension).reset_index()
        adequate = cells[~cells["is_below_min_sample"] & (cells["total_spend"] > 0)]
        if len(adequate) < 2:
            assert dimension not in reallocation.index
            continue
        best = cells[cells["is_best"]].iloc[0]
        worst = adequate.sort_values(
            ["positive_rate", "labelled_rows", "dimension_value"], ascending=[True, False, True]
        ).iloc[0]
        row = reallocation.loc[dimension]
        assert (row["from_value"], row["to_value"]) == (
            worst["dimension_value"],
            best["dimension_value"],
        )
        assert (row["from_labelled_rows"], row["from_positives"]) == (
            worst["labelled_rows"],
            worst["positives"],
        )
        assert (row["to_labelled_rows"], row["to_positives"]) == (
            best["labelled_rows"],
            best["positives"],
        )
        shifted = share * worst["total_spend"]
        change = shifted * (
            best["positives"] / best["total_spend"] - worst["positives"] / worst["total_spend"]
        )
        assert row["reallocation_share"] == share
        assert row["shifted_spend"] == pytest.approx(shifted, rel=1e-12)
        assert row["expected_positive_change"] == pytest.approx(change, rel=1e-9, abs=1e-12)
        assert row["expected_positive_change"] == pytest.approx(
            row["expected_positives_gained"] - row["expected_positives_forgone"], rel=1e-9
        )
        # Newcombe / MOVER from the two Wilson intervals, scaled by rows per dollar
        a_best = best["labelled_rows"] / best["total_spend"]
        a_worst = worst["labelled_rows"] / worst["total_spend"]
        (lb,), (ub,) = wilson(np.array([best["positives"]]), np.array([best["labelled_rows"]]))
        (lw,), (uw,) = wilson(np.array([worst["positives"]]), np.array([worst["labelled_rows"]]))
        pb, pw = best["positive_rate"], worst["positive_rate"]
        below = shifted * math.hypot(a_best * (pb - lb), a_worst * (uw - pw))
        above = shifted * math.hypot(a_best * (ub - pb), a_worst * (pw - lw))
        assert row["expected_positive_change_ci_lower"] == pytest.approx(change - below, rel=1e-9)
        assert row["expected_positive_change_ci_upper"] == pytest.approx(change + above, rel=1e-9)
        assert row["relative_rate_gap"] == pytest.approx(pb / pw - 1, rel=1e-12)
        p = two_proportion_p(
            best["positives"], best["labelled_rows"], worst["positives"], worst["labelled_rows"]
        )
        assert row["rate_gap_p_value"] == pytest.approx(p, abs=P_VALUE_ATOL)
        assert row["evidence"] == "correlational"
        assert "not random" in row["caveat"]
        assert row["recommendation"].startswith(
            f"Shift {round(share * 100)}% of {worst['dimension_value']} spend"
        )
        assert f") to {best['dimension_value']}: expected" in row["recommendation"]


def test_b2b_response_rates(
    warehouse: duckdb.DuckDBPyConnection, labelled: dict[str, pd.DataFrame]
) -> None:
    """The B2B document's response rates by industry, region, size band and renewal window are
    the b2b slice of fct_dimension_performance (values checked above); the document's
    renewal-window effect shows."""
    accounts = labelled["b2b"]
    rates = table(warehouse, "marts.fct_dimension_performance")
    rates = rates[rates["use_case"] == "b2b"]
    assert set(rates["dimension"]) == {
        "industry",
        "region",
        "company_size_band",
        "renewal_window",
    }
    assert rates["overall_positive_rate"].to_numpy() == pytest.approx(
        accounts["response_flag"].mean(), rel=1e-12
    )
    within = rates[rates["dimension_value"] == "within 3 months"].iloc[0]
    assert within["labelled_rows"] == (accounts["contract_remaining_months"] <= 3).sum()
    assert within["rate_relative_to_overall"] > 1


# --- statistical tests -------------------------------------------------------------------------


def test_feature_target_tests_match_scipy(
    warehouse: duckdb.DuckDBPyConnection, labelled: dict[str, pd.DataFrame]
) -> None:
    tests = table(warehouse, "marts.fct_feature_target_tests")
    frames = {name: (labelled[name], TARGETS[name]) for name in DECLARATIONS}
    features = ANALYTICS_FEATURES
    assert "ad_spend_capped" in features["marketing"]["numeric"]
    assert features["b2b"]["categorical"] == ["industry", "region"]
    for use_case in frames:
        expected = {
            (f, t) for f in features[use_case]["numeric"] for t in ("welch_t", "mann_whitney_u")
        } | {(f, "chi_square") for f in features[use_case]["categorical"]}
        got = tests[tests["use_case"] == use_case]
        assert set(zip(got["feature"], got["test_name"], strict=True)) == expected
        assert not set(got["feature"]) & set(DECLARATIONS[use_case].blocked_columns)
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
    warehouse: duckdb.DuckDBPyConnection, labelled: dict[str, pd.DataFrame]
) -> None:
    bins = table(warehouse, "marts.fct_response_rate_bins")
    customers = labelled["marketing"]
    # imputed columns are binned as observed (before imputation)
    imputed = DECLARATIONS["marketing"].impute
    assert set(imputed) == {"click_through_rate", "pages_per_visit"}
    observed_customers = customers.assign(
        **{c: customers[c].mask(customers[f"is_{c}_imputed"]) for c in imputed}
    )
    frames = {
        "marketing": (observed_customers, "conversion"),
        "b2b": (labelled["b2b"], "response_flag"),
    }
    features = ANALYTICS_FEATURES
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
    cuts = [(b["label"], b.get("up_to")) for b in VARS["iv_strength_bands"]]
    assert (got["iv_strength"] == band(got["information_value"], cuts).to_numpy()).all()


def test_every_mart_column_is_documented_and_contracted(demo_build) -> None:
    manifest = demo_build.manifest()
    marts = [
        node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
        and re.match(r"marts/(data_quality|performance|analytics)/", node["path"])
    ]
    assert len(marts) == 11  # fct_rejected_lines among them
    for node in marts:
        assert node["config"]["contract"]["enforced"], node["name"]
        assert node["columns"], node["name"]
        for column in node["columns"].values():
            assert column["description"] and column["data_type"], (node["name"], column["name"])
