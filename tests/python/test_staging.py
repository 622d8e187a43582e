"""Raw -> staging: nothing lost, and every kind of bad input ends in a clear error or quarantine.

The demo data's accounting is read from the session build. Each other case copies the small
generated demo data, breaks one or more things, runs `dbt build` on the staging layer (each build
parses the project from scratch, ~20 s of its ~35 s, so problems that stop the build at the same
place share one build) and asserts the exact outcome.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import duckdb
import pytest
import yaml

from dbt_runner import DbtResult, copy_project, run_dbt

pytestmark = pytest.mark.dbt

STAGING = ["build", "--select", "+staging", "+marts.data_quality"]
PREFLIGHT_TEST = "test.leakproof.no_rejected_rows_stg_use_case_preflight"
RAW_READING_MODELS = (
    "model.leakproof.stg_raw_files",
    "model.leakproof.base_marketing__validated",
    "model.leakproof.stg_marketing__rows",
    "model.leakproof.base_b2b__validated",
    "model.leakproof.stg_b2b__rows",
    "model.leakproof.fct_source_row_accounting",
)


def copy_raw(source: Path, target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for path in source.glob("*.csv"):
        shutil.copy(path, target / path.name)
    return target


def read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        return header, list(reader)


def write_rows(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def query(result: DbtResult, sql: str) -> list[tuple]:
    with duckdb.connect(str(result.warehouse), read_only=True) as connection:
        return connection.sql(sql).fetchall()


def status_of(result: DbtResult, prefix: str) -> str:
    (status,) = [s for unique_id, s in result.statuses().items() if unique_id.startswith(prefix)]
    return status


def where(raw: Path, file: str, use_case: str) -> str:
    """How the preflight names a raw file."""
    return f"USE CASE: {raw}/{file} (use case {use_case}, declared in use_cases/{use_case}.yml)"


def assert_stopped_at_the_preflight(result: DbtResult) -> None:
    """The build failed at the preflight's test and no model read a raw row."""
    assert not result.ok
    statuses = result.statuses()
    assert statuses["model.leakproof.stg_use_case_preflight"] == "success"
    assert status_of(result, PREFLIGHT_TEST) == "fail"
    assert {statuses[model] for model in RAW_READING_MODELS} == {"skipped"}
    assert "Traceback" not in result.output


# --- the demo data -------------------------------------------------------------------------------


def test_demo_data_every_raw_row_is_accounted_for(
    demo_build: DbtResult, demo_raw_dir: Path, warehouse: duckdb.DuckDBPyConnection
) -> None:
    accounting = {
        (use_case, source_file): rest
        for use_case, source_file, *rest in warehouse.sql(
            "select use_case, source_file, raw_lines, staged_rows, quarantined_rows, "
            "duplicates_collapsed, unaccounted_rows from marts.fct_source_row_accounting"
        ).fetchall()
    }
    files = {
        ("marketing", "labelled"): "customers.csv",
        ("marketing", "scoring"): "customers_scoring.csv",
        ("b2b", "labelled"): "accounts.csv",
    }
    assert set(accounting) == set(files)
    for key, (raw, staged, quarantined, collapsed, unaccounted) in accounting.items():
        _, rows = read_rows(demo_raw_dir / files[key])
        assert raw == len(rows), key
        assert raw == staged + quarantined + collapsed, key
        assert unaccounted == 0, key
        use_case, source_file = key
        assert warehouse.sql(
            f"select count(*) from staging.stg_{use_case}__rows where source_file = '{source_file}'"
        ).fetchall() == [(staged,)]
        assert warehouse.sql(
            "select count(*) from marts.fct_quarantined_rows "
            f"where use_case = '{use_case}' and source_file = '{source_file}'"
        ).fetchall() == [(quarantined,)]
    _, staged, quarantined, collapsed, _ = accounting[("marketing", "labelled")]
    assert quarantined > 0 and collapsed > 0, "the demo data carries faults"
    assert status_of(demo_build, "test.leakproof.expression_is_true_fct_source_row_accounting") == (
        "pass"
    )
    assert status_of(demo_build, PREFLIGHT_TEST) == "pass"
    assert warehouse.sql(
        "select use_case, check_name, status from staging.stg_use_case_preflight "
        "order by use_case, check_name"
    ).fetchall() == [
        ("b2b", "declaration", "ok"),
        ("b2b", "labelled_file", "ok"),
        ("marketing", "declaration", "ok"),
        ("marketing", "labelled_file", "ok"),
        ("marketing", "scoring_file", "ok"),
    ]


