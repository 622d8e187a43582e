"""The charts of the report: each a pure function of one frame returning a matplotlib Figure,
with a panel (or, for the what-if arms, a chart) per use case the frame holds rows for.

`CHARTS` lists them in page order with the frame each reads; `build_charts` draws every one whose
frame has rows and skips the others (a project without what-if treatments has no arms chart).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from leakproof.report._frames import column, use_cases_in

# How fct_treatment_performance joins the treatment columns (`treatments`) and an arm's values
# (`arm`: 'Referral + Facebook'), and the period ml_targeting gives a use case without a time split.
ARM_SEPARATOR = " + "
NO_PERIOD = "(all)"
PSI_BANDS = {"stable": "#4c9a2a", "investigate": "#e0a100", "shifted": "#c0392b"}
PANEL_COLUMNS = 3  # panels in a row before a figure wraps to the next
TOP_ARMS = 15  # arms shown as bars when the arms are not a 2-treatment grid
CLAIMED, ESTIMATED = "#c0392b", "#1f77b4"


def _panels(
    use_cases: list[str], width: float = 5.5, height: float = 4.2
) -> tuple[Figure, list[tuple[str, Axes]]]:
    """A figure with one panel per use case, PANEL_COLUMNS to a row; one blank panel for none."""
    count = max(len(use_cases), 1)
    columns = min(count, PANEL_COLUMNS)
    rows = -(-count // columns)
    figure, axes = plt.subplots(
        rows, columns, figsize=(width * columns, height * rows), squeeze=False
    )
    flat = list(axes.ravel())
    for axis in flat[len(use_cases) :]:
        if use_cases:
            figure.delaxes(axis)
        else:
            axis.text(0.5, 0.5, "no rows", ha="center", va="center", transform=axis.transAxes)
            axis.set_axis_off()
    return figure, list(zip(use_cases, flat, strict=False))


def calibration_chart(calibration: pd.DataFrame) -> Figure:
    """Reliability diagram per use case: mean predicted vs observed rate (95 % Wilson)."""
    figure, panels = _panels(use_cases_in(calibration))
    for use_case, axis in panels:
        rows = calibration[calibration["use_case"] == use_case]
        top = float(np.nanmax([rows["mean_predicted"].max(), rows["observed_rate_ci_upper"].max()]))
        top = max(top, 0.01)
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
    """Per use case (a row of panels each): lift by score decile (1 = highest scores) and the
    cumulative gain curve."""
    names = use_cases_in(lift)
    if not names:
        return _panels(names)[0]
    figure, axes = plt.subplots(len(names), 2, figsize=(11, 3.8 * len(names)), squeeze=False)
    for use_case, (lift_axis, gain_axis) in zip(names, axes, strict=True):
        rows = lift[lift["use_case"] == use_case]
        deciles = int(rows["decile"].max())
        lift_axis.bar(rows["decile"], rows["lift"], width=0.7)
        lift_axis.axhline(1.0, color="grey", linestyle="--", label="random")
        lift_axis.set(
            title=f"{use_case}: lift by decile (test split)",
            xlabel="score decile (1 = highest)",
            ylabel="positive rate / base rate",
            xticks=range(1, deciles + 1),
        )
        gain_axis.plot(
            np.concatenate([[0.0], rows["decile"] / deciles]),
            np.concatenate([[0.0], rows["cumulative_gain"]]),
            marker="o",
            label="model",
        )
        gain_axis.plot([0, 1], [0, 1], color="grey", linestyle="--", label="random")
        gain_axis.set(
            title=f"{use_case}: cumulative gain (test split)",
            xlabel="share contacted (by score)",
            ylabel="share of positives reached",
        )
        for axis in (lift_axis, gain_axis):
            axis.legend(loc="best")
    figure.tight_layout()
    return figure


def threshold_sweep_chart(sweep: pd.DataFrame) -> Figure:
    """Precision, recall and F1 against the threshold on the test split, per use case, with the
    registered model's threshold."""
    figure, panels = _panels(use_cases_in(sweep))
    for use_case, axis in panels:
        rows = sweep[sweep["use_case"] == use_case]
        for metric in ("precision", "recall", "f1"):
            axis.plot(rows["threshold"], rows[metric], label=metric)
        threshold = float(rows["model_threshold"].iloc[0])
        axis.axvline(threshold, color="black", linestyle=":", label=f"model {threshold:.2f}")
        axis.set(title=f"{use_case} (test split)", xlabel="threshold", ylim=(0, 1.02))
        axis.legend()
    figure.suptitle("Threshold sweep")
    figure.tight_layout()
    return figure


