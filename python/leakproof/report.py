"""The report: PNG charts and one self-contained HTML page, read from the serving copy.

Everything is read in one read-only connection (one snapshot of the serving copy). Each chart is
a pure function of DataFrames returning a matplotlib Figure; `write_report` saves them as PNGs and
embeds them (base64 data URIs) with the key tables in `report.html`, which needs no other file.
"""

from __future__ import annotations

import base64
import html
import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

USE_CASES = ("marketing", "b2b")
PSI_BANDS = {"stable": "#4c9a2a", "investigate": "#e0a100", "shifted": "#c0392b"}

QUERIES: dict[str, str] = {
    "publish": "select * from main._publish order by table_schema, table_name",
    "registry": (
        "select model_id, use_case, role, algorithm, threshold, cv_auc_mean, test_auc, trained_at"
        " from ml.ml_model_registry order by use_case, role desc"
    ),
    "calibration": (
        "select bins.* from ml.ml_calibration_bins as bins inner join ml.ml_model_registry as reg"
        " on bins.model_id = reg.model_id and reg.role = 'primary' where bins.split = 'test'"
        " order by bins.use_case, bins.calibration_bin"
    ),
    "lift": (
        "select lift.* from ml.ml_lift_by_decile as lift inner join ml.ml_model_registry as reg"
        " on lift.model_id = reg.model_id and reg.role = 'primary' where lift.split = 'test'"
        " order by lift.use_case, lift.decile"
    ),
    "sweep": (
        "select sweep.*, reg.threshold as model_threshold from ml.ml_threshold_sweep as sweep"
        " inner join ml.ml_model_registry as reg"
        " on sweep.model_id = reg.model_id and reg.role = 'primary'"
        " where sweep.population = 'test' order by sweep.use_case, sweep.threshold"
    ),
    "channel_platform": (
        "select * from marts.fct_channel_platform_performance"
        " order by campaign_channel, advertising_platform"
    ),
    "channel": (
        "select campaign_channel, customers, conversions, conversion_rate,"
        " conversion_rate_ci_lower, conversion_rate_ci_upper, cost_per_conversion,"
        " conversion_rate_rank, is_below_min_sample, gap_to_best_p_value_adjusted,"
        " is_gap_to_best_significant from marts.fct_channel_performance"
        " order by conversion_rate_rank"
    ),
    "psi": "select * from ml.ml_psi order by use_case, population, psi desc",
    "targeting": (
        "select * from ml.ml_b2b_targeting order by population_split, campaign_wave, budget_share"
    ),
    "policy": "select * from ml.ml_policy_evaluation order by policy, estimator_order",
    "evaluation": (
        "select ev.* from ml.ml_evaluation_summary as ev order by ev.use_case, ev.split desc"
    ),
}


@dataclass(frozen=True)
class Chart:
    name: str
    title: str
    figure: Figure


def load_frames(serving: Path) -> dict[str, pd.DataFrame]:
    """Every frame the report needs, read in one read-only connection (one snapshot)."""
    connection = duckdb.connect(str(serving), read_only=True)
    try:
        with warnings.catch_warnings():
            # duckdb 2.0's .df() calls a pandas API deprecated in pandas 3.1; not ours to fix
            warnings.filterwarnings("ignore", message="The inplace keyword")
            return {name: connection.execute(query).df() for name, query in QUERIES.items()}
    finally:
        connection.close()


def _panels(count: int, width: float = 5.5, height: float = 4.2) -> tuple[Figure, list]:
    figure, axes = plt.subplots(1, count, figsize=(width * count, height), squeeze=False)
    return figure, list(axes[0])


def calibration_chart(calibration: pd.DataFrame) -> Figure:
    """Reliability diagram per use case: mean predicted vs observed rate (95 % Wilson)."""
    figure, axes = _panels(len(USE_CASES))
    for axis, use_case in zip(axes, USE_CASES, strict=True):
        rows = calibration[calibration["use_case"] == use_case]
        top = float(max(rows["mean_predicted"].max(), rows["observed_rate_ci_upper"].max(), 0.01))
        axis.plot([0, top], [0, top], linestyle="--", color="grey", label="perfect calibration")
        axis.errorbar(
            rows["mean_predicted"],
            rows["observed_rate"],
            yerr=[
                rows["observed_rate"] - rows["observed_rate_ci_lower"],
                rows["observed_rate_ci_upper"] - rows["observed_rate"],
            ],
            marker="o",
            capsize=3,
            label="observed (95 % CI)",
        )
        axis.set(
            title=f"{use_case} (test split)",
            xlabel="mean predicted probability",
            ylabel="observed rate",
        )
        axis.legend(loc="upper left")
    figure.suptitle("Calibration curve")
    figure.tight_layout()
    return figure