def test_a_quarantined_row_keeps_every_original_value(
    demo_raw_dir: Path, warehouse: duckdb.DuckDBPyConnection
) -> None:
    header, rows = read_rows(demo_raw_dir / "customers.csv")
    quarantined = warehouse.sql(
        "select source_row_number, raw_values, quarantine_reasons, quarantine_reason_code, "
        "quarantine_column from marts.fct_quarantined_rows "
        "where use_case = 'marketing' and source_file = 'labelled'"
    ).fetchall()
    assert quarantined
    for row_number, raw_values, reasons, code, column in quarantined:
        original = {
            name: (value.strip(" ") or None)
            for name, value in zip(header, rows[row_number - 1], strict=True)
        }
        assert json.loads(raw_values) == original, row_number
        first = reasons.split("; ")[0]
        assert f"{code}:{column}" == first
        assert column in header


# --- files the preflight stops -----------------------------------------------------------------


def test_file_problems_stop_the_build_naming_file_problem_and_fix(
    demo_raw_dir: Path, tmp_path: Path
) -> None:
    """A dropped column, a renamed column and a UTF-16 file declared UTF-8: one message each,
    and no model reads a raw row."""
    raw = copy_raw(demo_raw_dir, tmp_path / "raw")
    header, rows = read_rows(raw / "customers.csv")
    drop = header.index("AdSpend")
    write_rows(
        raw / "customers.csv",
        [h for i, h in enumerate(header) if i != drop],
        [[v for i, v in enumerate(row) if i != drop] for row in rows],
    )
    header, rows = read_rows(raw / "accounts.csv")
    header[header.index("company_size")] = "employees"
    write_rows(raw / "accounts.csv", header, rows)
    scoring = raw / "customers_scoring.csv"
    scoring.write_bytes(scoring.read_text(encoding="utf-8").encode("utf-16"))

    result = run_dbt(STAGING, tmp_path, raw_dir=raw)
    assert_stopped_at_the_preflight(result)
    assert (
        f"{where(raw, 'customers.csv', 'marketing')} is missing declared column(s) AdSpend. "
        "The file has: CustomerID, Age, Gender, Income, CampaignChannel, CampaignType, "
        "ClickThroughRate," in result.output
    )
    assert (
        f"{where(raw, 'accounts.csv', 'b2b')} is missing declared column(s) company_size. "
        "Columns not declared: employees - renamed?" in result.output
    )
    assert (
        f"{where(raw, 'customers_scoring.csv', 'marketing')} is UTF-16 (it starts with a UTF-16 "
        "byte-order mark): set encoding: utf-16 in its declaration" in result.output
    )
    assert result.output.count("USE CASE: ") == 3


def test_header_only_labelled_file_and_a_latin_1_file_stop_the_build(
    demo_raw_dir: Path, tmp_path: Path
) -> None:
    raw = copy_raw(demo_raw_dir, tmp_path / "raw")
    header, _ = read_rows(raw / "customers.csv")
    write_rows(raw / "customers.csv", header, [])
    accounts = raw / "accounts.csv"
    text = accounts.read_text(encoding="utf-8")
    first_row = text.index("\n") + 1
    # a Latin-1 file has its accents throughout (one undecodable line is rejected, not the file)
    accented = text[:first_row] + text[first_row:].replace("Logistics", "Logístics")
    accounts.write_bytes(accented.encode("latin-1"))
    byte = accented.encode("latin-1").index(b"\xed")

    result = run_dbt(STAGING, tmp_path, raw_dir=raw)
    assert_stopped_at_the_preflight(result)
    assert f"{where(raw, 'customers.csv', 'marketing')} has a header but no data rows" in (
        result.output
    )
    assert (
        f"{where(raw, 'accounts.csv', 'b2b')} is not valid utf-8 (byte {byte}: b'\\xed'): "
        "set encoding: latin-1 in its declaration" in result.output
    )


def test_no_raw_files_stops_at_once_saying_where_it_looked(tmp_path: Path) -> None:
    empty = tmp_path / "nothing_here"
    empty.mkdir()
    result = run_dbt(["build"], tmp_path, raw_dir=empty)
    assert not result.ok
    assert (
        f"USE CASE: No raw data found. Looked for {empty}/customers.csv, "
        f"{empty}/customers_scoring.csv, {empty}/accounts.csv (var raw_dir={empty})"
    ) in result.output
    assert f"leakproof generate --out {empty}" in result.output
    assert "dbt build --vars '{raw_dir: /path/to/files}'" in result.output
    # the preflight ran and its test failed; every other node of the DAG was skipped
    nodes = {k: s for k, s in result.statuses().items() if not k.startswith("operation.")}
    ran = {k.split(".")[2]: s for k, s in nodes.items() if s != "skipped"}
    assert ran == {
        "stg_use_case_preflight": "success",
        "no_rejected_rows_stg_use_case_preflight_status__USE_CASE__message__problem": "fail",
    }
    assert len(nodes) > 100