def treatment_chart(arms: pd.DataFrame) -> Figure:
    """The arms of ONE use case's what-if treatments (its fct_treatment_performance rows): the
    positive rate over the grid as a heatmap for two treatments, else the top arms as bars."""
    names = use_cases_in(arms)
    if len(names) != 1:
        raise ValueError(f"treatment_chart draws one use case's arms, got {names or 'none'}")
    treatments = str(arms["treatments"].iloc[0]).split(ARM_SEPARATOR)
    values = arms["arm"].astype(str).str.split(ARM_SEPARATOR, regex=False)
    if len(treatments) == 2 and bool((values.str.len() == 2).all()):
        return _arm_heatmap(names[0], treatments, arms.assign(row=values.str[0], col=values.str[1]))
    return _arm_bars(names[0], treatments, arms)


def _arm_heatmap(use_case: str, treatments: list[str], grid: pd.DataFrame) -> Figure:
    """Positive rate (%) of every cell; cells below the minimum sample carry a star and empty
    cells are marked."""
    rates = grid.pivot(index="row", columns="col", values="positive_rate")
    small = grid.pivot(index="row", columns="col", values="is_below_min_sample")
    counts = grid.pivot(index="row", columns="col", values="labelled_rows")
    values = 100 * rates.to_numpy(dtype=float)
    size = (max(7.0, 1.0 * values.shape[1] + 3.5), max(4.5, 0.6 * values.shape[0] + 2.5))
    figure, axis = plt.subplots(figsize=size)
    image = axis.imshow(np.ma.masked_invalid(values), cmap="viridis", aspect="auto")
    finite = values[np.isfinite(values)]
    bright = finite.min() + 0.6 * (finite.max() - finite.min()) if finite.size else 0.0
    for row in range(values.shape[0]):
        for col in range(values.shape[1]):
            count, value = counts.iloc[row, col], values[row, col]
            if pd.isna(count) or count == 0 or not np.isfinite(value):
                text, colour = "empty", "grey"
            else:
                flag = small.iloc[row, col]
                text = f"{value:.2f}" + ("*" if pd.notna(flag) and bool(flag) else "")
                colour = "black" if value > bright else "white"
            axis.text(col, row, text, ha="center", va="center", color=colour, fontsize=8)
    axis.set_xticks(range(len(rates.columns)), rates.columns, rotation=30, ha="right")
    axis.set_yticks(range(len(rates.index)), rates.index)
    axis.set(
        title=f"{use_case}: positive rate (%) by {treatments[0]} x {treatments[1]}\n"
        "(labelled rows; * below the minimum sample)",
        xlabel=treatments[1],
        ylabel=treatments[0],
    )
    figure.colorbar(image, ax=axis, label="positive rate (%)")
    figure.tight_layout()
    return figure


def _arm_bars(use_case: str, treatments: list[str], arms: pd.DataFrame) -> Figure:
    """The TOP_ARMS arms with rows by positive rate, with 95 % intervals; arms below the minimum
    sample are drawn light."""
    labelled = arms[arms["labelled_rows"].fillna(0) > 0]
    rows = labelled.sort_values(["positive_rate", "arm"], ascending=[False, True]).head(TOP_ARMS)
    rate = 100 * rows["positive_rate"].to_numpy(dtype=float)
    low = 100 * rows["positive_rate_ci_lower"].to_numpy(dtype=float)
    high = 100 * rows["positive_rate_ci_upper"].to_numpy(dtype=float)
    errors = [np.nan_to_num(rate - low), np.nan_to_num(high - rate)]
    small = rows["is_below_min_sample"].fillna(False).astype(bool)
    figure, axis = plt.subplots(figsize=(9, max(4.0, 0.38 * len(rows) + 1.8)))
    axis.barh(
        rows["arm"].astype(str),
        rate,
        xerr=errors,
        capsize=3,
        color=["#9ecae1" if flag else ESTIMATED for flag in small],
    )
    axis.invert_yaxis()
    shown = f"top {len(rows)} of {len(labelled)}" if len(rows) < len(labelled) else len(rows)
    axis.set(
        title=f"{use_case}: positive rate (%) by {ARM_SEPARATOR.join(treatments)}\n"
        f"({shown} arms with labelled rows; light: below the minimum sample)",
        xlabel="positive rate (%) with 95 % interval",
        ylabel=ARM_SEPARATOR.join(treatments),
    )
    figure.tight_layout()
    return figure


def _newest(periods: pd.Series) -> object:
    """The latest period: compared as numbers when every period is one ('10' after '9')."""
    numbers = pd.to_numeric(periods, errors="coerce")
    if bool(numbers.notna().all()):
        return periods.loc[numbers.idxmax()]
    return periods.max()