def lift_gain_chart(lift: pd.DataFrame) -> Figure:
    """Lift by score decile (1 = highest scores) and the cumulative gain curve."""
    figure, (lift_axis, gain_axis) = _panels(2)
    width = 0.4
    for offset, use_case in zip((-width / 2, width / 2), USE_CASES, strict=True):
        rows = lift[lift["use_case"] == use_case]
        lift_axis.bar(rows["decile"] + offset, rows["lift"], width=width, label=use_case)
        gain_axis.plot(
            np.concatenate([[0.0], rows["decile"] / rows["decile"].max()]),
            np.concatenate([[0.0], rows["cumulative_gain"]]),
            marker="o",
            label=use_case,
        )
    lift_axis.axhline(1.0, color="grey", linestyle="--", label="random")
    lift_axis.set(
        title="Lift by decile (test split)",
        xlabel="score decile (1 = highest)",
        ylabel="response rate / base rate",
        xticks=range(1, 11),
    )
    gain_axis.plot([0, 1], [0, 1], color="grey", linestyle="--", label="random")
    gain_axis.set(
        title="Cumulative gain (test split)",
        xlabel="share contacted (by score)",
        ylabel="share of responders reached",
    )
    for axis in (lift_axis, gain_axis):
        axis.legend()
    figure.tight_layout()
    return figure


def threshold_sweep_chart(sweep: pd.DataFrame) -> Figure:
    """Precision, recall and F1 against the threshold on the test split, per use case."""
    figure, axes = _panels(len(USE_CASES))
    for axis, use_case in zip(axes, USE_CASES, strict=True):
        rows = sweep[sweep["use_case"] == use_case]
        for metric in ("precision", "recall", "f1"):
            axis.plot(rows["threshold"], rows[metric], label=metric)
        if not rows.empty:
            threshold = float(rows["model_threshold"].iloc[0])
            axis.axvline(threshold, color="black", linestyle=":", label=f"model {threshold:.2f}")
        axis.set(title=f"{use_case} (test split)", xlabel="threshold", ylim=(0, 1.02))
        axis.legend()
    figure.suptitle("Threshold sweep")
    figure.tight_layout()
    return figure


def channel_platform_heatmap(cells: pd.DataFrame) -> Figure:
    """Conversion rate (%) of every channel x platform cell; cells below the minimum sample
    carry a star and empty cells are marked."""
    rates = cells.pivot(
        index="campaign_channel", columns="advertising_platform", values="conversion_rate"
    )
    small = cells.pivot(
        index="campaign_channel", columns="advertising_platform", values="is_below_min_sample"
    )
    customers = cells.pivot(
        index="campaign_channel", columns="advertising_platform", values="customers"
    )
    values = 100 * rates.to_numpy(dtype=float)
    figure, axis = plt.subplots(figsize=(9, 6.5))
    image = axis.imshow(np.ma.masked_invalid(values), cmap="viridis", aspect="auto")
    bright = np.nanmin(values) + 0.6 * (np.nanmax(values) - np.nanmin(values))
    for row in range(values.shape[0]):
        for column in range(values.shape[1]):
            count = customers.iloc[row, column]
            if pd.isna(count) or count == 0:
                text, colour = "empty", "grey"
            else:
                text = f"{values[row, column]:.2f}"
                if bool(small.iloc[row, column]):
                    text += "*"
                colour = "black" if values[row, column] > bright else "white"
            axis.text(column, row, text, ha="center", va="center", color=colour, fontsize=8)
    axis.set_xticks(range(len(rates.columns)), rates.columns, rotation=30, ha="right")
    axis.set_yticks(range(len(rates.index)), rates.index)
    axis.set_title("Conversion rate (%) by channel x platform (labelled rows; * below min. sample)")
    figure.colorbar(image, ax=axis, label="conversion rate (%)")
    figure.tight_layout()
    return figure