def test_unparseable_lines_are_rejected_and_the_rest_of_the_file_read(
    demo_raw_dir: Path, tmp_path: Path
) -> None:
    """A ragged line, an unclosed quote, a stray carriage return, an undecodable byte, an empty
    line and CRLF-ended lines appended to an LF file: each bad line is rejected with its line
    number, text and reason; the CRLF lines and every other line are read; nothing is lost."""
    raw = copy_raw(demo_raw_dir, tmp_path / "raw")
    path = raw / "customers.csv"
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b""
    lines.pop()
    total = len(lines) - 1
    bad = {
        11: (lines[10] + b",EXTRA", "wrong_field_count", "21 fields where the header has 20"),
        21: (lines[20].replace(b'"', b"", 1), "unclosed_quote", None),
        31: (lines[30].replace(b",", b"\r", 1), "carriage_return", None),
        41: (lines[40].replace(b"Male", b"M\xe4le"), "undecodable", None),
        51: (b"", "empty_line", "an empty line"),
    }
    for number, (line, *_) in bad.items():
        lines[number - 1] = line
    appended = [line + b"\r" for line in lines[1:4]]
    appended[1] = appended[1].replace(b",", b";", 1)  # a ragged CRLF line
    path.write_bytes(b"\n".join(lines + appended) + b"\n")

    result = run_dbt(STAGING, tmp_path, raw_dir=raw)
    assert result.ok, result.output[-3000:]
    rejected = query(
        result,
        "select line_number, reject_reason_code, reject_reason, raw_line "
        "from marts.fct_rejected_lines where use_case = 'marketing' order by line_number",
    )
    crlf_ragged = total + 3
    assert [r[0] for r in rejected] == [*bad, crlf_ragged]
    for number, code, reason, raw_line in rejected[:-1]:
        line, expected_code, expected_reason = bad[number]
        assert (code, raw_line.encode()) == (
            expected_code,
            line.decode("utf-8", "backslashreplace").encode(),
        )
        assert expected_reason is None or reason == expected_reason
    assert rejected[-1][1:3] == ("wrong_field_count", "19 fields where the header has 20")
    ((raw_lines, rejected_lines, staged, unaccounted),) = query(
        result,
        "select raw_lines, rejected_lines, staged_rows, unaccounted_rows "
        "from marts.fct_source_row_accounting "
        "where use_case = 'marketing' and source_file = 'labelled'",
    )
    assert (raw_lines, rejected_lines, unaccounted) == (total + 3, len(bad) + 1, 0)
    # the two good CRLF lines repeat data rows 1 and 3: collapsed as exact duplicates of them
    data_lines = lines[1:] + [line.rstrip(b"\r") for line in appended]
    assert query(
        result,
        "select source_row_number, duplicate_count from staging.base_marketing__validated "
        "where source_file = 'labelled' and source_row_number in (1, 3) order by 1",
    ) == [(1, data_lines.count(lines[1])), (3, data_lines.count(lines[3]))]
    assert (
        staged
        == raw_lines
        - rejected_lines
        - query(
            result,
            "select count(*) filter (where quarantine_reasons is not null) "
            "+ sum(duplicate_count - 1) "
            "from staging.base_marketing__validated where source_file = 'labelled'",
        )[0][0]
    )


# --- values: typed exactly, or quarantined with the reason ---------------------------------------

