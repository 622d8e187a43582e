"""Tests of the synthetic demo-data generator: the seed's statistics, truth, faults, determinism."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import roc_auc_score

from leakproof import cli
from leakproof.generate import customers as C
from leakproof.generate import faults as F
from leakproof.generate import generate, pipeline
from leakproof.generate import params as P

CATEGORIES = {
    "Gender": P.GENDERS,
    "CampaignChannel": P.CHANNELS,
    "CampaignType": P.CAMPAIGN_TYPES,
    "AdvertisingPlatform": P.PLATFORMS,
    "AdvertisingTool": P.TOOLS,
}
ACCOUNT_CATEGORIES = {"industry": tuple(P.INDUSTRIES), "region": tuple(P.REGIONS)}


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def read_raw(path: Path) -> pd.DataFrame:
    """A raw CSV exactly as written: every cell a string, only empty cells missing."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])


def numeric(values: pd.Series) -> pd.Series:
    """Strict number parsing: anything unparseable becomes NaN."""
    return pd.to_numeric(values, errors="coerce")


def unparseable(values: pd.Series) -> pd.Series:
    return values.notna() & numeric(values).isna()


def canonicalise(values: pd.Series, column: str, names: tuple[str, ...]) -> pd.Series:
    """What the staging layer does: the misspelling map, then trim + case-insensitive match."""
    spelling = {v: k for k, vs in P.MISSPELLINGS.get(column, {}).items() for v in vs}
    by_key = {n.casefold(): n for n in names}
    fixed = values.map(lambda v: spelling.get(v, v))
    return fixed.str.strip().str.casefold().map(by_key)


def fault_class(values: pd.Series, column: str, names: tuple[str, ...]) -> pd.Series:
    """'ok', 'misspelled' or 'miscased_or_padded' per value."""
    variants = {v for vs in P.MISSPELLINGS.get(column, {}).values() for v in vs}
    casefolded = {n.casefold() for n in names}
    out = pd.Series("unknown", index=values.index)
    out[values.isin(names)] = "ok"
    out[values.isin(variants)] = "misspelled"
    miscased = ~values.isin(names) & ~values.isin(variants)
    miscased &= values.str.strip().str.casefold().isin(casefolded)
    out[miscased] = "miscased_or_padded"
    return out


def psi(reference: np.ndarray, new: np.ndarray, bins: int = 10) -> float:
    """Population stability index on the reference's deciles."""
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
    ref = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=len(edges) + 1)
    cur = np.bincount(np.searchsorted(edges, new, side="right"), minlength=len(edges) + 1)
    ref_share = np.clip(ref / ref.sum(), 1e-4, None)
    cur_share = np.clip(cur / cur.sum(), 1e-4, None)
    return float(((cur_share - ref_share) * np.log(cur_share / ref_share)).sum())


def conversion_by(frame: pd.DataFrame, column: str) -> pd.Series:
    return frame.groupby(column)["Conversion"].mean()


