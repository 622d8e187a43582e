"""Raw -> staging: nothing lost, and every kind of bad input ends in a clear error or quarantine.

Each case copies the small generated demo data, breaks one thing, runs `dbt build` on the staging
layer and asserts the exact outcome.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import duckdb
import pytest

from dbt_runner import DbtResult, run_dbt

pytestmark = pytest.mark.dbt

STAGING = ["build", "--select", "+staging", "+marts.data_quality"]


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


def test_demo_data_every_raw_row_is_accounted_for(demo_raw_dir: Path, tmp_path: Path) -> None:
    result = run_dbt(STAGING, tmp_path, raw_dir=demo_raw_dir)
    assert result.ok, result.output[-3000:]
    accounting = {
        row[0]: row[1:]
        for row in query(
            result,
            "select table_name, raw_rows, staged_rows, quarantined_rows, duplicates_collapsed "
            "from marts.fct_source_row_accounting",
        )
    }
    for table, (raw, staged, quarantined, collapsed) in accounting.items():
        _, rows = read_rows(demo_raw_dir / f"{table}.csv")
        assert raw == len(rows), table
        assert raw == staged + quarantined + collapsed, table
    raw, staged, quarantined, collapsed = accounting["customers"]
    assert quarantined > 0 and collapsed > 0, "the demo data carries faults"
    conservation = [
        status
        for unique_id, status in result.statuses().items()
        if unique_id.startswith("test.leakproof.source_rows_conserved")
    ]
    assert conservation == ["pass", "pass", "pass"]


def test_missing_column_fails_naming_file_and_column(demo_raw_dir: Path, tmp_path: Path) -> None:
    raw = copy_raw(demo_raw_dir, tmp_path / "raw")
    header, rows = read_rows(raw / "customers.csv")
    drop = header.index("AdSpend")
    write_rows(
        raw / "customers.csv",
        [h for i, h in enumerate(header) if i != drop],
        [[v for i, v in enumerate(row) if i != drop] for row in rows],
    )
    result = run_dbt(STAGING, tmp_path, raw_dir=raw)
    assert not result.ok
    assert f"{raw}/customers.csv (source marketing.customers) is missing column(s) AdSpend" in (
        result.output
    )
    assert "Column(s) not in the contract" not in result.output


def test_renamed_column_fails_and_suggests_the_rename(demo_raw_dir: Path, tmp_path: Path) -> None:
    raw = copy_raw(demo_raw_dir, tmp_path / "raw")
    header, rows = read_rows(raw / "accounts.csv")
    header[header.index("company_size")] = "employees"
    write_rows(raw / "accounts.csv", header, rows)
    result = run_dbt(STAGING, tmp_path, raw_dir=raw)
    assert not result.ok
    assert "accounts.csv (source b2b.accounts) is missing column(s) company_size" in result.output
    assert "Column(s) not in the contract: employees - renamed?" in result.output


def test_bad_values_are_quarantined_and_unknown_categories_kept(
    demo_raw_dir: Path, tmp_path: Path
) -> None:
    raw = copy_raw(demo_raw_dir, tmp_path / "raw")
    header, rows = read_rows(raw / "customers.csv")
    col = {name: header.index(name) for name in header}
    # give the rows unique new ids so no other fault (e.g. an injected duplicate) interferes
    next_id = 10_000_000
    edited: dict[str, list[int]] = {"income": [], "channel": [], "age": [], "ctr": []}
    edits = [(0, "income"), (1, "income"), (2, "channel"), (3, "channel"), (4, "age"), (5, "ctr")]
    for position, kind in edits:
        row = rows[position]
        next_id += 1
        row[col["CustomerID"]] = str(next_id)
        edited[kind].append(next_id)
        if kind == "income":
            row[col["Income"]] = "abc"
        elif kind == "channel":
            row[col["CampaignChannel"]] = "Carrier Pigeon"
        elif kind == "age":
            row[col["Age"]] = "-3"
        else:
            row[col["ClickThroughRate"]] = "1.7"
        # make the rest of the row valid so the edit is the only problem
        row[col["AdSpend"]] = "100.0"
        if kind != "age":
            row[col["Age"]] = "40"
        if kind != "income":
            row[col["Income"]] = "50000"
        if kind != "ctr":
            row[col["ClickThroughRate"]] = "0.1"
    write_rows(raw / "customers.csv", header, rows)

    result = run_dbt(STAGING, tmp_path, raw_dir=raw)
    assert result.ok, result.output[-3000:]
    quarantined = dict(
        query(
            result,
            "select cast(raw_customer_id as bigint), quarantine_reasons "
            "from staging.stg_marketing__customers_quarantine "
            "where raw_customer_id like '1000000%'",
        )
    )
    for customer_id in edited["income"]:
        assert quarantined[customer_id] == "unparseable_value:Income"
    for customer_id in edited["age"]:
        assert quarantined[customer_id] == "out_of_range:Age"
    for customer_id in edited["ctr"]:
        assert quarantined[customer_id] == "out_of_range:ClickThroughRate"
    raw_income = query(
        result,
        "select raw_income from staging.stg_marketing__customers_quarantine "
        f"where raw_customer_id = '{edited['income'][0]}'",
    )
    assert raw_income == [("abc",)], "the original text is kept"
    unknown = query(
        result,
        "select customer_id, campaign_channel, is_unknown_campaign_channel "
        "from staging.stg_marketing__customers where campaign_channel = 'Carrier Pigeon' "
        "order by customer_id",
    )
    assert unknown == [(customer_id, "Carrier Pigeon", True) for customer_id in edited["channel"]]
    warned = {
        unique_id: status
        for unique_id, status in result.statuses().items()
        if "no_unknown_categories_stg_marketing__customers_campaign_channel" in unique_id
    }
    assert list(warned.values()) == ["warn"]
    assert "Got 1 result" in result.output  # the count of unknown values is reported


def test_header_only_training_file_is_an_error(demo_raw_dir: Path, tmp_path: Path) -> None:
    raw = copy_raw(demo_raw_dir, tmp_path / "raw")
    header, _ = read_rows(raw / "customers.csv")
    write_rows(raw / "customers.csv", header, [])
    result = run_dbt(STAGING, tmp_path, raw_dir=raw)
    assert not result.ok
    assert "customers.csv (source marketing.customers) has a header but no data rows" in (
        result.output
    )


def test_header_only_scoring_batch_builds_empty(demo_raw_dir: Path, tmp_path: Path) -> None:
    raw = copy_raw(demo_raw_dir, tmp_path / "raw")
    header, _ = read_rows(raw / "customers_scoring.csv")
    write_rows(raw / "customers_scoring.csv", header, [])
    result = run_dbt(STAGING, tmp_path, raw_dir=raw)
    assert result.ok, result.output[-3000:]
    assert query(result, "select count(*) from staging.stg_marketing__customers_scoring") == [(0,)]


def test_no_raw_files_stops_at_once_saying_where_it_looked(tmp_path: Path) -> None:
    empty = tmp_path / "nothing_here"
    empty.mkdir()
    result = run_dbt(["build"], tmp_path, raw_dir=empty)
    assert not result.ok
    assert f"No raw data found. Looked for {empty}/customers.csv" in result.output
    assert "leakproof generate --out" in result.output
    assert "dbt build --vars '{raw_dir: /path/to/files" in result.output
    assert "1 of " not in result.output.split("No raw data found")[0].split("Concurrency")[-1]


def test_ragged_line_names_file_and_line(demo_raw_dir: Path, tmp_path: Path) -> None:
    raw = copy_raw(demo_raw_dir, tmp_path / "raw")
    header, rows = read_rows(raw / "customers.csv")
    rows[9] = [*rows[9], "EXTRA"]
    write_rows(raw / "customers.csv", header, rows)
    result = run_dbt(STAGING, tmp_path, raw_dir=raw)
    assert not result.ok
    assert "CSV Error on Line: 11" in result.output  # header is line 1, so row 10 is line 11
    assert "Expected Number of Columns: 20 Found: 21" in result.output
    assert f"{raw}/customers.csv" in result.output


def test_fewer_categories_reordered_columns_still_build(demo_raw_dir: Path, tmp_path: Path) -> None:
    raw = copy_raw(demo_raw_dir, tmp_path / "raw")
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
    staged = query(result, "select campaign_channel from staging.stg_marketing__customers")
    channels = {row[0] for row in staged}
    assert channels == {"Email", "SEO", "Referral"}
    accounting = query(
        result,
        "select raw_rows from marts.fct_source_row_accounting where table_name = 'customers'",
    )
    assert accounting == [(len(kept),)]


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
                "select table_name, raw_rows, staged_rows + quarantined_rows "
                "from marts.fct_source_row_accounting order by table_name",
            ),
            "staged": query(
                result,
                "select table_name, staged_rows from marts.fct_source_row_accounting "
                "order by table_name",
            ),
            "unparseable": dict(
                query(
                    result,
                    "select table_name, sum(quarantined_rows) from marts.fct_quarantine_reasons "
                    "where quarantine_reason_code = 'unparseable_value' group by table_name",
                )
            ),
        }
    assert outcomes["parquet"]["accounting"] == outcomes["csv"]["accounting"]
    assert outcomes["parquet"]["unparseable"] == {}
    assert outcomes["csv"]["unparseable"], "the CSV carries unparseable numbers"
    for (table, parquet_staged), (_, csv_staged) in zip(
        outcomes["parquet"]["staged"], outcomes["csv"]["staged"], strict=True
    ):
        assert parquet_staged == csv_staged + outcomes["csv"]["unparseable"].get(table, 0), table
