"""leakproof.declarations: the two project declarations read to their values, every broken
declaration refused naming the file and the key, snake_case agreeing with the dbt macro, and the
preflight's messages on broken raw files (file, problem and fix)."""

from __future__ import annotations

import codecs
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from dbt_runner import PROJECT_ROOT, run_dbt
from leakproof.declarations import (
    Band,
    DeclarationError,
    Split,
    Truth,
    WhatIf,
    load,
    preflight,
    snake_case,
)
from leakproof.declarations._preflight import _SNIFF_BYTES

USE_CASES = PROJECT_ROOT / "use_cases"


# --- the project's declarations ------------------------------------------------------------------


def test_marketing_declaration() -> None:
    marketing = load(USE_CASES / "marketing.yml")
    assert marketing.name == "marketing"
    assert marketing.grain == ("customer_id",)
    assert (marketing.target, marketing.positive, marketing.negative) == (
        "conversion",
        ("1",),
        ("0",),
    )
    assert marketing.split == Split("stratified", 0.2, 42, None, 1, 5, None)
    assert marketing.blocked_columns == ("conversion_rate", "conversion")
    assert marketing.raw_features == (
        "age",
        "gender",
        "income",
        "campaign_channel",
        "campaign_type",
        "ad_spend_capped",
        "click_through_rate",
        "website_visits",
        "pages_per_visit",
        "time_on_site",
        "social_shares",
        "email_opens",
        "email_clicks",
        "previous_purchases",
        "loyalty_points",
        "advertising_platform",
        "advertising_tool",
    )
    assert marketing.segments == {
        "age_group": (
            "age",
            (Band("18-29", 29), Band("30-44", 44), Band("45-59", 59), Band("60+", None)),
        ),
        "income_tier": ("income", (Band("low", 40000), Band("mid", 80000), Band("high", None))),
        "loyalty_tier": (
            "loyalty_points",
            (Band("bronze", 999), Band("silver", 1999), Band("gold", 3499), Band("platinum", None)),
        ),
    }
    assert list(marketing.derived) == [
        "cpa_v2",
        "roi_v2",
        "spend_efficiency",
        "site_engagement",
        "email_click_rate",
        "engagement_score",
        "ad_spend_x_ctr",
        "income_x_loyalty",
        "loyalty_per_purchase",
        "channel_platform",
        "is_paid_channel",
    ]
    assert marketing.derived["cpa_v2"][0] == "ad_spend_capped / (website_visits + 1)"
    assert marketing.impute == {
        "click_through_rate": (("campaign_channel", "advertising_platform"), ("campaign_channel",)),
        "pages_per_visit": (("campaign_channel", "advertising_platform"), ("campaign_channel",)),
    }
    assert marketing.outliers == {"ad_spend": (1.5, 9000.0)}
    assert marketing.aggregates == {
        "channel_avg_ad_spend": {
            "by": "campaign_channel",
            "statistic": "mean",
            "of": "ad_spend_capped",
        },
        "channel_share_of_customers": {"by": "campaign_channel", "statistic": "share", "of": None},
    }
    assert marketing.target_encodings == {
        "channel_conversion_rate_oof": {"by": "campaign_channel", "smoothing": 20.0}
    }
    assert marketing.dimensions == (
        ("campaign_channel", None),
        ("advertising_platform", None),
        ("advertising_tool", None),
        ("campaign_type", None),
    )
    assert (marketing.spend, marketing.reallocation_share) == ("ad_spend_capped", 0.2)
    assert marketing.what_if == WhatIf(
        treatments=("campaign_channel", "advertising_platform"),
        follows={"advertising_tool": "advertising_platform"},
        support_segments=("age_group", "income_tier"),
        min_support=20,
        in_support_only=False,
        summary_segments={
            "high income": "income_tier = 'high'",
            "young adults": "age_group = '18-29'",
        },
        known_probabilities=None,
        covariates=(
            "age",
            "income",
            "loyalty_points",
            "previous_purchases",
            "gender",
            "age_group",
            "income_tier",
        ),
    )
    assert marketing.truth == Truth(
        "_truth/customers_truth.parquet",
        ("CustomerID",),
        "p_realised",
        "p__{campaign_channel}__{advertising_platform}",
        "propensity_realised",
    )
    assert (marketing.table.file, marketing.table.scoring_file) == (
        "customers",
        "customers_scoring",
    )
    assert marketing.column("Gender").aliases == {"M": "Male", "F": "Female"}
    assert marketing.column("campaign_channel").role == "treatment"
    assert "primary_family" not in marketing.model  # the model of record is chosen by CV
    assert set(marketing.audit["leaky_features"]) == {
        "conversion_rate",
        "cpa_proxy",
        "roi_proxy",
        "channel_conversion_rate_naive",
    }


