"""Bad input, fuzzed: 46 malformed variants of the raw files (bad_input_cases), and what must hold
for each - no Python or DuckDB traceback reaches the user, every raw line is accounted for
(raw lines = staged + quarantined + rejected + duplicates collapsed, counted here independently
of the build), the designed faults end exactly where they should, and `leakproof publish` refuses
every one of these builds (failed, or partial) without touching the serving copy.

Cost: each variant is its own use case (a copy of the marketing declaration under another name,
with ROWS rows), so the variants that must build share one `dbt build` of the staging and data
quality models, and the ones that must stop share another (the preflight reports every file's
problem in one run). Two builds instead of 46: the variants are independent use cases, each with
its own files, models and accounting rows, so sharing a build hides nothing.
The README's "What happens to bad input" table is generated from the outcomes observed here
(LEAKPROOF_WRITE_README=1 rewrites it; otherwise the test checks it is current).
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import duckdb
import pytest
import yaml

from bad_input_cases import (
    BUILDS,
    STOPS,
    TARGET,
    Case,
    join,
    labelled_lines,
    outcome_text,
    scoring_lines,
    table,
)
from dbt_runner import PROJECT_ROOT, DbtResult, copy_project, run_dbt
from leakproof.declarations import write_thin_files
from leakproof.publish import PublishRefused, publish

pytestmark = pytest.mark.dbt

SELECT = ["build", "--select", "+staging", "+marts.data_quality"]
# what each input led to, filled by the two builds, read by the README test
OUTCOMES: dict[str, str] = {}
README_BLOCK = re.compile(
    r"(<!-- bad-input table: .*? -->\n)(.*?)(<!-- /bad-input table -->)", re.DOTALL
)


def declare(project: Path, case: Case) -> None:
    """use_cases/<case>.yml: the marketing declaration under the case's name and files."""
    document = yaml.safe_load((PROJECT_ROOT / "use_cases" / "marketing.yml").read_text())
    source = document["sources"][0]
    source["name"] = case.name
    meta = source["tables"][0]["config"]["meta"]
    meta.update({"file": case.name, "scoring_file": f"{case.name}_scoring", **case.meta})
    (project / "use_cases" / f"{case.name}.yml").write_text(yaml.safe_dump(document))
    write_thin_files(project, case.name, source["tables"][0]["name"])


def write_files(raw: Path, case: Case) -> bytes:
    raw.mkdir(parents=True, exist_ok=True)
    labelled = case.labelled(labelled_lines()) if case.labelled else join(labelled_lines())
    (raw / f"{case.name}.csv").write_bytes(labelled)
    scoring = join(scoring_lines()) if case.scoring is None else case.scoring
    (raw / f"{case.name}_scoring.csv").write_bytes(scoring)
    return labelled


def data_lines(data: bytes) -> int:
    """Physical lines after the header, counted here (not by the build)."""
    lines = data.split(b"\n")
    return max(len(lines) - (1 if lines[-1] == b"" else 0) - 1, 0)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def serving(tmp_path: Path) -> Path:
    """The last good serving copy, as far as a failed build can tell: publish must refuse before
    it touches the file, so its bytes are what is checked (test_publish checks a real copy)."""
    path = tmp_path / "serving" / "serving.duckdb"
    path.parent.mkdir()
    path.write_bytes(b"the last good serving copy")
    return path


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = copy_project(tmp_path_factory.mktemp("bad_input") / "project")
    for case in BUILDS + STOPS:
        declare(project, case)
    return project


def build(project: Path, raw: Path, cases: list[Case], workdir: Path) -> DbtResult:
    """The staging and data-quality models of `cases` (each a use case) over `raw`."""
    return run_dbt(
        SELECT,
        workdir,
        raw_dir=raw,
        dbt_vars={"use_cases": [case.name for case in cases]},
        project_dir=project,
    )


def assert_serving_untouched(result: DbtResult, serving: Path) -> None:
    before = sha256(serving)
    with pytest.raises(PublishRefused):
        publish(result.warehouse, serving, run_results=result.target_path / "run_results.json")
    assert sha256(serving) == before