def newest_populations(psi: pd.DataFrame) -> pd.DataFrame:
    """Per use case, the rows of the population scored most recently: the highest campaign wave,
    else the scoring split."""
    frames = []
    for _, rows in psi.groupby("use_case", sort=True):
        waves = rows["campaign_wave"].dropna()
        if not waves.empty:
            frames.append(rows[rows["campaign_wave"] == waves.max()])
        else:
            scored = rows[rows["population_split"] == "score"]
            frames.append(scored if not scored.empty else rows)
    return pd.concat(frames) if frames else psi.iloc[0:0]


def psi_chart(psi: pd.DataFrame) -> Figure:
    """PSI of every variable of the newest population, coloured by band; ungated variables
    (reported, not tested) are hatched."""
    newest = newest_populations(psi)
    figure, axes = _panels(len(USE_CASES), width=6.0, height=6.0)
    for axis, use_case in zip(axes, USE_CASES, strict=True):
        rows = newest[newest["use_case"] == use_case].sort_values("psi")
        labels = [
            name if gated else f"{name} (not gated)"
            for name, gated in zip(rows["variable_name"], rows["is_gated"], strict=True)
        ]
        bars = axis.barh(
            labels,
            rows["psi"],
            color=[PSI_BANDS.get(band, "grey") for band in rows["psi_band"]],
        )
        for bar, gated in zip(bars, rows["is_gated"], strict=True):
            if not gated:
                bar.set_hatch("//")
        for line in (0.1, 0.2):
            axis.axvline(line, color="grey", linestyle="--", linewidth=0.8)
        population = rows["population"].iloc[0] if not rows.empty else "-"
        axis.set(title=f"{use_case}: {population} vs training", xlabel="PSI")
        axis.set_xscale("symlog", linthresh=0.1)
        axis.tick_params(axis="y", labelsize=7)
    figure.suptitle("Population stability index (bands 0.1 / 0.2)")
    figure.tight_layout()
    return figure


def budget_curve_chart(targeting: pd.DataFrame) -> Figure:
    """B2B response rate of the top x % of accounts by score, expected and observed, with the
    contact budget marked."""
    figure, axis = plt.subplots(figsize=(8, 4.8))
    for (split, wave), rows in targeting.groupby(["population_split", "campaign_wave"]):
        label = f"{split} wave {wave}"
        axis.plot(
            rows["contacted_share"], rows["expected_response_rate"], label=f"{label}: expected"
        )
        if rows["observed_response_rate"].notna().any():
            axis.plot(
                rows["contacted_share"],
                rows["observed_response_rate"],
                marker="o",
                label=f"{label}: observed",
            )
            axis.axhline(
                float(rows["observed_base_rate"].iloc[0]),
                color="grey",
                linestyle="--",
                label=f"{label}: random contact",
            )
        budget = rows[rows["is_contact_budget"]]
        if not budget.empty:
            axis.axvline(
                float(budget["contacted_share"].iloc[0]), color="black", linestyle=":", alpha=0.6
            )
    axis.set(
        title="B2B budget curve (dotted: the contact budget)",
        xlabel="share of accounts contacted (highest scores first)",
        ylabel="response rate of those contacted",
    )
    axis.legend(fontsize=8)
    figure.tight_layout()
    return figure


def policy_chart(policy: pd.DataFrame) -> Figure:
    """Conversion rate of the historical and the recommended policy by estimator, with 95 %
    intervals: the model's claim (direct method) against the off-policy estimates and the truth."""
    figure, axis = plt.subplots(figsize=(9, 5))
    rows = policy.sort_values(["policy", "estimator_order"]).reset_index(drop=True)
    positions = np.arange(len(rows))
    for position, row in zip(positions, rows.itertuples(), strict=True):
        rate = 100 * row.conversion_rate
        if row.estimator == "truth":
            axis.plot(rate, position, marker="*", markersize=14, color="black")
            continue
        colour = "#c0392b" if row.is_model_claimed else "#1f77b4"
        low = 100 * row.ci_lower if pd.notna(row.ci_lower) else rate
        high = 100 * row.ci_upper if pd.notna(row.ci_upper) else rate
        axis.errorbar(
            rate, position, xerr=[[rate - low], [high - rate]], fmt="o", color=colour, capsize=3
        )
    for _, group in rows.groupby("policy"):
        truth = group["true_conversion_rate"].dropna()
        if not truth.empty:
            axis.axvline(100 * float(truth.iloc[0]), color="grey", linestyle=":", linewidth=0.8)
    axis.set_yticks(positions, [f"{row.policy}: {row.estimator}" for row in rows.itertuples()])
    axis.invert_yaxis()
    axis.set(
        title="Policy evaluation on the test split: claimed (red) vs estimated (blue) vs true (*)",
        xlabel="conversion rate (%)",
    )
    figure.tight_layout()
    return figure