def test_b2b_declaration() -> None:
    b2b = load(USE_CASES / "b2b.yml")
    assert b2b.grain == ("account_id", "campaign_wave")
    assert (b2b.target, b2b.positive, b2b.negative) == ("response_flag", ("1",), ("0",))
    assert b2b.split == Split("time", 0.2, 42, "campaign_wave", 1, 5, "account_id")
    assert b2b.time_column == "campaign_wave"
    assert b2b.raw_features == (
        "industry",
        "region",
        "company_size",
        "annual_revenue",
        "website_visits_30d",
        "contract_remaining_months",
    )
    assert b2b.segments["company_size_band"] == (
        "company_size",
        (Band("1-49", 49), Band("50-199", 199), Band("200-799", 799), Band("800+", None)),
    )
    assert set(b2b.segments) == {"company_size_band", "website_visits_band", "contract_months_band"}
    assert {name: sql for name, (sql, _) in b2b.derived.items()} == {
        "renewal_window_flag": "contract_remaining_months <= 3",
        "high_engagement_flag": "website_visits_30d >= 5",
        "large_account_flag": "company_size >= 800",
        "revenue_per_employee": "annual_revenue / company_size",
    }
    assert b2b.dimensions[:3] == (("industry", None), ("region", None), ("company_size_band", None))
    assert b2b.dimensions[3][0] == "renewal_window"
    assert (b2b.spend, b2b.reallocate, b2b.what_if) == (None, (), None)
    assert b2b.targeting == {"budget_share": 0.2}
    assert b2b.column("response_flag").required is False
    assert b2b.column("wave_date").role == "ignore"
    assert b2b.blocked_columns == ("response_flag",)


# --- broken declarations -----------------------------------------------------------------------