VALID = {
    "CustomerID": "0",
    "Age": "40",
    "Gender": "Female",
    "Income": "50000",
    "CampaignChannel": "Email",
    "CampaignType": "Awareness",
    "AdSpend": "100.0",
    "ClickThroughRate": "0.1",
    "ConversionRate": "0.05",
    "WebsiteVisits": "5",
    "PagesPerVisit": "2.5",
    "TimeOnSite": "3.0",
    "SocialShares": "1",
    "EmailOpens": "2",
    "EmailClicks": "1",
    "PreviousPurchases": "0",
    "LoyaltyPoints": "100",
    "AdvertisingPlatform": "Facebook",
    "AdvertisingTool": "Meta Ads Manager",
    "Conversion": "0",
}
# new rows: (edits of a valid row, the quarantine reasons expected - None: staged)
EDITED = {
    10_000_001: ({}, None),
    10_000_002: ({"Income": "abc"}, "unparseable_value:Income"),
    10_000_003: ({"Income": "NaN"}, "unparseable_value:Income"),
    10_000_004: ({"Income": "inf"}, "unparseable_value:Income"),
    10_000_005: ({"Income": "1e400"}, "unparseable_value:Income"),
    10_000_006: ({"Age": "0.6"}, "unparseable_value:Age"),
    10_000_007: ({"Age": "-3"}, "out_of_range:Age"),
    10_000_008: ({"Age": ""}, "missing_value:Age"),
    10_000_009: ({"ClickThroughRate": "1.7"}, "out_of_range:ClickThroughRate"),
    10_000_010: ({"Conversion": "yes"}, "unknown_label:Conversion"),
    10_000_011: ({"Conversion": ""}, "missing_value:Conversion"),
    10_000_012: ({"CampaignType": "Brand Lift"}, "unknown_category:CampaignType"),
    10_000_013: ({"Age": "-3", "Income": "abc"}, "out_of_range:Age; unparseable_value:Income"),
    10_000_014: ({"CampaignChannel": "Carrier Pigeon"}, None),
    10_000_015: ({"CampaignChannel": "  social-MEDIA "}, None),
    10_000_016: ({"CampaignChannel": "Refferal", "Gender": "f"}, None),
}


def test_bad_values_are_quarantined_and_unknown_categories_kept(
    demo_raw_dir: Path, tmp_path: Path
) -> None:
    """One new row per kind of bad value (the rest of each row valid), in a project whose
    declaration quarantines unknown campaign types (`unknown: quarantine`) and keeps unknown
    channels (the default)."""
    project = copy_project(tmp_path / "project")
    declaration = project / "use_cases" / "marketing.yml"
    document = yaml.safe_load(declaration.read_text())
    (table,) = document["sources"][0]["tables"]
    (campaign_type,) = [c for c in table["columns"] if c["name"] == "CampaignType"]
    campaign_type["config"]["meta"]["unknown"] = "quarantine"
    declaration.write_text(yaml.safe_dump(document, sort_keys=False))

    raw = copy_raw(demo_raw_dir, tmp_path / "raw")
    header, rows = read_rows(raw / "customers.csv")
    for customer_id, (edits, _) in EDITED.items():
        values = {**VALID, "CustomerID": str(customer_id), **edits}
        rows.append([values[name] for name in header])
    # two different rows with one id: both quarantined, neither chosen silently
    for age in ("41", "42"):
        rows.append([{**VALID, "CustomerID": "10000099", "Age": age}[name] for name in header])
    write_rows(raw / "customers.csv", header, rows)

    result = run_dbt(STAGING, tmp_path / "run", raw_dir=raw, project_dir=project)
    assert result.ok, result.output[-3000:]
    quarantined = query(
        result,
        "select cast(json_extract_string(raw_values, '$.CustomerID') as bigint) as customer_id, "
        "quarantine_reasons, quarantine_reason_code, quarantine_column, raw_values "
        "from marts.fct_quarantined_rows where use_case = 'marketing' "
        "and json_extract_string(raw_values, '$.CustomerID') like '100000%' order by 1, 5",
    )
    expected = sorted(
        [(i, reasons) for i, (_, reasons) in EDITED.items() if reasons]
        + [(10_000_099, "duplicate_key:CustomerID")] * 2
    )
    assert [(i, reasons) for i, reasons, *_ in quarantined] == expected
    for customer_id, reasons, code, column, raw_values in quarantined:
        assert f"{code}:{column}" == reasons.split("; ")[0]
        original = json.loads(raw_values)
        edits = EDITED.get(customer_id, ({}, None))[0]
        for name, value in edits.items():
            assert original[name] == (value.strip() or None), (customer_id, name)
    assert {json.loads(r[4])["Age"] for r in quarantined if r[0] == 10_000_099} == {"41", "42"}

    staged = query(
        result,
        "select customer_id, campaign_channel, is_unknown_campaign_channel, gender "
        "from staging.stg_marketing__rows where customer_id between 10000001 and 10000099 "
        "order by customer_id",
    )
    assert staged == [
        (10_000_001, "Email", False, "Female"),
        (10_000_014, "Carrier Pigeon", True, "Female"),
        (10_000_015, "Social Media", False, "Female"),
        (10_000_016, "Referral", False, "Female"),
    ]
    ((unknown, unaccounted),) = query(
        result,
        "select staged_rows_with_unknown_category, unaccounted_rows "
        "from marts.fct_source_row_accounting "
        "where use_case = 'marketing' and source_file = 'labelled'",
    )
    assert (unknown, unaccounted) == (1, 0)
    reasons = dict(
        query(
            result,
            "select quarantine_reason_code || ':' || quarantine_column, quarantined_rows "
            "from marts.fct_quarantine_reasons "
            "where use_case = 'marketing' and source_file = 'labelled'",
        )
    )
    assert reasons["unknown_label:Conversion"] == 1
    assert reasons["unknown_category:CampaignType"] == 1
    assert reasons["duplicate_key:CustomerID"] == 2
    assert reasons["missing_value:Conversion"] == 1