def newest_populations(psi: pd.DataFrame) -> pd.DataFrame:
    """Per use case, the rows of the population scored most recently: for a use case split by
    time its newest period, else the scoring batch, else the population it has."""
    frames = []
    for _, rows in psi.groupby("use_case", sort=True):
        periods = column(rows, "population_period").dropna()
        if not periods.empty:
            frames.append(rows[rows["population_period"] == _newest(periods)])
            continue
        scored = rows[column(rows, "population_split") == "score"]
        frames.append(scored if not scored.empty else rows)
    return pd.concat(frames) if frames else psi.iloc[0:0]


def psi_chart(psi: pd.DataFrame) -> Figure:
    """PSI of every variable of each use case's newest population against training, coloured by
    its band; ungated variables (reported, not tested) are hatched."""
    newest = newest_populations(psi)
    names = use_cases_in(newest)
    longest = max((int((newest["use_case"] == name).sum()) for name in names), default=1)
    figure, panels = _panels(names, width=6.0, height=max(4.5, 0.2 * longest + 1.5))
    for use_case, axis in panels:
        rows = newest[newest["use_case"] == use_case].sort_values("psi")
        gated = rows["is_gated"].fillna(True).astype(bool).tolist()
        labels = [
            name if is_gated else f"{name} (not gated)"
            for name, is_gated in zip(rows["variable_name"], gated, strict=True)
        ]
        bars = axis.barh(
            labels, rows["psi"], color=[PSI_BANDS.get(band, "grey") for band in rows["psi_band"]]
        )
        for bar, is_gated in zip(bars, gated, strict=True):
            if not is_gated:
                bar.set_hatch("//")
        axis.set(title=f"{use_case}: {rows['population'].iloc[0]} vs training", xlabel="PSI")
        axis.set_xscale("symlog", linthresh=0.1)
        axis.tick_params(axis="y", labelsize=7)
    bands = [Patch(color=colour, label=band) for band, colour in PSI_BANDS.items()]
    bands.append(Patch(facecolor="white", edgecolor="grey", hatch="//", label="not gated"))
    figure.legend(handles=bands, loc="upper right", fontsize=8)
    figure.suptitle("Population stability index of the newest population (colour: psi_band)")
    figure.tight_layout(rect=(0, 0, 0.9, 1))
    return figure


def budget_curve_chart(targeting: pd.DataFrame) -> Figure:
    """Per use case, the positive rate of the top x % of rows by score in each evaluated
    population: observed where labelled, expected (the calibrated probabilities) otherwise; the
    dotted lines are contacting at random and the contact budget."""
    figure, panels = _panels(use_cases_in(targeting), width=6.5, height=4.6)
    for use_case, axis in panels:
        rows = targeting[targeting["use_case"] == use_case]
        groups = rows.groupby(["population_split", "period"], sort=True, dropna=False)
        for index, ((split, period), group) in enumerate(groups):
            group = group.sort_values("contacted_share")
            colour = f"C{index}"
            name = split if period == NO_PERIOD or pd.isna(period) else f"{split}, period {period}"
            observed = bool(group["is_labelled"].fillna(False).astype(bool).all())
            kind = "observed" if observed else "expected"
            axis.plot(
                group["contacted_share"],
                group[f"{kind}_positive_rate"],
                color=colour,
                marker="o" if observed else None,
                linestyle="-" if observed else "--",
                label=f"{name}: {kind}",
            )
            base = float(group[f"{kind}_base_rate"].iloc[0])
            axis.axhline(base, color=colour, linestyle=":", linewidth=0.8)
            budget = group[group["is_contact_budget"].fillna(False).astype(bool)]
            if not budget.empty:
                share = float(budget["contacted_share"].iloc[0])
                axis.axvline(share, color="black", linestyle=":", alpha=0.5)
        axis.set(
            title=use_case,
            xlabel="share contacted (highest scores first)",
            ylabel="positive rate of those contacted",
            xlim=(0, 1.02),
        )
        axis.legend(fontsize=8)
    figure.suptitle("Budget curve (dotted: contacting at random; the contact budget)")
    figure.tight_layout()
    return figure


def _policy_rows(policy: pd.DataFrame) -> pd.DataFrame:
    order = [name for name in ("policy", "estimator_order", "estimator") if name in policy]
    return policy.sort_values(order, kind="stable").reset_index(drop=True)