def write_declaration(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "use_cases" / "marketing.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def edited(tmp_path: Path, edit) -> Path:
    """The marketing declaration with `edit(document)` applied, written to tmp_path."""
    document = yaml.safe_load((USE_CASES / "marketing.yml").read_text())
    edit(document)
    return write_declaration(tmp_path, yaml.safe_dump(document, sort_keys=False))


def block(document: dict) -> dict:
    return document["sources"][0]["config"]["meta"]["use_case"]


def column(document: dict, name: str) -> dict:
    (found,) = [c for c in document["sources"][0]["tables"][0]["columns"] if c["name"] == name]
    return found


def problems_of(path: Path) -> list[str]:
    with pytest.raises(DeclarationError) as raised:
        load(path)
    assert str(raised.value) == "\n".join(raised.value.problems)
    return raised.value.problems


def set_role(name: str, role: str):
    def edit(document: dict) -> None:
        column(document, name)["config"]["meta"]["role"] = role

    return edit


BROKEN = {
    "unknown column": (
        lambda d: block(d).update(grain=["CustomerNumber"]),
        "use_case.grain: 'CustomerNumber' is not a declared column",
    ),
    "unknown column in a rule": (
        lambda d: block(d)["prepare"]["impute"].update(PagesPerView={"by": [["CampaignChannel"]]}),
        "use_case.prepare.impute.PagesPerView: 'PagesPerView' is not a declared column",
    ),
    "grain on a feature column": (
        lambda d: block(d).update(grain=["Age"]),
        "use_case.grain: 'Age' has role feature; expected id or time",
    ),
    "no target": (
        set_role("Conversion", "feature"),
        "columns: exactly one column must have role target, found 0",
    ),
    "two targets": (
        set_role("ConversionRate", "target"),
        "columns: exactly one column must have role target, found 2",
    ),
    "unknown key": (
        lambda d: block(d).update(targets={"column": "Conversion"}),
        "use_case.targets: unknown key (known: aggregates, analytics, audit, derived,",
    ),
    "unknown nested key": (
        lambda d: block(d)["split"].update(stratify_by="Conversion"),
        "use_case.split.stratify_by: unknown key (known: column, fold_group, folds, method,",
    ),
    "unknown column rule": (
        lambda d: column(d, "Age")["config"]["meta"].update(minimum=18),
        "columns.Age.config.meta.minimum: unknown key",
    ),
    "alias to a value not accepted": (
        lambda d: column(d, "Gender")["config"]["meta"]["aliases"].update(F="Femme"),
        "columns.Gender.aliases.F: maps to 'Femme', which is not an accepted value",
    ),
    "derived SQL reading the target": (
        lambda d: block(d)["derived"].update(
            cpa_proxy={"sql": "ad_spend_capped / (conversion + 1)"}
        ),
        "use_case.derived.cpa_proxy.sql: reads blocked column(s) conversion "
        "(target / post-outcome / target-derived)",
    ),
    "derived SQL reading a target-derived column": (
        lambda d: block(d)["derived"].update(roi_proxy="conversion_rate * income"),
        "use_case.derived.roi_proxy.sql: reads blocked column(s) conversion_rate",
    ),
    "a treatment without accepted values": (
        lambda d: block(d)["what_if"].update(treatments=["CampaignChannel", "Age"]),
        "use_case.what_if.treatments: 'Age' has role feature; expected treatment",
    ),
    "an unknown gate": (
        lambda d: block(d)["gates"].update(max_lift=3),
        "use_case.gates.max_lift: unknown key (known: calibration_intercept, calibration_slope,",
    ),
    "a plausibility ceiling that is not an AUC": (
        lambda d: block(d)["gates"].update(max_auc=1.5),
        "use_case.gates.max_auc: 1.5 is not an AUC in [0.5, 1]",
    ),
    "a plausibility ceiling under the floor": (
        lambda d: block(d)["gates"].update(max_auc=0.6),
        "use_case.gates.max_auc: must be above min_auc (0.6)",
    ),
    "a calibration range upside down": (
        lambda d: block(d)["gates"].update(calibration_slope=[1.5, 0.5]),
        "use_case.gates.calibration_slope: must be [low, high], got [1.5, 0.5]",
    ),
    "an unknown model key": (
        lambda d: block(d)["model"].update(primary_famly="xgboost"),
        "use_case.model.primary_famly: unknown key (known: calibration_methods,",
    ),
    "an unknown model family": (
        lambda d: block(d)["model"].update(primary_family="random_forest"),
        "use_case.model.primary_family: unknown value(s) ['random_forest'] (known: xgboost,",
    ),
    "an unknown imbalance treatment": (
        lambda d: block(d)["model"].update(imbalance_treatments=["none", "adasyn"]),
        "use_case.model.imbalance_treatments: unknown value(s) ['adasyn']",
    ),
    "a model key the build sets": (
        lambda d: block(d)["model"].update(artifact_dir="/tmp/models"),
        "use_case.model.artifact_dir: unknown key",
    ),
    "a model value out of range": (
        lambda d: block(d)["model"].update(n_folds=1),
        "use_case.model: invalid ModelSpec for '-': n_folds must be at least 2",
    ),
    "a time split on a feature": (
        lambda d: block(d).update(split={"method": "time", "column": "Age"}),
        "use_case.split.column: 'Age' has role feature; expected time",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_declaration_names_the_file_and_the_key(tmp_path: Path, case: str) -> None:
    edit, expected = BROKEN[case]
    path = edited(tmp_path, edit)
    problems = problems_of(path)
    assert any(p.startswith(f"{path}: {expected}") for p in problems), problems


def test_an_unquoted_yaml_boolean_label_is_refused(tmp_path: Path) -> None:
    text = (USE_CASES / "marketing.yml").read_text()
    declared = "target: {column: Conversion, positive: [1], negative: [0]}"
    assert declared in text
    path = write_declaration(
        tmp_path,
        text.replace(declared, "target: {column: Conversion, positive: [yes], negative: ['no']}"),
    )
    assert problems_of(path) == [
        f"{path}: use_case.target.positive: True is a YAML boolean: quote labels such as "
        "'yes', 'no', 'Y', 'N'",
        f"{path}: use_case.target.positive: name at least one positive label",
    ]
    quoted = write_declaration(
        tmp_path / "quoted",
        text.replace(declared, "target: {column: Conversion, positive: ['yes'], negative: ['no']}"),
    )
    assert load(quoted).positive == ("yes",)


def test_every_problem_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    def edit(document: dict) -> None:
        block(document).update(grain=["Age"], colour="red")
        column(document, "Gender")["config"]["meta"]["aliases"]["F"] = "Femme"

    path = edited(tmp_path, edit)
    problems = problems_of(path)
    assert len(problems) == 3
    assert [p.split(": ")[1] for p in problems] == [
        "use_case.colour",
        "columns.Gender.aliases.F",
        "use_case.grain",
    ]


def test_a_declaration_named_unlike_its_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "use_cases" / "campaigns.yml"
    path.parent.mkdir()
    shutil.copy(USE_CASES / "marketing.yml", path)
    assert problems_of(path) == [
        f"{path}: sources[0].name: 'marketing' must match the file name 'campaigns'"
    ]


# --- snake_case: the package and the dbt macro agree ------------------------------------------

SNAKE_CASES = {
    "CustomerID": "customer_id",
    "AdSpend": "ad_spend",
    "ClickThroughRate": "click_through_rate",
    "account_id": "account_id",
    "website_visits_30d": "website_visits_30d",
    "HTTPServerError": "http_server_error",
    "userID2": "user_id2",
    "Value2Go": "value2_go",
    "Customer ID": "customer_id",
    "customer-id": "customer_id",
    "  Leading and trailing  ": "leading_and_trailing",
    "Price (USD)": "price_usd",
    "X-Ray Count": "x_ray_count",
    "ABC": "abc",
    "aB": "a_b",
    "ID": "id",
    "already__snake": "already_snake",
    "Mixed_Case Name": "mixed_case_name",
    "Über Score": "ber_score",
    "%": "",
}


def test_snake_case() -> None:
    assert {name: snake_case(name) for name in SNAKE_CASES} == SNAKE_CASES


@pytest.mark.dbt
def test_snake_case_agrees_with_the_dbt_macro(tmp_path: Path) -> None:
    names = json.dumps(list(SNAKE_CASES))
    sql = (
        "{% set out = [] %}{% for name in " + names + " %}"
        "{% do out.append(leakproof_snake_case(name)) %}{% endfor %}"
        "SNAKE{{ tojson(out) }}SNAKE"
    )
    result = run_dbt(["--quiet", "compile", "--inline", sql], tmp_path)
    assert result.ok, result.output[-3000:]
    (compiled,) = re.findall(r"SNAKE(.*)SNAKE", result.output)
    assert json.loads(compiled) == [snake_case(name) for name in SNAKE_CASES]


# --- the preflight: raw files ------------------------------------------------------------------

MARKETING = load(USE_CASES / "marketing.yml")
LABELLED = [c.name for c in MARKETING.columns]
SCORING = [c.name for c in MARKETING.columns if c.role not in ("target", "target_derived")]
ROW = {
    "CustomerID": "1",
    "Age": "40",
    "Gender": "Female",
    "Income": "50000",
    "CampaignChannel": "Email",
    "CampaignType": "Awareness",
    "AdSpend": "100",
    "ClickThroughRate": "0.1",
    "ConversionRate": "0.0",
    "WebsiteVisits": "5",
    "PagesPerVisit": "2.5",
    "TimeOnSite": "3",
    "SocialShares": "1",
    "EmailOpens": "2",
    "EmailClicks": "1",
    "PreviousPurchases": "0",
    "LoyaltyPoints": "100",
    "AdvertisingPlatform": "Facebook",
    "AdvertisingTool": "Meta Ads Manager",
    "Conversion": "0",
}


def csv_text(header: list[str], rows: int = 2, delimiter: str = ",") -> str:
    """A file of `rows` rows of ROW, the Conversion of each row alternately 0 and 1 (the
    preflight checks the declared labels occur)."""
    lines = [delimiter.join(header)]
    for index in range(rows):
        row = {**ROW, "Conversion": str(index % 2)}
        lines.append(delimiter.join(row.get(name, "x") for name in header))
    return "\n".join(lines) + "\n"


def run_preflight(tmp_path: Path, labelled: bytes | None, scoring: bytes | None) -> dict:
    """check_name -> (status, message) of the marketing use case's files in a raw directory
    holding `labelled` / `scoring` (None: the file is absent); `<raw>` stands for it."""
    raw = tmp_path / "raw"
    raw.mkdir()
    for name, content in (("customers.csv", labelled), ("customers_scoring.csv", scoring)):
        if content is not None:
            (raw / name).write_bytes(content)
    table = preflight(PROJECT_ROOT, ["marketing"], raw)
    assert table["check_name"].tolist()[0] == "declaration"
    assert table.iloc[0]["status"] == "ok"
    return {
        row.check_name: (row.status, row.message.replace(str(raw), "<raw>"))
        for row in table.iloc[1:].itertuples()
    }


LABELLED_FILE = "<raw>/customers.csv (use case marketing, declared in use_cases/marketing.yml)"
SCORING_FILE = (
    "<raw>/customers_scoring.csv (use case marketing, declared in use_cases/marketing.yml)"
)
GOOD_SCORING = csv_text(SCORING).encode()


def test_preflight_passes_good_files(tmp_path: Path) -> None:
    checks = run_preflight(tmp_path, csv_text(LABELLED).encode(), GOOD_SCORING)
    assert checks == {
        "labelled_file": ("ok", f"{LABELLED_FILE}: 20 columns, header as declared"),
        "scoring_file": ("ok", f"{SCORING_FILE}: 18 columns, header as declared"),
    }


BAD_LABELLED_FILES = {
    "missing file": (
        None,
        f"{LABELLED_FILE} not found (var raw_dir=<raw>): put the file there, or point var "
        "raw_dir at the directory that has it",
    ),
    "semicolon file declared comma": (
        csv_text(LABELLED, delimiter=";").encode(),
        f"{LABELLED_FILE} looks semicolon-delimited (its header is one column): "
        "set delimiter: ';' in its declaration",
    ),
    "UTF-16 declared utf-8": (
        csv_text(LABELLED).encode("utf-16"),
        f"{LABELLED_FILE} is UTF-16 (it starts with a UTF-16 byte-order mark): "
        "set encoding: utf-16 in its declaration",
    ),
    "Latin-1 declared utf-8": (
        csv_text(LABELLED).replace("Female", "Fémale").encode("latin-1"),
        f"{LABELLED_FILE} is not valid utf-8 (byte 258: b'\\xe9'): "
        "set encoding: latin-1 in its declaration",
    ),
    "a duplicate header name": (
        csv_text([*LABELLED, "Age"]).encode(),
        f"{LABELLED_FILE}: the header names Age more than once: give each column its own name",
    ),
    "an index column without a name": (
        csv_text(["", *LABELLED]).encode(),
        f"{LABELLED_FILE}: column(s) 1 of the header have no name (a first column without a "
        "name is usually a pandas index: write the file with index=False)",
    ),
    "a column without a name": (
        csv_text([*LABELLED[:3], "", *LABELLED[3:]]).encode(),
        f"{LABELLED_FILE}: column(s) 4 of the header have no name: give every column a name",
    ),
    "a renamed column": (
        csv_text(LABELLED).replace("AdSpend", "Ad Spend USD", 1).encode(),
        f"{LABELLED_FILE} is missing declared column(s) AdSpend. Columns not declared: "
        "Ad Spend USD - renamed? The file has: CustomerID, Age, Gender, Income, "
        "CampaignChannel, CampaignType, Ad Spend USD, ClickThroughRate,",
    ),
    "a header-only labelled file": (
        csv_text(LABELLED, rows=0).encode(),
        f"{LABELLED_FILE} has a header but no data rows",
    ),
    "a 0-byte labelled file": (b"", f"{LABELLED_FILE} is empty (0 bytes): no header and no rows"),
}


@pytest.mark.parametrize("case", list(BAD_LABELLED_FILES))
def test_preflight_names_file_problem_and_fix(tmp_path: Path, case: str) -> None:
    content, message = BAD_LABELLED_FILES[case]
    checks = run_preflight(tmp_path, content, GOOD_SCORING)
    status, got = checks["labelled_file"]
    assert status == "problem"
    assert got.startswith(message), got
    assert checks["scoring_file"][0] == "ok"


def test_preflight_accepts_an_empty_scoring_batch(tmp_path: Path) -> None:
    checks = run_preflight(tmp_path, csv_text(LABELLED).encode(), b"")
    assert checks["scoring_file"] == ("ok", f"{SCORING_FILE} is empty: no rows to score")
    assert checks["labelled_file"][0] == "ok"


def test_preflight_reads_only_the_head_and_a_character_cut_by_it_is_no_error(
    tmp_path: Path,
) -> None:
    """A large UTF-8 file whose sniffed head ends inside a two-byte character is valid."""
    header = csv_text(LABELLED, rows=0).encode()
    row = csv_text(LABELLED, rows=1).encode()[len(header) :]
    accented = row.replace(b"Female", "Fémale".encode())
    prefix = header + row * ((_SNIFF_BYTES - 2000) // len(row))
    # one row padded so that the accented row's é starts at the head's last byte
    pad = _SNIFF_BYTES - 1 - accented.index("é".encode()) - len(prefix) - len(row)
    body = prefix + row.replace(b"Female", b"Female" + b" " * pad, 1) + accented * 3
    assert body[_SNIFF_BYTES - 1 : _SNIFF_BYTES + 1] == "é".encode()
    with pytest.raises(UnicodeDecodeError):
        body[:_SNIFF_BYTES].decode("utf-8")
    assert codecs.decode(body, "utf-8")  # the whole file is valid
    checks = run_preflight(tmp_path, body, GOOD_SCORING)
    assert checks["labelled_file"] == ("ok", f"{LABELLED_FILE}: 20 columns, header as declared")


def test_preflight_refuses_an_unknown_model_family_before_any_model_runs(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "use_cases").mkdir(parents=True)
    text = (USE_CASES / "marketing.yml").read_text()
    text = text.replace(
        "          model:\n", "          model:\n            families: [xgboost, rf]\n"
    )
    (project / "use_cases" / "marketing.yml").write_text(text)
    table = preflight(project, ["marketing"], tmp_path / "raw")
    assert table[["check_name", "status", "message"]].values.tolist() == [
        [
            "declaration",
            "problem",
            "use_cases/marketing.yml: use_case.model.families: unknown value(s) ['rf'] "
            "(known: xgboost, logistic)",
        ]
    ]


def test_preflight_reports_a_broken_declaration_and_a_missing_one(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "use_cases").mkdir(parents=True)
    text = (USE_CASES / "marketing.yml").read_text().replace("grain: [CustomerID]", "grain: [Age]")
    (project / "use_cases" / "marketing.yml").write_text(text)
    table = preflight(project, ["marketing", "churn"], tmp_path / "raw")
    rows = table[["use_case", "check_name", "status", "message"]].values.tolist()
    assert rows == [
        [
            "marketing",
            "declaration",
            "problem",
            "use_cases/marketing.yml: use_case.grain: 'Age' has role feature; expected id or time",
        ],
        [
            "churn",
            "declaration",
            "problem",
            "use_cases/churn.yml is missing, but use case 'churn' is turned on in var use_cases "
            "(dbt_project.yml): write it with `leakproof use-case add` or drop the name",
        ],
    ]


def test_preflight_stops_a_target_label_the_data_never_has(tmp_path: Path) -> None:
    """A one-row file has Conversion 0 only: the declared positive label 1 never occurs."""
    checks = run_preflight(tmp_path, csv_text(LABELLED, rows=1).encode(), GOOD_SCORING)
    status, message = checks["target_labels"]
    assert status == "problem"
    assert "use_case.target.positive: label(s) ['1'] never occur in Conversion" in message
    assert "(it has ['0'])" in message


def test_preflight_reads_the_whole_file_when_the_sample_misses_a_label(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The label check reads a sample of rows first; a label only past the sample is still
    found (the whole file is read then), and one that never occurs is still a problem."""
    import leakproof.declarations._preflight as checks_module

    monkeypatch.setattr(checks_module, "_LABEL_SAMPLE_ROWS", 2)
    header, negative = csv_text(LABELLED, rows=1).splitlines()
    positive = csv_text(LABELLED, rows=2).splitlines()[2]
    late = "\n".join([header, *[negative] * 6, positive]) + "\n"
    (tmp_path / "late").mkdir()
    (tmp_path / "never").mkdir()
    checks = run_preflight(tmp_path / "late", late.encode(), GOOD_SCORING)
    assert "target_labels" not in checks and {status for status, _ in checks.values()} == {"ok"}
    never = "\n".join([header, *[negative] * 7]) + "\n"
    status, message = run_preflight(tmp_path / "never", never.encode(), GOOD_SCORING)[
        "target_labels"
    ]
    assert status == "problem" and "label(s) ['1'] never occur in Conversion" in message


def test_preflight_checks_every_file_a_glob_matches(tmp_path: Path) -> None:
    """`file: customers_*.csv` reads monthly extracts: each match is checked on its own (the
    message names the bad one), and a pattern that matches nothing says so."""
    project = tmp_path / "project"
    (project / "use_cases").mkdir(parents=True)
    text = (PROJECT_ROOT / "use_cases" / "marketing.yml").read_text()
    assert "meta: {file: customers, scoring_file: customers_scoring}" in text
    (project / "use_cases" / "marketing.yml").write_text(
        text.replace(
            "meta: {file: customers, scoring_file: customers_scoring}",
            "meta: {file: customers_*.csv}",
        )
    )
    raw = tmp_path / "raw"
    raw.mkdir()

    def checks() -> list[tuple[str, str, str]]:
        table = preflight(project, ["marketing"], raw)
        rows = table[table["check_name"] == "labelled_file"]
        return [(r.status, r.message.replace(str(raw), "<raw>")) for r in rows.itertuples()]

    table = preflight(project, ["marketing"], raw)
    assert table["check_name"].tolist() == ["declaration", "raw_dir"]
    assert "Looked for <raw>/customers_*.csv" in table.iloc[1]["message"].replace(str(raw), "<raw>")
    (raw / "customers_2026_01.csv").write_text(csv_text(LABELLED))
    (raw / "customers_2026_02.csv").write_text(
        csv_text(LABELLED).replace("AdSpend", "Ad Spend USD", 1)
    )
    found = checks()
    assert [status for status, _ in found] == ["ok", "problem"]
    assert found[0][1].startswith("<raw>/customers_2026_01.csv (use case marketing")
    assert found[1][1].startswith(
        "<raw>/customers_2026_02.csv (use case marketing, declared in use_cases/marketing.yml)"
        " is missing declared column(s) AdSpend."
    )