# --------------------------------------------------------------------------------------------
# fixtures: the default dataset once per session, a few small ones
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def default(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("default")
    summary = generate(out)
    raw = read_raw(out / "customers.csv")
    clean = raw.drop_duplicates().copy()
    for col, names in CATEGORIES.items():
        clean[col] = canonicalise(clean[col], col, names)
    for col in ("CustomerID", "Age", "Income", "AdSpend", "Conversion", "ConversionRate"):
        clean[col] = numeric(clean[col])
    return {
        "out": out,
        "summary": summary,
        "raw": raw,
        "clean": clean,
        "scoring": read_raw(out / "customers_scoring.csv"),
        "accounts": read_raw(out / "accounts.csv"),
        "truth": pd.read_parquet(out / "_truth" / "customers_truth.parquet"),
        "accounts_truth": pd.read_parquet(out / "_truth" / "accounts_truth.parquet"),
        "truth_json": json.loads((out / "_truth" / "truth.json").read_text()),
    }


@pytest.fixture(scope="session")
def labelled_accounts(default: dict[str, Any]) -> pd.DataFrame:
    accounts = default["accounts"].drop_duplicates()
    accounts = accounts.assign(
        account_id=accounts["account_id"].astype(int),
        campaign_wave=accounts["campaign_wave"].astype(int),
    )
    return accounts.merge(default["accounts_truth"], on=["account_id", "campaign_wave"])


def small(out: Path, **kwargs: Any) -> dict[str, Any]:
    params = {"rows": 3_000, "b2b_rows": 1_200, "seed": 7} | kwargs
    return generate(out, **params)


# --------------------------------------------------------------------------------------------
# the files and their columns
# --------------------------------------------------------------------------------------------
def test_files_columns_and_row_counts(default: dict[str, Any]) -> None:
    out, summary = default["out"], default["summary"]
    assert list(default["raw"].columns) == list(P.CUSTOMER_COLUMNS)
    assert len(P.CUSTOMER_COLUMNS) == 20
    assert list(default["scoring"].columns) == list(P.SCORING_COLUMNS)
    assert list(default["accounts"].columns) == [
        "account_id",
        "campaign_wave",
        "wave_date",
        "industry",
        "region",
        "company_size",
        "annual_revenue",
        "website_visits_30d",
        "contract_remaining_months",
        "response_flag",
    ]
    faults = summary["faults"]
    assert summary["files"] == {
        "customers.csv": 48_000 + faults["customers"]["duplicate_rows"],
        "customers_scoring.csv": 4_800 + faults["customers_scoring"]["duplicate_rows"],
        "accounts.csv": 20_000 + faults["accounts"]["duplicate_rows"],
    }
    assert len(default["raw"]) == summary["files"]["customers.csv"]
    assert default["clean"]["CustomerID"].nunique() == len(default["clean"]) == 48_000
    assert sorted(p.name for p in (out / "_truth").iterdir()) == sorted(pipeline.TRUTH_FILES)
    assert not list(out.glob("*.partial"))


def test_scoring_batch_is_new_customers_from_the_same_population(default: dict[str, Any]) -> None:
    scoring = default["scoring"].drop_duplicates()
    ids = scoring["CustomerID"].astype(int)
    assert "Conversion" not in scoring.columns and "ConversionRate" not in scoring.columns
    assert ids.is_unique and len(ids) == 4_800
    assert ids.min() == 48_001 and ids.max() == 52_800
    assert not set(ids) & set(default["clean"]["CustomerID"])
    for col in ("Income", "WebsiteVisits", "TimeOnSite", "LoyaltyPoints"):
        train = numeric(default["clean"][col]).dropna().to_numpy()
        new = numeric(scoring[col]).dropna().to_numpy()
        assert psi(train, new) < 0.05, col
    assert default["summary"]["faults"]["customers_scoring"]["miscased_or_padded"] > 0


# --------------------------------------------------------------------------------------------
# the seed's statistics
# --------------------------------------------------------------------------------------------
def test_overall_conversion_rate(default: dict[str, Any]) -> None:
    rate = default["clean"]["Conversion"].mean()
    assert rate == pytest.approx(0.013, abs=0.0015)
    assert rate == pytest.approx(default["summary"]["conversion_rate"])
    assert C.expected_rates()["overall"]["all"] == pytest.approx(0.013, abs=1e-6)


def test_channel_platform_tool_orderings(default: dict[str, Any]) -> None:
    clean = default["clean"]
    channel = conversion_by(clean, "CampaignChannel")
    platform = conversion_by(clean, "AdvertisingPlatform")
    tool = conversion_by(clean, "AdvertisingTool")
    assert set(channel.index) == set(P.CHANNELS) and set(platform.index) == set(P.PLATFORMS)
    assert channel.idxmax() == "Referral"
    assert channel.idxmin() == "SEO"
    assert platform["Facebook"] > platform["YouTube"]
    assert tool["Google Ads"] > tool["Meta Ads Manager"]
    # the canonicalised file agrees with the summary computed from the clean draws
    summary = default["summary"]["conversion_rate_by"]
    assert channel.to_dict() == pytest.approx(summary["channel"])
    assert tool.to_dict() == pytest.approx(summary["tool"])


def test_expected_marginals_follow_the_design() -> None:
    expected = C.expected_rates()
    for name, rate in P.DESIGN_CHANNEL_RATES.items():
        assert expected["channel"][name] == pytest.approx(rate, abs=0.0001)
    for name, rate in P.DESIGN_PLATFORM_RATES.items():
        assert expected["platform"][name] == pytest.approx(rate, abs=0.0001)
    assert expected["tool"]["Google Ads"] == pytest.approx(0.0140, abs=0.0002)
    assert expected["tool"]["Meta Ads Manager"] == pytest.approx(0.0113, abs=0.0002)


def test_main_effects_are_reproducible_by_raking() -> None:
    channel, platform = C.rake_main_effects(P.DESIGN_CHANNEL_RATES, P.DESIGN_PLATFORM_RATES)
    assert channel == pytest.approx(P.CHANNEL_EFFECTS, abs=0.001)
    assert platform == pytest.approx(P.PLATFORM_EFFECTS, abs=0.001)


def test_missing_values_and_spend_outliers(default: dict[str, Any]) -> None:
    clean = default["clean"]
    for col in ("ClickThroughRate", "PagesPerVisit"):
        assert clean[col].isna().mean() == pytest.approx(0.05, abs=0.01), col
    spend = clean["AdSpend"].dropna()
    assert (spend > 9_000).sum() > 0.005 * len(spend)
    assert spend.max() <= 25_000
    assert ((spend.abs() >= 100) & (spend.abs() <= 9_000)).mean() > 0.98


def test_clean_value_ranges(default: dict[str, Any]) -> None:
    clean = default["clean"]
    age = clean["Age"].dropna()
    plausible = age[~age.isin(P.IMPOSSIBLE_AGES)]
    assert plausible.between(18, 69).all() and {18, 69} <= set(plausible)
    assert clean["Income"].dropna().between(20_000, 150_000).all()
    ctr = numeric(clean["ClickThroughRate"]).dropna()
    assert ctr[ctr <= 1].between(0.01, 0.30).all()
    ranges = {
        "PagesPerVisit": (1, 10),
        "TimeOnSite": (0.5, 15),
        "WebsiteVisits": (0, 49),
        "SocialShares": (0, 99),
        "EmailOpens": (0, 19),
        "EmailClicks": (0, 9),
        "PreviousPurchases": (0, 9),
        "LoyaltyPoints": (0, 4_999),
    }
    for col, (low, high) in ranges.items():
        assert numeric(clean[col]).dropna().between(low, high).all(), col
    assert (numeric(clean["EmailClicks"]) <= numeric(clean["EmailOpens"])).all()
    assert set(clean["CampaignType"]) == set(P.CAMPAIGN_TYPES)
    assert set(clean["Gender"]) == {"Male", "Female"}


def test_conversion_rate_is_the_seed_leak(default: dict[str, Any]) -> None:
    clean = default["clean"]
    converted = clean["Conversion"] == 1
    assert set(clean["Conversion"]) == {0, 1}
    assert (clean.loc[~converted, "ConversionRate"] == 0).all()
    assert (clean.loc[converted, "ConversionRate"] > 0).all()
    assert roc_auc_score(clean["Conversion"], clean["ConversionRate"]) > 0.999


def test_oracle_auc(default: dict[str, Any]) -> None:
    truth = default["truth"]
    train = truth[truth["population"] == "train"]
    merged = default["clean"][["CustomerID", "Conversion"]].merge(train, on="CustomerID")
    assert len(merged) == 48_000
    assert (merged["Conversion"] == merged["conversion_realised"]).all()
    auc = roc_auc_score(merged["Conversion"], merged["p_realised"])
    assert 0.72 <= auc <= 0.78


# --------------------------------------------------------------------------------------------
# the ground truth: heterogeneity, confounding, positivity
# --------------------------------------------------------------------------------------------
def test_truth_sidecar_columns(default: dict[str, Any]) -> None:
    truth = default["truth"]
    p_columns = [f"p__{c}__{p}" for c in P.CHANNELS for p in P.PLATFORMS]
    assert len(p_columns) == 49 and set(p_columns) <= set(truth.columns)
    assert "p__Social Media__Google Search" in truth.columns
    assert (truth[p_columns].dtypes == np.float32).all()
    assert truth["CustomerID"].is_unique and len(truth) == 48_000 + 4_800
    assert truth["population"].value_counts().to_dict() == {"train": 48_000, "scoring": 4_800}
    realised = [
        truth.at[i, f"p__{c}__{p}"]
        for i, c, p in zip(
            truth.index[:500], truth["realised_channel"], truth["realised_platform"], strict=False
        )
    ]
    assert np.allclose(realised, truth["p_realised"].iloc[:500])


def test_heterogeneous_best_combinations(default: dict[str, Any]) -> None:
    merged = default["clean"][["CustomerID", "Age", "Income"]].merge(
        default["truth"], on="CustomerID"
    )
    p_columns = [f"p__{c}__{p}" for c in P.CHANNELS for p in P.PLATFORMS]
    high_income = merged[merged["Income"] > 80_000]
    young = merged[merged["Age"].between(18, 29)]
    assert high_income[p_columns].mean().idxmax() == "p__Display__LinkedIn"
    assert young[p_columns].mean().idxmax() == "p__Social Media__Instagram"
    # most individuals of each segment share the segment's best combination
    assert (high_income[p_columns].idxmax(axis=1) == "p__Display__LinkedIn").mean() > 0.7
    assert (young[p_columns].idxmax(axis=1) == "p__Social Media__Instagram").mean() > 0.9
    # and everyone else is best served by something else
    rest = merged[(merged["Income"] <= 75_000) & merged["Age"].between(31, 69)]
    best_rest = rest[p_columns].idxmax(axis=1)
    assert not best_rest.isin(["p__Display__LinkedIn", "p__Social Media__Instagram"]).any()


def test_assignment_is_confounded_but_positive(default: dict[str, Any]) -> None:
    merged = default["clean"][["CustomerID", "Age", "Income"]].merge(
        default["truth"], on="CustomerID"
    )
    social = merged["realised_channel"] == "Social Media"
    share_young = social[merged["Age"].between(18, 29)].mean()
    share_old = social[merged["Age"].between(51, 69)].mean()
    assert share_young - share_old > 0.10
    linkedin = merged["realised_platform"] == "LinkedIn"
    assert linkedin[merged["Income"] > 80_000].mean() > linkedin[merged["Income"] < 40_000].mean()
    assert merged["propensity_realised"].min() >= 0.002
    _, _, propensity = C.reference_population()
    assert propensity.min() >= 0.002
    assert propensity.max() > 0.05  # clearly non-uniform (uniform would be 1/49 = 0.0204)


# --------------------------------------------------------------------------------------------
# B2B accounts
# --------------------------------------------------------------------------------------------
def test_b2b_response_rate_and_weak_signal(labelled_accounts: pd.DataFrame) -> None:
    labelled = labelled_accounts[labelled_accounts["campaign_wave"] < P.N_WAVES]
    response = labelled["response_flag"].astype(int)
    assert response.mean() == pytest.approx(0.196, abs=0.015)
    top = labelled["p_response"].rank(ascending=False, method="first") <= 0.2 * len(labelled)
    assert 0.25 <= response[top].mean() <= 0.30
    assert 0.58 <= roc_auc_score(response, labelled["p_response"]) <= 0.66
    # the seed's business rules carry signal
    renewal = labelled["contract_remaining_months"].astype(int) <= 3
    engaged = labelled["website_visits_30d"].astype(int) >= 5
    large = labelled["company_size"].astype(int) >= 800
    for rule in (renewal, engaged, large):
        assert response[rule].mean() > response[~rule].mean() + 0.02


def test_b2b_waves_recur_and_newest_is_unscored(labelled_accounts: pd.DataFrame) -> None:
    waves = labelled_accounts["campaign_wave"]
    assert sorted(waves.unique()) == [1, 2, 3, 4, 5, 6]
    assert labelled_accounts.loc[waves == 6, "response_flag"].isna().all()
    assert set(labelled_accounts.loc[waves < 6, "response_flag"]) == {"0", "1"}
    assert labelled_accounts.groupby("account_id")["campaign_wave"].nunique().max() > 1
    assert labelled_accounts["wave_date"].min() == P.WAVE_DATES[0]
    assert labelled_accounts["industry"].nunique() >= 6


def test_b2b_psi_stable_then_drifted(labelled_accounts: pd.DataFrame) -> None:
    frame = labelled_accounts.assign(
        company_size=labelled_accounts["company_size"].astype(int),
        website_visits_30d=labelled_accounts["website_visits_30d"].astype(int),
    )
    stable = frame[frame["campaign_wave"] < 6]
    newest = frame[frame["campaign_wave"] == 6]
    for col in ("company_size", "website_visits_30d", "p_response"):
        for wave in range(1, 6):
            one = stable[stable["campaign_wave"] == wave][col].to_numpy()
            others = stable[stable["campaign_wave"] != wave][col].to_numpy()
            assert psi(others, one) < 0.1, (col, wave)
        assert psi(stable[col].to_numpy(), newest[col].to_numpy()) > 0.25, col


def test_drift_shift_zero_keeps_the_newest_wave_stable(tmp_path: Path) -> None:
    small(tmp_path, rows=500, b2b_rows=12_000, drift_shift=0.0)
    truth = pd.read_parquet(tmp_path / "_truth" / "accounts_truth.parquet")
    accounts = read_raw(tmp_path / "accounts.csv").drop_duplicates()
    newest = accounts["campaign_wave"] == "6"
    size = accounts["company_size"].astype(int).to_numpy()
    assert psi(size[~newest], size[newest]) < 0.1
    score = truth["p_response"].to_numpy()
    assert psi(score[truth["campaign_wave"] < 6], score[truth["campaign_wave"] == 6]) < 0.1


# --------------------------------------------------------------------------------------------
# faults
# --------------------------------------------------------------------------------------------
def observed_customer_faults(raw: pd.DataFrame) -> dict[str, int]:
    distinct = raw.drop_duplicates()
    classes = pd.concat(
        [fault_class(distinct[c], c, names) for c, names in CATEGORIES.items()], axis=1
    )
    age = numeric(distinct["Age"])
    ctr = numeric(distinct["ClickThroughRate"])
    observed = {
        "duplicate_rows": int(raw.duplicated().sum()),
        "unparseable_number": int(
            sum(unparseable(distinct[c]).sum() for c in P.UNPARSEABLE_COLUMNS)
        ),
        "negative_adspend": int((numeric(distinct["AdSpend"]) < 0).sum()),
        "impossible_age": int((~age.between(18, 69)).sum()),
        "ctr_above_one": int((ctr > 1).sum()),
        "misspelled": int((classes == "misspelled").sum().sum()),
        "miscased_or_padded": int((classes == "miscased_or_padded").sum().sum()),
        "missing_ClickThroughRate": int(distinct["ClickThroughRate"].isna().sum()),
        "missing_PagesPerVisit": int(distinct["PagesPerVisit"].isna().sum()),
    }
    assert not (classes == "unknown").any().any()
    return observed


def test_fault_counts_match_the_files(default: dict[str, Any]) -> None:
    recorded = default["truth_json"]["faults"]
    assert observed_customer_faults(default["raw"]) == recorded["customers"]
    assert observed_customer_faults(default["scoring"]) == recorded["customers_scoring"]
    accounts = default["accounts"]
    distinct = accounts.drop_duplicates()
    classes = pd.concat(
        [fault_class(distinct[c], c, names) for c, names in ACCOUNT_CATEGORIES.items()], axis=1
    )
    assert recorded["accounts"] == {
        "duplicate_rows": int(accounts.duplicated().sum()),
        "miscased_or_padded": int((classes == "miscased_or_padded").sum().sum()),
        "unparseable_number": int(unparseable(distinct["annual_revenue"]).sum()),
    }


def test_fault_rates_are_small_and_documented(default: dict[str, Any]) -> None:
    counts = default["truth_json"]["faults"]["customers"]
    n = 48_000
    assert counts["duplicate_rows"] / n == pytest.approx(0.005, abs=0.002)
    assert counts["miscased_or_padded"] / n == pytest.approx(0.010, abs=0.002)
    assert counts["misspelled"] / n == pytest.approx(0.003, abs=0.001)
    for kind in ("unparseable_number", "negative_adspend", "impossible_age", "ctr_above_one"):
        assert 0 < counts[kind] / n < 0.002, kind
    doc = (Path(__file__).parents[2] / "docs" / "generator.md").read_text()
    for variants in P.MISSPELLINGS.values():
        for spellings in variants.values():
            for spelling in spellings:
                assert f"`{spelling}`" in doc, spelling


def test_miscase_and_misspell_units() -> None:
    values = np.array(["PPC", "SEO", "X", "Referral", "Google Search", "DV360"] * 10)
    u = np.linspace(0, 0.999, values.size)
    faulty = F.miscase(values, u)
    assert (faulty != values).all()
    assert (np.strings.lower(np.strings.strip(faulty)) == np.strings.lower(values)).all()
    index = np.arange(len(P.CHANNELS))
    spelled = F.misspell("CampaignChannel", index, np.full(index.size, 0.99))
    for i, value in enumerate(spelled):
        assert value in P.MISSPELLINGS["CampaignChannel"][P.CHANNELS[i]]
    assert set(F.unparseable(np.array([54_000, 999]), np.array([0.95, 0.95]))) == {
        "54,000",
        "0,999",
    }


# --------------------------------------------------------------------------------------------
# determinism, chunking, formats, CLI
# --------------------------------------------------------------------------------------------
def file_bytes(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_other_data(tmp_path: Path) -> None:
    small(tmp_path / "a")
    small(tmp_path / "b")
    small(tmp_path / "c", seed=8)
    a, b, c = (file_bytes(tmp_path / x) for x in "abc")
    assert a == b
    assert len(a) == 6
    for name in ("customers.csv", "customers_scoring.csv", "accounts.csv"):
        assert a[name] != c[name]


def test_chunks_are_seeded_independently(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "CHUNK_ROWS", 1_000)
    small(tmp_path / "short", rows=2_000, scoring_rows=10)
    small(tmp_path / "long", rows=3_500, scoring_rows=10)
    short = pd.read_parquet(tmp_path / "short" / "_truth" / "customers_truth.parquet")
    long = pd.read_parquet(tmp_path / "long" / "_truth" / "customers_truth.parquet")
    short, long = (t[t["population"] == "train"].reset_index(drop=True) for t in (short, long))
    pd.testing.assert_frame_equal(short, long.iloc[:2_000])


def test_parquet_output_has_the_same_data(tmp_path: Path) -> None:
    small(tmp_path / "csv")
    summary = small(tmp_path / "pq", fmt="parquet")
    table = pq.read_table(tmp_path / "pq" / "customers.parquet")
    assert table.column_names == list(P.CUSTOMER_COLUMNS)
    assert str(table.schema.field("AdSpend").type) == "double"
    assert pq.read_table(tmp_path / "pq" / "customers_scoring.parquet").column_names == list(
        P.SCORING_COLUMNS
    )
    accounts = pq.read_table(tmp_path / "pq" / "accounts.parquet").to_pandas()
    assert accounts["response_flag"][accounts["campaign_wave"] == 6].isna().all()
    frame = table.to_pandas()
    csv = read_raw(tmp_path / "csv" / "customers.csv")
    assert frame["CustomerID"].tolist() == csv["CustomerID"].astype(int).tolist()
    assert frame["Conversion"].tolist() == csv["Conversion"].astype(int).tolist()
    assert frame["CampaignChannel"].tolist() == csv["CampaignChannel"].tolist()
    assert summary["faults"]["customers"]["unparseable_number"] == 0  # types cannot hold them
    negative = int((frame.drop_duplicates()["AdSpend"] < 0).sum())
    assert summary["faults"]["customers"]["negative_adspend"] == negative


def test_no_truth_writes_no_sidecar(tmp_path: Path) -> None:
    small(tmp_path)
    assert (tmp_path / "_truth" / "truth.json").exists()
    small(tmp_path, truth=False)
    assert not list((tmp_path / "_truth").iterdir())
    assert (tmp_path / "customers.csv").exists()


def test_invalid_arguments_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="format"):
        small(tmp_path, fmt="xlsx")
    with pytest.raises(ValueError, match="b2b rows"):
        small(tmp_path, b2b_rows=3)


def test_cli_generate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "raw"
    argv = ["generate", "--rows", "2000", "--b2b-rows", "600", "--seed", "3", "--out", str(out)]
    assert cli.main([*argv, "--scoring-rows", "50", "--format", "parquet", "--no-truth"]) == 0
    printed = capsys.readouterr().out
    assert "customers.parquet" in printed and "conversion rate" in printed
    assert pq.read_metadata(out / "customers_scoring.parquet").num_rows >= 50
    assert not (out / "_truth").exists()