CHARTS: tuple[tuple[str, str, str, Callable[[pd.DataFrame], Figure]], ...] = (
    ("calibration", "Calibration curve", "calibration", calibration_chart),
    ("lift_gain", "Lift by decile and cumulative gain", "lift", lift_gain_chart),
    ("threshold_sweep", "Threshold sweep", "sweep", threshold_sweep_chart),
    (
        "channel_platform",
        "Channel x platform conversion",
        "channel_platform",
        channel_platform_heatmap,
    ),
    ("psi", "PSI by variable", "psi", psi_chart),
    ("b2b_budget", "B2B budget curve", "targeting", budget_curve_chart),
    ("policy_evaluation", "Policy evaluation", "policy", policy_chart),
)


def build_charts(frames: dict[str, pd.DataFrame]) -> list[Chart]:
    """Every chart of the report, in page order."""
    return [
        Chart(name=name, title=title, figure=draw(frames[frame]))
        for name, title, frame, draw in CHARTS
    ]


def png_bytes(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()


def key_tables(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The tables shown on the page, with the columns a reader needs."""
    evaluation = frames["evaluation"][
        [
            "use_case",
            "model_id",
            "split",
            "rows_evaluated",
            "base_rate",
            "auc",
            "pr_auc",
            "ks",
            "brier",
            "f1_at_threshold",
            "lift_top_10",
            "lift_top_20",
            "calibration_slope",
            "calibration_intercept",
        ]
    ]
    policy = frames["policy"][
        [
            "policy",
            "estimator",
            "customers",
            "conversion_rate",
            "ci_lower",
            "ci_upper",
            "relative_lift",
            "is_model_claimed",
            "true_conversion_rate",
            "effective_sample_size",
        ]
    ]
    psi = frames["psi"]
    shifted = psi[psi["psi_band"] != "stable"][
        ["use_case", "population", "variable_name", "is_gated", "psi", "psi_band"]
    ].sort_values("psi", ascending=False)
    return {
        "Models": frames["registry"],
        "Evaluation summary": evaluation,
        "Policy evaluation (test split)": policy,
        "PSI: variables not stable": shifted,
        "Channel performance": frames["channel"],
    }


def _table_html(frame: pd.DataFrame) -> str:
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
    charts: list[tuple[str, str, bytes]], tables: dict[str, pd.DataFrame], meta: pd.DataFrame
) -> str:
    """One self-contained page: (name, title, png) charts as data URIs, then the tables."""
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
    for name, title, png in charts:
        data = base64.b64encode(png).decode("ascii")
        parts += [
            f'<h3 id="{name}">{html.escape(title)}</h3>',
            f'<img id="chart-{name}" alt="{html.escape(title)}" '
            f'src="data:image/png;base64,{data}">',
        ]
    parts.append("<h2>Key tables</h2>")
    for title, frame in tables.items():
        parts += [f"<h3>{html.escape(title)}</h3>", _table_html(frame)]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_report(serving: Path, out_dir: Path) -> Path:
    """Write `<out_dir>/<chart>.png` per chart and `<out_dir>/report.html`; return the page."""
    frames = load_frames(serving)
    out_dir.mkdir(parents=True, exist_ok=True)
    rendered = []
    for chart in build_charts(frames):
        png = png_bytes(chart.figure)
        (out_dir / f"{chart.name}.png").write_bytes(png)
        rendered.append((chart.name, chart.title, png))
    page = out_dir / "report.html"
    temporary = page.with_name(page.name + ".tmp")
    temporary.write_text(render_html(rendered, key_tables(frames), frames["publish"]))
    temporary.replace(page)
    return page
