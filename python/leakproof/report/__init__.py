"""The report: PNG charts and one self-contained HTML page, read from the serving copy.

Everything is read in one read-only connection (one snapshot of the serving copy). Each chart is
a pure function of a DataFrame returning a matplotlib Figure, with a panel (or a chart) per use
case present in the data; no use case is named here. `write_report` saves the charts as PNGs and
embeds them with the key tables in `report.html`, which needs no other file.

    write_report(Path("warehouse/serving.duckdb"), Path("reports"))
"""

from leakproof.report._charts import (
    ARM_SEPARATOR,
    CHARTS,
    Chart,
    ChartSpec,
    budget_curve_chart,
    build_charts,
    calibration_chart,
    lift_gain_chart,
    newest_populations,
    policy_chart,
    psi_chart,
    threshold_sweep_chart,
    treatment_chart,
    undrawn_charts,
)
from leakproof.report._frames import QUERIES, load_frames, use_cases_in
from leakproof.report._page import (
    RenderedChart,
    key_tables,
    render_html,
    render_report,
    top_dimension_values,
    write_report,
)

__all__ = [
    "ARM_SEPARATOR",
    "CHARTS",
    "QUERIES",
    "Chart",
    "ChartSpec",
    "RenderedChart",
    "budget_curve_chart",
    "build_charts",
    "calibration_chart",
    "key_tables",
    "lift_gain_chart",
    "load_frames",
    "newest_populations",
    "policy_chart",
    "psi_chart",
    "render_html",
    "render_report",
    "threshold_sweep_chart",
    "top_dimension_values",
    "treatment_chart",
    "undrawn_charts",
    "use_cases_in",
    "write_report",
]
