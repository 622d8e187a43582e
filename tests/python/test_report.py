"""The report: every chart as a PNG, one self-contained page, rendered by headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from dbt_runner import DbtResult
from leakproof.cli import main
from leakproof.publish import publish
from leakproof.report import CHARTS, load_frames, newest_populations

CHART_NAMES = [name for name, *_ in CHARTS]


@pytest.fixture(scope="module")
def report_dir(demo_build: DbtResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("report")
    serving = base / "serving.duckdb"
    publish(demo_build.warehouse, serving)
    assert main(["report", "--serving", str(serving), "--out", str(base / "reports")]) == 0
    return base / "reports"


def test_every_chart_is_a_png(report_dir: Path) -> None:
    assert CHART_NAMES == [
        "calibration",
        "lift_gain",
        "threshold_sweep",
        "channel_platform",
        "psi",
        "b2b_budget",
        "policy_evaluation",
    ]
    for name in CHART_NAMES:
        with Image.open(report_dir / f"{name}.png") as image:
            assert image.format == "PNG"
            assert image.width >= 600 and image.height >= 400


def test_page_is_self_contained_with_the_key_tables(report_dir: Path) -> None:
    page = (report_dir / "report.html").read_text()
    sources = re.findall(r'<img [^>]*src="([^"]+)"', page)
    assert len(sources) == len(CHART_NAMES)
    assert all(source.startswith("data:image/png;base64,") for source in sources)
    assert not re.search(r'(src|href)="(https?:|file:|/)', page)
    for heading in (
        "Evaluation summary",
        "Policy evaluation (test split)",
        "PSI: variables not stable",
        "Channel performance",
    ):
        assert f"<h3>{heading}</h3>" in page
    assert page.count("<table") == 5
    assert "direct_method" in page and "doubly_robust" in page and "wave_6" in page


def test_psi_chart_shows_the_newest_population_per_use_case() -> None:
    psi = pd.DataFrame(
        {
            "use_case": ["b2b", "b2b", "b2b", "marketing", "marketing"],
            "population": ["wave_1", "wave_6", "wave_6", "test_split", "scoring_batch"],
            "population_split": ["train", "score", "score", "test", "score"],
            "campaign_wave": [1, 6, 6, None, None],
            "psi": [0.01, 0.3, 0.05, 0.02, 0.01],
        }
    )
    newest = newest_populations(psi)
    assert list(zip(newest["use_case"], newest["population"], strict=True)) == [
        ("b2b", "wave_6"),
        ("b2b", "wave_6"),
        ("marketing", "scoring_batch"),
    ]


def test_report_reads_one_snapshot_of_the_serving_copy(report_dir: Path) -> None:
    frames = load_frames(report_dir.parent / "serving.duckdb")
    primary = set(frames["registry"].query("role == 'primary'")["model_id"])
    assert set(frames["calibration"]["model_id"]) == primary
    assert set(frames["lift"]["model_id"]) == primary
    assert set(frames["sweep"]["model_id"]) == primary
    assert len(frames["channel_platform"]) == 49
    assert set(frames["policy"]["estimator"]) >= {"direct_method", "ipw", "doubly_robust"}


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
    assert int(match.group(1)) == len(CHART_NAMES)
    assert int(match.group(2)) == 0
    assert all(int(width) >= 600 for width in match.group(3).split(","))
