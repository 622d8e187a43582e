"""Tests of the synthetic data generator: the demo's statistics, truth, faults, determinism, and
the datasets of other shapes (telemarketing, randomised e-mail test)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from scipy.stats import chi2_contingency, chisquare
from sklearn.metrics import roc_auc_score

from leakproof import cli
from leakproof.generate import customers as C
from leakproof.generate import datasets as D
from leakproof.generate import faults as F
from leakproof.generate import generate, generate_dataset, pipeline
from leakproof.generate import params as P
from leakproof.generate import randomised as R
from leakproof.generate import telemarketing as TM

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


# --------------------------------------------------------------------------------------------
# datasets of other shapes: telemarketing (no id, post-outcome column) and a randomised test
# --------------------------------------------------------------------------------------------
TELEMARKETING_COLUMNS = [
    "age",
    "job",
    "marital",
    "education",
    "default",
    "balance",
    "housing",
    "loan",
    "contact",
    "day",
    "month",
    "call_duration",
    "campaign",
    "pdays",
    "previous",
    "poutcome",
    "y",
]
EMAIL_TEST_COLUMNS = [
    "recipient_id",
    "age",
    "tenure_months",
    "past_opens",
    "past_purchases",
    "device",
    "region",
    "subject_line",
    "send_time",
    "clicked",
]
ARM_COLUMNS = [f"p__{s}__{t}" for s in R.SUBJECT_LINES for t in R.SEND_TIMES]
CHI_SQUARE_LEVEL = 0.01  # a randomisation check fails when p < 1 %


@pytest.fixture(scope="session")
def telemarketing(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("telemarketing")
    summary = generate_dataset("telemarketing", out)  # the default: 20,000 rows, seed 0
    return {
        "out": out,
        "summary": summary,
        "lines": (out / "telemarketing.csv").read_text().splitlines(),
        "frame": pd.read_csv(out / "telemarketing.csv", sep=";", dtype=str, keep_default_na=False),
        "truth": pd.read_parquet(out / "_truth" / "telemarketing_truth.parquet"),
        "section": json.loads((out / "_truth" / "truth.json").read_text())["telemarketing"],
    }


@pytest.fixture(scope="session")
def email_test(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("email_test")
    summary = generate_dataset("randomised", out)  # the default: 30,000 rows, seed 0
    frame = pd.read_csv(out / "email_test.csv")
    truth = pd.read_parquet(out / "_truth" / "email_test_truth.parquet")
    return {
        "out": out,
        "summary": summary,
        "frame": frame,
        "truth": truth,
        "merged": frame.merge(truth, on="recipient_id", how="outer", validate="1:1"),
        "section": json.loads((out / "_truth" / "truth.json").read_text())["randomised"],
    }


def test_auc_matches_sklearn_with_ties() -> None:
    rng = np.random.default_rng(1)
    y = rng.random(500) < 0.3
    score = np.round(rng.random(500) + 0.3 * y, 1)  # many ties
    assert D.auc(y, score) == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    assert D.auc(np.zeros(5), np.arange(5)) is None


def test_telemarketing_file_is_semicolon_delimited_without_id(
    telemarketing: dict[str, Any],
) -> None:
    lines, frame = telemarketing["lines"], telemarketing["frame"]
    assert lines[0] == ";".join(TELEMARKETING_COLUMNS)
    assert len(lines) == 20_001 and len(frame) == 20_000
    assert all(line.count(";") == 16 for line in lines)  # no field holds the delimiter
    assert "," not in "".join(lines[:200])
    assert list(frame.columns) == TELEMARKETING_COLUMNS
    assert not [c for c in frame.columns if "id" in c.split("_")]
    for column in ("age", "balance", "day", "call_duration", "campaign", "pdays", "previous"):
        values = frame[column].astype(int)
        assert not (values.is_unique and values.is_monotonic_increasing), column
    assert telemarketing["summary"]["files"] == {"telemarketing.csv": 20_000}


def test_telemarketing_labels_rate_and_oracle_auc(telemarketing: dict[str, Any]) -> None:
    frame, truth, section = telemarketing["frame"], telemarketing["truth"], telemarketing["section"]
    assert set(frame["y"]) == {"yes", "no"}
    y = (frame["y"] == "yes").to_numpy()
    assert y.mean() == pytest.approx(0.117, abs=0.008)
    assert section["positive_rate"] == pytest.approx(y.mean())
    assert TM.expected_rate() == pytest.approx(0.117, abs=1e-9)
    oracle = roc_auc_score(y, truth["p_true"])
    assert 0.75 <= oracle <= 0.80
    assert section["oracle_auc"] == pytest.approx(oracle)
    assert section["post_outcome_columns"] == ["call_duration"]


def test_telemarketing_call_duration_is_a_post_outcome_leak(telemarketing: dict[str, Any]) -> None:
    frame, truth = telemarketing["frame"], telemarketing["truth"]
    y = (frame["y"] == "yes").to_numpy()
    duration = frame["call_duration"].astype(int).to_numpy()
    assert duration.min() >= 1 and duration.max() <= TM.DURATION_MAX
    assert np.median(duration[y]) > 2 * np.median(duration[~y])
    oracle = roc_auc_score(y, truth["p_true"])
    assert roc_auc_score(y, duration) > oracle + 0.05  # the leak beats the true pre-call model
    # given y, duration carries nothing about p_true: it was drawn from the outcome alone
    for label in (True, False):
        rho = np.corrcoef(duration[y == label], truth["p_true"][y == label])[0, 1]
        assert abs(rho) < 0.05, label


def test_telemarketing_truth_rows_align_with_lines(telemarketing: dict[str, Any]) -> None:
    lines, frame, truth = telemarketing["lines"], telemarketing["frame"], telemarketing["truth"]
    assert truth["row_number"].tolist() == list(range(1, 20_001))
    assert list(truth.columns) == ["row_number", "p_true", "y_realised"]
    for i in (1, 2, 777, 12_345, 20_000):  # data line i (after the header) is row_number i
        last = lines[i].rsplit(";", 1)[1].strip('"')
        assert int(truth.loc[truth["row_number"] == i, "y_realised"].iloc[0]) == (last == "yes")
    assert (truth["y_realised"].to_numpy() == (frame["y"] == "yes").to_numpy()).all()
    success = (frame["poutcome"] == "success").to_numpy()
    assert truth["p_true"][success].mean() > 3 * truth["p_true"][~success].mean()


def test_telemarketing_values_and_documented_messiness(telemarketing: dict[str, Any]) -> None:
    frame, lines = telemarketing["frame"], telemarketing["lines"]
    messiness = telemarketing["section"]["messiness"]
    unknown = {"unknown"}
    assert set(frame["job"]) == set(TM.JOBS) | unknown
    assert set(frame["education"]) == set(TM.EDUCATION) | unknown
    assert set(frame["marital"]) == set(TM.MARITAL)
    assert set(frame["contact"]) == {"cellular", "telephone", "unknown"}
    assert set(frame["month"]) == set(TM.MONTHS)
    assert set(frame["poutcome"]) == {"unknown", "failure", "other", "success"}
    for column in ("default", "housing", "loan"):
        assert set(frame[column]) == {"yes", "no"}, column
    number = {c: frame[c].astype(int) for c in ("day", "campaign", "pdays", "previous", "balance")}
    days = frame["month"].map(dict(zip(TM.MONTHS, TM.DAYS_IN_MONTH, strict=True)))
    assert number["day"].between(1, 31).all() and (number["day"] <= days).all()
    assert (number["campaign"] >= 1).all()
    never = number["pdays"] == -1
    assert (never == (number["previous"] == 0)).all()
    assert (never == (frame["poutcome"] == "unknown")).all()
    assert 0.75 < never.mean() < 0.92
    assert 0.03 < (number["balance"] < 0).mean() < 0.15
    assert 0.20 < (frame["contact"] == "unknown").mean() < 0.35
    # messiness: the counts in truth.json are what the file holds, at the documented rates
    quoted = sum('"' in line for line in lines[1:])
    assert messiness == {
        "job_unknown": int((frame["job"] == "unknown").sum()),
        "education_unknown": int((frame["education"] == "unknown").sum()),
        "quoted_row": quoted,
    }
    documented = {"job_unknown": 0.006, "education_unknown": 0.04, "quoted_row": 0.01}
    assert documented == TM.MESSINESS_RATES
    for kind, count in messiness.items():
        rate = documented[kind]
        assert count / 20_000 == pytest.approx(rate, abs=max(0.3 * rate, 0.002)), kind
    assert '"' not in "".join(frame.to_numpy().ravel())  # a CSV reader removes the quotes


def test_telemarketing_structural_effects(telemarketing: dict[str, Any]) -> None:
    frame = telemarketing["frame"].assign(yes=lambda f: f["y"] == "yes")
    rate = {c: frame.groupby(c)["yes"].mean() for c in ("poutcome", "contact", "month", "housing")}
    assert rate["poutcome"]["success"] > 3 * rate["poutcome"]["unknown"]
    assert rate["contact"]["unknown"] < 0.5 * rate["contact"]["cellular"]
    assert rate["housing"]["yes"] < rate["housing"]["no"]
    assert min(rate["month"][m] for m in ("mar", "sep", "oct", "dec")) > 2 * rate["month"]["may"]
    age = frame["age"].astype(int)
    middle = frame["yes"][age.between(30, 50)].mean()
    assert frame["yes"][age < 25].mean() > middle and frame["yes"][age >= 60].mean() > middle


def test_email_test_file_truth_join_and_rate(email_test: dict[str, Any]) -> None:
    frame, truth, merged = email_test["frame"], email_test["truth"], email_test["merged"]
    header = (email_test["out"] / "email_test.csv").read_text().split("\n", 1)[0]
    assert header == ",".join(f'"{c}"' for c in EMAIL_TEST_COLUMNS)
    assert list(frame.columns) == EMAIL_TEST_COLUMNS
    assert frame["recipient_id"].tolist() == list(range(1, 30_001))
    assert len(merged) == 30_000 and not merged.isna().any().any()  # the join is complete
    assert list(truth.columns[:6]) == [
        "recipient_id",
        "clicked_realised",
        "p_realised",
        "propensity",
        "propensity_subject_line",
        "propensity_send_time",
    ]
    assert list(truth.columns[6:]) == ARM_COLUMNS
    assert (truth["propensity"] == 1 / 12).all()
    assert (truth["propensity_subject_line"] == 1 / 4).all()
    assert (truth["propensity_send_time"] == 1 / 3).all()
    assert set(frame["clicked"]) == {0, 1}
    assert (merged["clicked"] == merged["clicked_realised"]).all()
    assert 0.04 <= frame["clicked"].mean() <= 0.06
    assert set(frame["device"]) == {"mobile", "desktop", "tablet"}
    assert set(frame["region"]) == set(R.REGIONS)


def test_email_test_arms_are_uniform(email_test: dict[str, Any]) -> None:
    frame = email_test["frame"]
    arms = frame.groupby(["subject_line", "send_time"]).size()
    assert len(arms) == 12
    assert chisquare(arms.to_numpy()).pvalue > CHI_SQUARE_LEVEL
    assert (arms / len(frame)).sub(1 / 12).abs().max() < 0.006
    for column, values in (("subject_line", R.SUBJECT_LINES), ("send_time", R.SEND_TIMES)):
        counts = frame[column].value_counts()
        assert set(counts.index) == set(values)
        assert chisquare(counts.to_numpy()).pvalue > CHI_SQUARE_LEVEL, column
    shares = email_test["section"]["arm_share"]
    assert sum(shares.values()) == pytest.approx(1.0)
    assert shares["discount__morning"] == pytest.approx(arms["discount", "morning"] / 30_000)


def test_email_test_arms_are_independent_of_covariates(email_test: dict[str, Any]) -> None:
    frame = email_test["frame"]
    arm = frame["subject_line"] + "/" + frame["send_time"]
    covariates = {
        "device": frame["device"],
        "region": frame["region"],
        "age quartile": pd.qcut(frame["age"], 4, labels=False),
        "past_purchases >= 3": frame["past_purchases"] >= 3,
        "past_opens quartile": pd.qcut(frame["past_opens"], 4, labels=False, duplicates="drop"),
    }
    for name, values in covariates.items():
        table = pd.crosstab(arm, values)
        assert chi2_contingency(table).pvalue > CHI_SQUARE_LEVEL, name
    for treatment in ("subject_line", "send_time"):  # and of each other
        other = "send_time" if treatment == "subject_line" else "subject_line"
        assert chi2_contingency(pd.crosstab(frame[treatment], frame[other])).pvalue > 0.01


def test_email_test_arm_probabilities_match_the_realised_arm(email_test: dict[str, Any]) -> None:
    merged = email_test["merged"]
    column = "p__" + merged["subject_line"] + "__" + merged["send_time"]
    realised = merged[ARM_COLUMNS].to_numpy()[
        np.arange(len(merged)), column.map({c: i for i, c in enumerate(ARM_COLUMNS)}).to_numpy()
    ]
    assert (realised == merged["p_realised"].to_numpy()).all()
    assert ((merged[ARM_COLUMNS] > 0) & (merged[ARM_COLUMNS] < 1)).all().all()
    se = np.sqrt(merged["p_realised"].mean() / len(merged))
    assert abs(merged["clicked"].mean() - merged["p_realised"].mean()) < 3 * se
    assert 0.62 <= roc_auc_score(merged["clicked"], merged["p_realised"]) <= 0.76


def test_email_test_best_arm_depends_on_the_segment(email_test: dict[str, Any]) -> None:
    merged, section = email_test["merged"], email_test["section"]
    young_mobile = merged[(merged["age"] < 30) & (merged["device"] == "mobile")]
    plain_desktop = merged[
        (merged["age"] >= 30) & (merged["past_purchases"] < 3) & (merged["device"] == "desktop")
    ]
    loyal = merged[(merged["age"] >= 30) & (merged["past_purchases"] >= 3)]
    best = {
        "young mobile": young_mobile[ARM_COLUMNS].mean().idxmax(),
        "plain desktop": plain_desktop[ARM_COLUMNS].mean().idxmax(),
        "loyal": loyal[ARM_COLUMNS].mean().idxmax(),
    }
    assert best == {
        "young mobile": "p__question__evening",
        "plain desktop": "p__discount__morning",
        "loyal": "p__personalised__evening",
    }
    assert (young_mobile[ARM_COLUMNS].idxmax(axis=1) == best["young mobile"]).mean() > 0.8
    by_segment = section["best_arm_by_segment"]
    assert by_segment["age < 30, mobile"]["best_arm"] == "question__evening"
    assert by_segment["age >= 30, past_purchases < 3, desktop"]["best_arm"] == "discount__morning"
    assert sum(s["rows"] for s in by_segment.values()) == 30_000
    # the overall best arm, and what a per-recipient policy gains over it
    means = merged[ARM_COLUMNS].mean()
    assert section["best_arm"]["truth_column"] == means.idxmax()
    assert section["best_arm"]["rate"] == pytest.approx(means.max())
    assert section["arm_rate_true"]["question__evening"] == pytest.approx(
        means["p__question__evening"]
    )
    policy = merged[ARM_COLUMNS].max(axis=1).mean()
    assert section["best_arm_policy_value"] == pytest.approx(policy)
    assert policy > means.max() + 0.01 > means.mean() + 0.01
    assert section["uniform_policy_value"] == pytest.approx(means.mean())


def test_datasets_same_seed_same_bytes_other_seed_other_data(tmp_path: Path) -> None:
    for name in ("a", "b"):
        generate_dataset("telemarketing", tmp_path / name, rows=1_500, seed=5)
        generate_dataset("randomised", tmp_path / name, rows=1_500, seed=5)
    generate_dataset("telemarketing", tmp_path / "c", rows=1_500, seed=6)
    generate_dataset("randomised", tmp_path / "c", rows=1_500, seed=6)
    a, b, c = (file_bytes(tmp_path / x) for x in "abc")
    assert a == b
    assert sorted(a) == [
        "_truth/email_test_truth.parquet",
        "_truth/telemarketing_truth.parquet",
        "_truth/truth.json",
        "email_test.csv",
        "telemarketing.csv",
    ]
    for name in ("telemarketing.csv", "email_test.csv", "_truth/email_test_truth.parquet"):
        assert a[name] != c[name], name


def test_datasets_chunks_are_seeded_independently(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "CHUNK_ROWS", 1_000)
    for rows in (2_000, 3_500):
        generate_dataset("telemarketing", tmp_path / str(rows), rows=rows)
        generate_dataset("randomised", tmp_path / str(rows), rows=rows)
    short, long = (tmp_path / "2000", tmp_path / "3500")
    short_lines = (short / "telemarketing.csv").read_text().splitlines()
    assert (long / "telemarketing.csv").read_text().splitlines()[:2_001] == short_lines
    for name in ("telemarketing_truth.parquet", "email_test_truth.parquet"):
        a, b = (pd.read_parquet(d / "_truth" / name) for d in (short, long))
        pd.testing.assert_frame_equal(a, b.iloc[:2_000])
    emails = [pd.read_csv(d / "email_test.csv") for d in (short, long)]
    pd.testing.assert_frame_equal(emails[0], emails[1].iloc[:2_000])


def test_truth_json_keeps_each_datasets_section(tmp_path: Path) -> None:
    path = tmp_path / "_truth" / "truth.json"
    small(tmp_path, rows=500, b2b_rows=600)
    demo_keys = list(json.loads(path.read_text()))
    generate_dataset("telemarketing", tmp_path, rows=300)
    generate_dataset("randomised", tmp_path, rows=300)
    small(tmp_path, rows=500, b2b_rows=600)  # the demo again: the sections stay
    document = json.loads(path.read_text())
    assert list(document) == [*demo_keys, "telemarketing", "randomised"]
    assert document["telemarketing"]["rows"] == 300
    generate_dataset("telemarketing", tmp_path, rows=400, seed=1)  # replaces its own section
    assert json.loads(path.read_text())["telemarketing"]["rows"] == 400
    generate_dataset("telemarketing", tmp_path, rows=300, truth=False)
    small(tmp_path, rows=500, b2b_rows=600, truth=False)
    assert list(json.loads(path.read_text())) == ["randomised"]
    assert sorted(p.name for p in path.parent.iterdir()) == [
        "email_test_truth.parquet",
        "truth.json",
    ]
    generate_dataset("randomised", tmp_path, rows=300, truth=False)
    assert not list(path.parent.iterdir())


def test_datasets_reject_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="telemarketing rows must be >= 1"):
        generate_dataset("telemarketing", tmp_path, rows=0)
    with pytest.raises(ValueError, match="dataset must be one of"):
        generate_dataset("bank", tmp_path)
    assert not list(tmp_path.iterdir())


def test_cli_generate_other_datasets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "raw"
    argv = ["generate", "--rows", "400", "--seed", "2", "--out", str(out)]
    assert cli.main([*argv, "--dataset", "telemarketing"]) == 0
    assert cli.main([*argv, "--dataset", "randomised", "--no-truth"]) == 0
    printed = capsys.readouterr().out
    assert "telemarketing.csv" in printed and "oracle AUC" in printed
    assert "email_test.csv" in printed and "best arm" in printed
    assert len((out / "telemarketing.csv").read_text().splitlines()) == 401
    assert len(pd.read_csv(out / "email_test.csv")) == 400
    assert sorted(p.name for p in (out / "_truth").iterdir()) == [
        "telemarketing_truth.parquet",
        "truth.json",
    ]
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*argv, "--dataset", "randomised", "--format", "parquet"])
    assert exit_info.value.code == 2
    assert "--format: only for --dataset demo" in capsys.readouterr().err


def test_cli_dataset_demo_is_the_default(tmp_path: Path) -> None:
    argv = ["generate", "--rows", "800", "--b2b-rows", "600", "--scoring-rows", "40"]
    assert cli.main([*argv, "--out", str(tmp_path / "plain")]) == 0
    assert cli.main([*argv, "--dataset", "demo", "--out", str(tmp_path / "demo")]) == 0
    small(tmp_path / "python", rows=800, b2b_rows=600, scoring_rows=40, seed=0)
    plain = file_bytes(tmp_path / "plain")
    assert plain == file_bytes(tmp_path / "demo") == file_bytes(tmp_path / "python")
    assert sorted(plain) == sorted(
        ["customers.csv", "customers_scoring.csv", "accounts.csv"]
        + [f"_truth/{name}" for name in pipeline.TRUTH_FILES]
    )
