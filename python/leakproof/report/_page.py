"""The page: the charts as PNGs and one self-contained HTML page (charts embedded as base64 data
URIs) with the key tables, written from the frames of one snapshot of the serving copy."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import NamedTuple

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from leakproof.report._charts import CHARTS, build_charts, undrawn_charts
from leakproof.report._frames import load_frames

TOP_VALUES = 5  # values per use case and dimension in the dimension performance table

TABLE_COLUMNS: dict[str, list[str]] = {
    "use_cases": [
        "use_case", "target_column", "positive_labels", "grain", "split_method", "treatments",
        "train_rows", "test_rows", "score_rows", "train_positives", "test_positives",
    ],
    "evaluation": [
        "use_case", "model_id", "split", "rows_evaluated", "base_rate", "auc", "pr_auc", "ks",
        "brier", "f1_at_threshold", "lift_top_10", "lift_top_20", "calibration_slope",
        "calibration_intercept",
    ],
    "policy": [
        "use_case", "policy", "estimator", "status", "rows_evaluated", "positive_rate",
        "ci_lower", "ci_upper", "relative_lift", "is_model_claimed", "true_positive_rate",
        "matched_rows", "effective_sample_size",
    ],
    "psi": ["use_case", "population", "variable_name", "is_gated", "psi", "psi_band"],
    "dimensions": [
        "use_case", "dimension", "dimension_value", "labelled_rows", "positives",
        "positive_rate", "positive_rate_ci_lower", "positive_rate_ci_upper", "cost_per_positive",
        "positive_rate_rank", "is_below_min_sample", "is_best", "gap_to_best_p_value_adjusted",
        "is_gap_to_best_significant",
    ],
}  # fmt: skip


class RenderedChart(NamedTuple):
    name: str
    title: str
    use_cases: tuple[str, ...]
    png: bytes


def _columns(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    """The table's reader-facing columns that the frame carries (a dropped column is left out)."""
    return frame[[name for name in TABLE_COLUMNS[key] if name in frame.columns]]


def top_dimension_values(dimensions: pd.DataFrame, top: int = TOP_VALUES) -> pd.DataFrame:
    """The `top` values of every use case and analytics dimension by positive-rate rank."""
    ranked = dimensions.sort_values(
        ["use_case", "dimension", "positive_rate_rank", "value_order"], na_position="last"
    )
    return ranked.groupby(["use_case", "dimension"], sort=False).head(top)


def key_tables(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The tables shown on the page, with the columns a reader needs."""
    psi = frames["psi"]
    shifted = psi[psi["psi_band"] != "stable"].sort_values(
        ["use_case", "psi"], ascending=[True, False]
    )
    return {
        "Use cases": _columns(frames["use_cases"], "use_cases"),
        "Models": frames["registry"],
        "Evaluation summary": _columns(frames["evaluation"], "evaluation"),
        "Policy evaluation (test split)": _columns(frames["policy"], "policy"),
        "PSI: variables not stable": _columns(shifted, "psi"),
        f"Dimension performance (top {TOP_VALUES} values per use case and dimension)": _columns(
            top_dimension_values(frames["dimensions"]), "dimensions"
        ),
    }


def png_bytes(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()


def _table_html(frame: pd.DataFrame) -> str:
    if frame.empty:
        return '<p class="meta">No rows.</p>'
    return frame.to_html(
        index=False, float_format=lambda value: f"{value:.4g}", na_rep="", border=0
    )


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
img { max-width: 100%; border: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85em; margin-bottom: 1.5em; }
th, td { padding: 0.25em 0.6em; border-bottom: 1px solid #ddd; text-align: right; }
th { background: #f3f3f3; }
.meta { color: #555; }
"""


def render_html(
    charts: list[RenderedChart],
    tables: dict[str, pd.DataFrame],
    meta: pd.DataFrame,
    notes: list[str] | None = None,
) -> str:
    """One self-contained page: the charts as data URIs (each with the use cases it shows), a
    note per chart not drawn, then the tables."""
    published = html.escape(str(meta["published_at"].iloc[0])) if not meta.empty else "unknown"
    source = html.escape(str(meta["source_file"].iloc[0])) if not meta.empty else "unknown"
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>leakproof report</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>leakproof report</h1>",
        f'<p class="meta">Serving copy published at {published} UTC from {source}; '
        f"{len(meta)} tables.</p>",
        "<h2>Charts</h2>",
    ]
    for chart in charts:
        data = base64.b64encode(chart.png).decode("ascii")
        title = html.escape(chart.title)
        parts += [
            f'<h3 id="{chart.name}">{title}</h3>',
            f'<p class="meta use-cases">Use cases: {html.escape(", ".join(chart.use_cases))}</p>',
            f'<img id="chart-{chart.name}" alt="{title}" src="data:image/png;base64,{data}">',
        ]
    parts += [f'<p class="meta not-drawn">{html.escape(note)}</p>' for note in notes or []]
    parts.append("<h2>Key tables</h2>")
    for title, frame in tables.items():
        parts += [f"<h3>{html.escape(title)}</h3>", _table_html(frame)]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _stale_pngs(out_dir: Path, written: set[str]) -> list[Path]:
    """PNGs named like a chart of the page but not written this time (a use case turned off)."""
    stale = []
    for spec in CHARTS:
        pattern = f"{spec.name}_*.png" if spec.per_use_case else f"{spec.name}.png"
        stale += [path for path in out_dir.glob(pattern) if path.stem not in written]
    return stale


def render_report(frames: dict[str, pd.DataFrame], out_dir: Path) -> Path:
    """Write `<out_dir>/<chart>.png` per chart and `<out_dir>/report.html` from the frames;
    return the page."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rendered = []
    for chart in build_charts(frames):
        png = png_bytes(chart.figure)
        (out_dir / f"{chart.name}.png").write_bytes(png)
        rendered.append(RenderedChart(chart.name, chart.title, chart.use_cases, png))
    for path in _stale_pngs(out_dir, {chart.name for chart in rendered}):
        path.unlink()
    notes = [
        f"{spec.title}: not drawn, {spec.table} has no rows." for spec in undrawn_charts(frames)
    ]
    page = out_dir / "report.html"
    temporary = page.with_name(page.name + ".tmp")
    temporary.write_text(render_html(rendered, key_tables(frames), frames["publish"], notes))
    temporary.replace(page)
    return page


def write_report(serving: Path, out_dir: Path) -> Path:
    """The report of the serving copy, read in one read-only connection (one snapshot)."""
    return render_report(load_frames(serving), out_dir)