def policy_chart(policy: pd.DataFrame) -> Figure:
    """Per what-if use case, the positive rate of the historical and the recommended policy by
    estimator with 95 % intervals: the model's claim against the off-policy estimates and the
    truth. An estimator without a value (e.g. not identifiable) is named, not drawn."""
    names = use_cases_in(policy)
    longest = max((int((policy["use_case"] == name).sum()) for name in names), default=1)
    figure, panels = _panels(names, width=7.0, height=max(3.5, 0.42 * longest + 1.6))
    for use_case, axis in panels:
        rows = _policy_rows(policy[policy["use_case"] == use_case])
        statuses, claimed = column(rows, "status"), column(rows, "is_model_claimed")
        positions = np.arange(len(rows))
        for position, row in zip(positions, rows.itertuples(index=False), strict=True):
            if pd.isna(row.positive_rate):
                status = statuses.iloc[position]
                axis.text(
                    0.02,
                    position,
                    str(status) if pd.notna(status) and str(status) else "no estimate",
                    transform=axis.get_yaxis_transform(),
                    va="center",
                    color="grey",
                    fontsize=8,
                    style="italic",
                )
                continue
            rate = 100 * float(row.positive_rate)
            if row.estimator == "truth":
                axis.plot(rate, position, marker="*", markersize=14, color="black")
                continue
            bounds = [column(rows, name).iloc[position] for name in ("ci_lower", "ci_upper")]
            low, high = (100 * float(bound) if pd.notna(bound) else rate for bound in bounds)
            flag = claimed.iloc[position]
            axis.errorbar(
                rate,
                position,
                xerr=[[max(rate - low, 0.0)], [max(high - rate, 0.0)]],
                fmt="o",
                capsize=3,
                color=CLAIMED if pd.notna(flag) and bool(flag) else ESTIMATED,
            )
        for truth in column(rows, "true_positive_rate").dropna().unique():
            axis.axvline(100 * float(truth), color="grey", linestyle=":", linewidth=0.8)
        axis.set_yticks(positions, [f"{row.policy}: {row.estimator}" for row in rows.itertuples()])
        axis.invert_yaxis()
        axis.set(title=f"{use_case} (test split)", xlabel="positive rate (%)")
    figure.suptitle("Policy evaluation: claimed (red) vs estimated (blue) vs true (*)")
    figure.tight_layout()
    return figure


@dataclass(frozen=True)
class ChartSpec:
    """A chart of the page: its file name, heading, the frame and table it reads, how to draw it,
    and whether it is drawn once per use case (else one figure with a panel per use case)."""

    name: str
    title: str
    frame: str
    table: str
    draw: Callable[[pd.DataFrame], Figure]
    per_use_case: bool = False


@dataclass(frozen=True)
class Chart:
    name: str
    title: str
    use_cases: tuple[str, ...]
    figure: Figure


CHARTS: tuple[ChartSpec, ...] = (
    ChartSpec(
        "calibration", "Calibration curve", "calibration", "ml.ml_calibration_bins",
        calibration_chart,
    ),
    ChartSpec(
        "lift_gain", "Lift by decile and cumulative gain", "lift", "ml.ml_lift_by_decile",
        lift_gain_chart,
    ),
    ChartSpec(
        "threshold_sweep", "Threshold sweep", "sweep", "ml.ml_threshold_sweep",
        threshold_sweep_chart,
    ),
    ChartSpec(
        "treatments", "What-if arms", "treatments", "marts.fct_treatment_performance",
        treatment_chart, per_use_case=True,
    ),
    ChartSpec("psi", "PSI by variable", "psi", "ml.ml_psi", psi_chart),
    ChartSpec("budget_curve", "Budget curve", "targeting", "ml.ml_targeting", budget_curve_chart),
    ChartSpec(
        "policy_evaluation", "Policy evaluation", "policy", "ml.ml_policy_evaluation",
        policy_chart,
    ),
)  # fmt: skip


def build_charts(frames: dict[str, pd.DataFrame]) -> list[Chart]:
    """Every chart of the report, in page order; a chart whose frame holds no use case is not
    drawn (see `undrawn_charts`)."""
    charts = []
    for spec in CHARTS:
        frame = frames[spec.frame]
        names = use_cases_in(frame)
        if spec.per_use_case:
            charts += [
                Chart(
                    f"{spec.name}_{name}",
                    f"{spec.title}: {name}",
                    (name,),
                    spec.draw(frame[frame["use_case"] == name]),
                )
                for name in names
            ]
        elif names:
            charts.append(Chart(spec.name, spec.title, tuple(names), spec.draw(frame)))
    return charts


def undrawn_charts(frames: dict[str, pd.DataFrame]) -> list[ChartSpec]:
    """The charts `build_charts` skips: their table has no rows (e.g. no use case declares
    what-if treatments)."""
    return [spec for spec in CHARTS if not use_cases_in(frames[spec.frame])]