def test_header_only_scoring_batch_and_reordered_columns_build(
    demo_raw_dir: Path, tmp_path: Path
) -> None:
    """A scoring batch with a header and no rows stages nothing; a labelled file with its columns
    in another order and only three of the seven channels stages by name."""
    raw = copy_raw(demo_raw_dir, tmp_path / "raw")
    header, _ = read_rows(raw / "customers_scoring.csv")
    write_rows(raw / "customers_scoring.csv", header, [])
    header, rows = read_rows(raw / "customers.csv")
    channel = header.index("CampaignChannel")
    kept = [row for row in rows if row[channel].strip().lower() in {"email", "seo", "referral"}]
    order = list(reversed(range(len(header))))
    write_rows(
        raw / "customers.csv",
        [header[i] for i in order],
        [[row[i] for i in order] for row in kept],
    )
    result = run_dbt(STAGING, tmp_path, raw_dir=raw)
    assert result.ok, result.output[-3000:]
    staged = query(
        result,
        "select source_file, campaign_channel, count(*) from staging.stg_marketing__rows "
        "group by all order by all",
    )
    assert {(source_file, channel) for source_file, channel, _ in staged} == {
        ("labelled", "Email"),
        ("labelled", "Referral"),
        ("labelled", "SEO"),
    }
    accounting = query(
        result,
        "select source_file, raw_lines, staged_rows, unaccounted_rows "
        "from marts.fct_source_row_accounting where use_case = 'marketing' order by 1",
    )
    # the empty batch has its accounting row: no lines, nothing staged
    assert accounting[1] == ("scoring", 0, 0, 0)
    assert [(f, raw_lines, unaccounted) for f, raw_lines, _, unaccounted in accounting] == [
        ("labelled", len(kept), 0),
        ("scoring", 0, 0),
    ]
    assert accounting[0][2] == sum(n for *_, n in staged)


def test_parquet_input_stages_the_same_rows(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Parquet keeps numbers typed, so it carries every fault but unparseable text: the rows the
    CSV quarantines as unparseable_value are staged from Parquet; everything else is identical."""
    from leakproof.generate import generate

    outcomes = {}
    for fmt in ("parquet", "csv"):
        directory = tmp_path_factory.mktemp(f"raw_{fmt}")
        generate(directory, rows=2000, seed=1, b2b_rows=600, fmt=fmt, truth=False)
        result = run_dbt(STAGING, tmp_path / fmt, raw_dir=directory, dbt_vars={"raw_format": fmt})
        assert result.ok, result.output[-3000:]
        outcomes[fmt] = {
            "accounting": query(
                result,
                "select use_case, source_file, raw_lines, staged_rows + quarantined_rows, "
                "unaccounted_rows from marts.fct_source_row_accounting order by all",
            ),
            "staged": query(
                result,
                "select use_case, source_file, staged_rows from marts.fct_source_row_accounting "
                "order by all",
            ),
            "unparseable": {
                (use_case, source_file): rows
                for use_case, source_file, rows in query(
                    result,
                    "select use_case, source_file, sum(quarantined_rows) "
                    "from marts.fct_quarantine_reasons "
                    "where quarantine_reason_code = 'unparseable_value' group by all",
                )
            },
        }
    assert outcomes["parquet"]["accounting"] == outcomes["csv"]["accounting"]
    assert {row[4] for row in outcomes["csv"]["accounting"]} == {0}
    assert outcomes["parquet"]["unparseable"] == {}
    assert outcomes["csv"]["unparseable"], "the CSV carries unparseable numbers"
    for (use_case, source_file, parquet_staged), (*_, csv_staged) in zip(
        outcomes["parquet"]["staged"], outcomes["csv"]["staged"], strict=True
    ):
        unparseable = outcomes["csv"]["unparseable"].get((use_case, source_file), 0)
        assert parquet_staged == csv_staged + unparseable, (use_case, source_file)
