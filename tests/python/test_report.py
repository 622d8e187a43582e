"""The report: a chart (or a panel) per use case present in the published tables, one
self-contained page, rendered by headless Chromium; any set of use cases, none named in the code.

The demo build declares two use cases: marketing (what-if treatments campaign_channel x
advertising_platform, a stratified split) and b2b (no treatments, split by campaign wave). A
project declaring fewer publishes the same tables restricted to its use cases (every shared table
is a union of independent per-use-case parts), which is how the one-use-case cases are made here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from dbt_runner import DbtResult
from leakproof.cli import main
from leakproof.publish import publish
from leakproof.report import (
    build_charts,
    key_tables,
    load_frames,
    newest_populations,
    policy_chart,
    render_report,
    top_dimension_values,
    treatment_chart,
    undrawn_charts,
)

PANEL_CHARTS = ["calibration", "lift_gain", "threshold_sweep", "psi", "budget_curve"]


def only_use_cases(frames: dict[str, pd.DataFrame], names: set[str]) -> dict[str, pd.DataFrame]:
    """What a project declaring only `names` publishes: every frame restricted to their rows."""
    return {
        key: frame[frame["use_case"].isin(names)].reset_index(drop=True)
        if "use_case" in frame.columns
        else frame
        for key, frame in frames.items()
    }


@pytest.fixture(scope="module")
def served(demo_build: DbtResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    serving = tmp_path_factory.mktemp("served") / "serving.duckdb"
    publish(demo_build.warehouse, serving)
    return serving


@pytest.fixture(scope="module")
def report_dir(served: Path) -> Path:
    out = served.parent / "reports"
    assert main(["report", "--serving", str(served), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def frames(served: Path) -> dict[str, pd.DataFrame]:
    return load_frames(served)


@pytest.fixture(scope="module")
def declared(frames: dict[str, pd.DataFrame]) -> tuple[list[str], list[str]]:
    """(every use case, those with what-if treatments), read from ml_use_cases."""
    use_cases = frames["use_cases"]
    with_treatments = use_cases[use_cases["treatments"].fillna("") != ""]
    return sorted(use_cases["use_case"]), sorted(with_treatments["use_case"])


def test_the_demo_declares_one_use_case_with_treatments_and_one_without(declared) -> None:
    assert declared == (["b2b", "marketing"], ["marketing"])


def test_every_chart_is_a_png_with_the_arms_chart_per_use_case_with_treatments(
    report_dir: Path, declared
) -> None:
    _, with_treatments = declared
    expected = {*PANEL_CHARTS, "policy_evaluation"} | {f"treatments_{n}" for n in with_treatments}
    assert {path.stem for path in report_dir.glob("*.png")} == expected
    for name in expected:
        with Image.open(report_dir / f"{name}.png") as image:
            assert image.format == "PNG"
            assert image.width >= 600 and image.height >= 400


def test_every_chart_has_a_panel_per_use_case_present(frames, declared) -> None:
    use_cases, with_treatments = declared
    charts = {chart.name: chart for chart in build_charts(frames)}
    try:
        panels = {"calibration": 1, "lift_gain": 2, "threshold_sweep": 1, "psi": 1}
        panels |= {"budget_curve": 1}
        for name, per_use_case in panels.items():
            chart = charts[name]
            assert chart.use_cases == tuple(use_cases)
            titles = [axis.get_title() for axis in chart.figure.axes]
            assert len(titles) == per_use_case * len(use_cases)
            for use_case in use_cases:
                assert sum(title.startswith(use_case) for title in titles) == per_use_case
        # the policy is evaluated for the what-if use cases only
        assert charts["policy_evaluation"].use_cases == tuple(with_treatments)
        assert [axis.get_title() for axis in charts["policy_evaluation"].figure.axes] == [
            f"{name} (test split)" for name in with_treatments
        ]
        # marketing's two treatments: the 7 x 7 grid as a heatmap, axes named by the treatments
        heatmap = charts["treatments_marketing"].figure.axes[0]
        assert len(heatmap.get_images()) == 1
        assert heatmap.get_images()[0].get_array().shape == (7, 7)
        assert heatmap.get_xlabel() == "advertising_platform"
        assert heatmap.get_ylabel() == "campaign_channel"
        assert len(heatmap.texts) == 49
        assert "treatments_b2b" not in charts
        assert undrawn_charts(frames) == []
    finally:
        plt.close("all")


def test_page_is_self_contained_with_each_chart_and_the_key_tables(
    report_dir: Path, frames, declared
) -> None:
    use_cases, with_treatments = declared
    page = (report_dir / "report.html").read_text()
    sources = re.findall(r'<img [^>]*src="([^"]+)"', page)
    assert len(sources) == len(list(report_dir.glob("*.png")))
    assert all(source.startswith("data:image/png;base64,") for source in sources)
    assert not re.search(r'(src|href)="(https?:|file:|/)', page)
    for name in PANEL_CHARTS:
        assert re.search(
            rf'<h3 id="{name}">[^<]+</h3>\n<p class="meta use-cases">Use cases: '
            rf'{", ".join(use_cases)}</p>\n<img id="chart-{name}"',
            page,
        )
    for name in with_treatments:
        assert f'<img id="chart-treatments_{name}"' in page
    policy_caption = f"Use cases: {', '.join(with_treatments)}</p>"
    assert f'{policy_caption}\n<img id="chart-policy_evaluation"' in page
    headings = re.findall(r"<h3>([^<]+)</h3>", page)
    assert headings == [
        "Use cases",
        "Models",
        "Evaluation summary",
        "Policy evaluation (test split)",
        "PSI: variables not stable",
        "Dimension performance (top 5 values per use case and dimension)",
    ]
    assert page.count("<table") == 6
    assert "not drawn" not in page
    assert "direct_method" in page and "doubly_robust" in page and "campaign_wave 6" in page
    for row in frames["dimensions"][["use_case", "dimension"]].drop_duplicates().itertuples():
        assert f"<td>{row.use_case}</td>\n      <td>{row.dimension}</td>" in page


def test_dimension_table_keeps_the_top_values_of_every_use_case_and_dimension(frames) -> None:
    dimensions = frames["dimensions"]
    top = top_dimension_values(dimensions)
    for (use_case, dimension), rows in dimensions.groupby(["use_case", "dimension"]):
        shown = top[(top["use_case"] == use_case) & (top["dimension"] == dimension)]
        assert len(shown) == min(5, len(rows))
        assert list(shown["positive_rate_rank"]) == sorted(rows["positive_rate_rank"])[:5]
        assert bool(shown["is_best"].iloc[0])
    assert len(top) == 34  # 4 + 5 + 4 + 2 (b2b) + 5 + 5 + 5 + 4 (marketing)


def test_psi_chart_shows_the_newest_population_per_use_case(frames) -> None:
    psi = pd.DataFrame(
        {
            "use_case": ["waves", "waves", "waves", "batch", "batch", "held_out"],
            "population": ["week 9", "week 10", "week 10", "test_split", "scoring_batch", "t"],
            "population_split": ["test", "score", "score", "test", "score", "test"],
            "population_period": ["9", "10", "10", None, None, None],
            "psi": [0.01, 0.3, 0.05, 0.02, 0.01, 0.04],
        }
    )
    newest = newest_populations(psi)
    assert list(zip(newest["use_case"], newest["population"], strict=True)) == [
        ("batch", "scoring_batch"),
        ("held_out", "t"),
        ("waves", "week 10"),  # 10 after 9: periods compared as numbers
        ("waves", "week 10"),
    ]
    served = newest_populations(frames["psi"])
    assert dict(zip(served["use_case"], served["population"], strict=True)) == {
        "b2b": "campaign_wave 6",
        "marketing": "scoring_batch",
    }


def test_report_reads_one_snapshot_of_the_serving_copy(frames) -> None:
    primary = set(frames["registry"].query("role == 'primary'")["model_id"])
    assert set(frames["calibration"]["model_id"]) == primary
    assert set(frames["lift"]["model_id"]) == primary
    assert set(frames["sweep"]["model_id"]) == primary
    assert set(frames["targeting"]["model_id"]) == primary
    assert len(frames["treatments"]) == 49
    assert set(frames["policy"]["estimator"]) >= {"direct_method", "ipw", "doubly_robust"}


@pytest.mark.parametrize("keep", ["b2b", "marketing"])
def test_a_project_with_one_use_case_renders(
    frames, report_dir: Path, tmp_path: Path, keep: str
) -> None:
    out = tmp_path / "reports"
    shutil.copytree(report_dir, out)  # the last report of both: stale charts must go
    page = render_report(only_use_cases(frames, {keep}), out).read_text()
    has_treatments = keep == "marketing"
    expected = set(PANEL_CHARTS)
    if has_treatments:
        expected |= {"policy_evaluation", f"treatments_{keep}"}
    assert {path.stem for path in out.glob("*.png")} == expected
    assert page.count("<img ") == len(expected)
    assert page.count(f'<p class="meta use-cases">Use cases: {keep}</p>') == len(expected)
    assert ("What-if arms: not drawn" in page) is not has_treatments
    assert ("Policy evaluation: not drawn" in page) is not has_treatments
    # every key table with rows is on the page ("No rows." for the others): the policy table
    # only where the use case has treatments
    tables = key_tables(only_use_cases(frames, {keep}))
    assert tables["Policy evaluation (test split)"].empty is not has_treatments
    assert page.count("<table") == sum(not table.empty for table in tables.values()) >= 4


def test_no_use_case_with_treatments_draws_no_arms_chart_and_no_error(frames) -> None:
    without = dict(frames)
    without["treatments"] = frames["treatments"].iloc[0:0]
    without["policy"] = frames["policy"].iloc[0:0]
    try:
        names = [chart.name for chart in build_charts(without)]
    finally:
        plt.close("all")
    assert names == PANEL_CHARTS
    assert [spec.name for spec in undrawn_charts(without)] == ["treatments", "policy_evaluation"]
    assert key_tables(without)["Policy evaluation (test split)"].empty


def _arms(treatments: str, arms: list[str], rates: list[float]) -> pd.DataFrame:
    rates_array = np.array(rates)
    return pd.DataFrame(
        {
            "use_case": "demo",
            "treatments": treatments,
            "arm": arms,
            "labelled_rows": [0 if np.isnan(rate) else 400 for rate in rates],
            "positive_rate": rates_array,
            "positive_rate_ci_lower": rates_array * 0.8,
            "positive_rate_ci_upper": rates_array * 1.2,
            "is_below_min_sample": [index % 2 == 0 for index in range(len(arms))],
        }
    )


def test_arms_chart_is_a_heatmap_for_two_treatments_else_the_top_arms_as_bars() -> None:
    try:
        grid = treatment_chart(
            _arms("a + b", ["x + p", "x + q", "y + p", "y + q"], [0.1, 0.2, 0.3, np.nan])
        ).axes[0]
        assert grid.get_images()[0].get_array().shape == (2, 2)
        assert (grid.get_xlabel(), grid.get_ylabel()) == ("b", "a")
        assert [text.get_text() for text in grid.texts] == ["10.00*", "20.00", "30.00*", "empty"]

        one = treatment_chart(_arms("channel", ["p", "q", "r"], [0.1, np.nan, 0.3])).axes[0]
        assert one.get_images() == []
        assert [label.get_text() for label in one.get_yticklabels()] == ["r", "p"]
        assert one.get_ylabel() == "channel"

        many = [f"{i} + {j} + {k}" for i in range(3) for j in range(3) for k in range(2)]
        rates = list(np.linspace(0.01, 0.18, len(many)))
        three = treatment_chart(_arms("a + b + c", many, rates)).axes[0]
        assert len(three.patches) == 15
        assert three.get_yticklabels()[0].get_text() == "2 + 2 + 1"
        assert "top 15 of 18" in three.get_title()

        # a value holding the separator: not a clean grid, drawn as bars rather than misread
        odd = treatment_chart(_arms("a + b", ["x + p + q", "y + p"], [0.1, 0.2])).axes[0]
        assert odd.get_images() == [] and len(odd.patches) == 2

        both = pd.concat([_arms("a", ["p"], [0.1]), _arms("a", ["p"], [0.1]).assign(use_case="z")])
        with pytest.raises(ValueError, match="one use case"):
            treatment_chart(both)
    finally:
        plt.close("all")


def test_policy_chart_names_an_estimate_without_a_value(frames) -> None:
    # the estimates with a value, two of them then made not identifiable
    policy = frames["policy"][frames["policy"]["positive_rate"].notna()].reset_index(drop=True)
    assert len(policy) > 2
    unidentified = policy.index < 2
    policy.loc[unidentified, ["positive_rate", "ci_lower", "ci_upper"]] = np.nan
    policy["status"] = np.where(unidentified, "not_identifiable", "estimated")
    try:
        axis = policy_chart(policy).axes[0]
        assert [text.get_text() for text in axis.texts] == ["not_identifiable"] * 2
        # columns of a redesigned table may go: the chart reads what is there
        slim = policy.drop(columns=["estimator_order", "is_model_claimed", "true_positive_rate"])
        assert policy_chart(slim.assign(status=None)).axes[0].texts[0].get_text() == "no estimate"
    finally:
        plt.close("all")
    table = key_tables({**frames, "policy": policy})["Policy evaluation (test split)"]
    assert list(table.columns[:4]) == ["use_case", "policy", "estimator", "status"]


IMAGE_CHECK = """
<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const broken = images.filter((image) => !(image.complete && image.naturalWidth > 0));
  const marker = document.createElement("pre");
  marker.id = "image-check";
  marker.textContent = `images=${images.length} broken=${broken.length} widths=` +
    images.map((image) => image.naturalWidth).join(",");
  document.body.appendChild(marker);
});
</script>
"""


def test_page_renders_in_headless_chromium_with_no_broken_image(
    report_dir: Path, tmp_path: Path
) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("chromium is required in CI (.ci/run installs Debian's package)")
        pytest.skip("chromium not installed (apt-get install chromium)")
    page = tmp_path / "report.html"
    page.write_text(
        (report_dir / "report.html").read_text().replace("</body>", IMAGE_CHECK + "</body>")
    )
    completed = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    match = re.search(r"images=(\d+) broken=(\d+) widths=([\d,]*)", completed.stdout)
    assert match, completed.stderr[-2000:]
    assert int(match.group(1)) == len(list(report_dir.glob("*.png")))
    assert int(match.group(2)) == 0
    assert all(int(width) >= 600 for width in match.group(3).split(","))