def test_bad_lines_and_values_never_sink_a_file(
    project: Path, serving: Path, tmp_path: Path
) -> None:
    raw = tmp_path / "raw'dir"  # a quote in raw_dir
    files = {case.name: write_files(raw, case) for case in BUILDS}
    result = build(project, raw, BUILDS, tmp_path / "run")
    assert result.ok, result.output[-5000:]
    assert "Traceback" not in result.output
    with duckdb.connect(str(result.warehouse), read_only=True) as db:
        accounting = {
            (use_case, source_file): rest
            for use_case, source_file, *rest in db.execute(
                "select use_case, source_file, raw_lines, staged_rows, quarantined_rows, "
                "rejected_lines, duplicates_collapsed, unaccounted_rows "
                "from marts.fct_source_row_accounting"
            ).fetchall()
        }
        outcomes: dict[str, str] = {}
        for case in BUILDS:
            raw_lines, staged, quarantined, rejected, collapsed, unaccounted = accounting[
                (case.name, "labelled")
            ]
            assert raw_lines == data_lines(files[case.name]), case.name
            assert raw_lines == staged + quarantined + rejected + collapsed, case.name
            assert unaccounted == 0, case.name
            scoring = accounting[(case.name, "scoring")]
            scoring_bytes = (raw / f"{case.name}_scoring.csv").read_bytes()
            assert scoring[0] == data_lines(scoring_bytes) and scoring[-1] == 0, case.name
            outcomes.setdefault(case.input, observe(db, case, (staged, rejected, collapsed)))
    assert_serving_untouched(result, serving)
    OUTCOMES.update(outcomes)


def observe(db: duckdb.DuckDBPyConnection, case: Case, counts: tuple[int, int, int]) -> str:
    """Assert the case's expected outcome at line TARGET; the outcome in words."""
    kind, detail = case.expect
    staged, rejected, collapsed = counts
    row = TARGET - 1
    reasons = db.execute(
        "select quarantine_reasons from marts.fct_quarantined_rows "
        "where use_case = ? and source_file = 'labelled' and source_row_number = ?",
        [case.name, row],
    ).fetchall()
    lines = db.execute(
        "select line_number, reject_reason_code, reject_reason from marts.fct_rejected_lines "
        "where use_case = ? order by line_number",
        [case.name],
    ).fetchall()
    if kind == "rejected":
        assert [(number, code) for number, code, _ in lines] == [(TARGET, detail)], case.name
        assert reasons == [], case.name
        return outcome_text(kind, detail, lines[0][2].split(" (")[0])
    if kind == "all_rejected":
        assert {code for _, code, _ in lines} == {detail} and staged == 0, case.name
        assert [number for number, *_ in lines] == list(range(2, len(lines) + 2)), case.name
    elif kind == "quarantined":
        assert reasons == [(detail,)] and lines == [], case.name
    elif kind == "collapsed":
        assert (lines, collapsed) == ([], 1), case.name
        assert db.execute(
            "select duplicate_count from staging.base_"
            + case.name
            + "__validated where source_file = 'labelled' and source_row_number = ?",
            [row],
        ).fetchall() == [(2,)]
    elif kind == "staged":
        assert (lines, reasons, rejected, collapsed) == ([], [], 0, 0), case.name
    else:
        assert rejected + staged > 0, case.name
    return outcome_text(kind, detail)


def test_file_problems_stop_the_build_naming_file_problem_and_fix(
    project: Path, serving: Path, tmp_path: Path
) -> None:
    raw = tmp_path / "raw"
    for case in STOPS:
        write_files(raw, case)
    result = build(project, raw, STOPS, tmp_path / "run")
    assert not result.ok
    assert "Traceback" not in result.output
    statuses = result.statuses()
    assert statuses["model.leakproof.stg_raw_files"] == "skipped"
    assert {s for node, s in statuses.items() if ".base_" in node} == {"skipped"}
    outcomes = {}
    for case in STOPS:
        where = (
            f"USE CASE: {raw}/{case.name}.csv (use case {case.name}, "
            f"declared in use_cases/{case.name}.yml)"
        )
        messages = [
            line[line.index(where) + len(where) :].lstrip(":").strip()
            for line in result.output.splitlines()
            if where in line and case.expect[1] in line
        ]
        assert messages, (case.name, result.output[-3000:])
        message = messages[0].replace("`", "'")
        outcomes[case.input] = f"the build stops before any row is read: `<file> {message}`"
    assert_serving_untouched(result, serving)
    OUTCOMES.update(outcomes)


def test_the_readme_table_is_what_happens() -> None:
    """Runs after the two builds above (pytest keeps the file's order)."""
    inputs = [c.input for c in BUILDS + STOPS]
    if set(OUTCOMES) != set(inputs):
        pytest.skip("needs both builds of this module")
    readme = PROJECT_ROOT / "README.md"
    text = readme.read_text()
    generated = table({text: OUTCOMES[text] for text in dict.fromkeys(inputs)}) + "\n"
    if os.environ.get("LEAKPROOF_WRITE_README"):
        text = README_BLOCK.sub(lambda m: m[1] + generated + m[3], text)
        readme.write_text(text)
    (current,) = [m[2] for m in README_BLOCK.finditer(text)]
    assert current == generated, generated
