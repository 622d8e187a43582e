"""The README's figures, regenerated from a build: every block between `<!-- figures:NAME -->` and
`<!-- /figures:NAME -->` in the README is replaced by the block NAME rendered from the serving
copy, so the figures the README quotes are the ones the current code produces.

    leakproof figures --serving warehouse/serving.duckdb --readme README.md
    leakproof figures --serving ... --readme README.md --check   # exit 1 when a block is stale

Each block is a query and a renderer; a block whose tables are absent (a use case turned off) is
rendered as a note saying so, never left stale.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

MARKER = re.compile(
    r"(<!-- figures:(?P<name>[a-z0-9_-]+) -->\n)(?P<body>.*?)(<!-- /figures:(?P=name) -->)", re.S
)


@dataclass(frozen=True)
class Block:
    """A README block: the query over a serving copy and how its rows are written. `source` is
    'demo' (the default build) or 'example' (scripts/byod_example.sh's build)."""

    sql: str
    render: Callable[[pd.DataFrame], str]
    source: str = "demo"


def _fixed_width(frame: pd.DataFrame) -> str:
    """A plain-text table in a code block, as a SQL client prints it."""
    text = frame.astype(object).where(frame.notna(), "NULL").to_string(index=False)
    return f"```\n{text}\n```\n"


def _markdown(frame: pd.DataFrame) -> str:
    """A markdown table."""
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    rows = [
        "| " + " | ".join("" if pd.isna(v) else str(v) for v in row) + " |"
        for row in frame.itertuples(index=False)
    ]
    return "\n".join([header, rule, *rows]) + "\n"


def _pct(value: float, digits: int = 2) -> str:
    return "" if pd.isna(value) else f"{100 * value:.{digits}f} %"


def _signed_pct(value: float, digits: int = 1) -> str:
    return "" if pd.isna(value) else f"{100 * value:+.{digits}f} %"


def _num(value: float, digits: int = 3) -> str:
    return "" if pd.isna(value) else f"{value:.{digits}f}"


def _channels(frame: pd.DataFrame) -> str:
    return _fixed_width(frame)


def _models(frame: pd.DataFrame) -> str:
    out = pd.DataFrame(
        {
            "use case": frame["use_case"],
            "model of record": frame["algorithm"] + " / " + frame["imbalance_treatment"],
            "CV AUC": frame["cv_auc_mean"].map(_num),
            "test AUC": frame["test_auc"].map(_num),
            "train AUC": frame["train_auc"].map(_num),
            "lift, top 10 %": frame["lift_top_10"].map(lambda v: _num(v, 2)),
            "calibration slope": frame["calibration_slope"].map(lambda v: _num(v, 2)),
        }
    )
    return _markdown(out)


def _selection(frame: pd.DataFrame) -> str:
    out = pd.DataFrame(
        {
            "use case": frame["use_case"],
            "family": frame["algorithm"],
            "best treatment": frame["imbalance_treatment"],
            "CV AUC": frame["cv_auc_mean"].map(_num),
            "train AUC": frame["train_auc"].map(_num),
            "test AUC": frame["test_auc"].map(_num),
            "train-test gap": frame["train_test_auc_gap"].map(_num),
            "role": frame["role"] + " (" + frame["selection_rule"] + ")",
        }
    )
    return _markdown(out)


def _yardsticks(frame: pd.DataFrame) -> str:
    """The yardstick table: one row per measure, one column per use case (test AUC)."""
    labels = {
        "oracle": "generator oracle (true probabilities; the ceiling)",
        "primary": "leakproof's model of record",
        "logistic": "leakproof's own logistic comparison model",
        "plain_logistic": "a plain standardised logistic regression on the same approved features",
    }
    frame = frame.assign(
        cell=frame["test_auc"].map(_num)
        + frame["detail"].map(lambda d: "" if pd.isna(d) or not d else f" ({d})")
    )
    table = frame.pivot(index="measure", columns="use_case", values="cell")
    table = table.reindex([m for m in labels if m in table.index]).fillna("")
    table.columns = [f"{c} test AUC" for c in table.columns]
    table.insert(0, "", [labels[m] for m in table.index])
    return _markdown(table.reset_index(drop=True))


def _claims(frame: pd.DataFrame) -> str:
    out = pd.DataFrame(
        {
            "use case": frame["use_case"],
            "segment": frame["segment"],
            "claimed rate (current -> recommended)": [
                f"{_pct(a)} -> {_pct(b)}"
                for a, b in zip(
                    frame["current_positive_rate"], frame["recommended_positive_rate"], strict=True
                )
            ],
            "claimed lift": frame["relative_lift"].map(_signed_pct),
            "true lift": frame["true_relative_lift"].map(_signed_pct),
            "top recommended arm": frame["top_recommended_arm"],
        }
    )
    return _markdown(out)


def _policy(frame: pd.DataFrame) -> str:
    out = pd.DataFrame(
        {
            "use case": frame["use_case"],
            "policy": frame["policy"],
            "estimator": frame["estimator"],
            "rate": [
                "not identifiable" if status == "not_identifiable" else _pct(rate)
                for status, rate in zip(frame["status"], frame["positive_rate"], strict=True)
            ],
            "95 % interval": [
                "" if pd.isna(lo) else f"{_pct(lo)} .. {_pct(hi)}"
                for lo, hi in zip(frame["ci_lower"], frame["ci_upper"], strict=True)
            ],
            "true rate": frame["true_positive_rate"].map(_pct),
            "effective sample": frame["effective_sample_size"].map(
                lambda v: "" if pd.isna(v) else f"{v:,.0f}"
            ),
        }
    )
    return _markdown(out)


def _audit(frame: pd.DataFrame) -> str:
    out = frame.assign(
        test_auc=frame["test_auc"].map(_num),
        dropped_column=frame["dropped_column"].fillna("-"),
    )
    return _fixed_width(out)


def _targeting(frame: pd.DataFrame) -> str:
    out = pd.DataFrame(
        {
            "use case": frame["use_case"],
            "population": frame["population_split"] + " " + frame["period"].astype(str),
            "contacted": frame["rows_contacted"].map(lambda v: f"{v:,}"),
            "of": frame["rows_total"].map(lambda v: f"{v:,}"),
            "rate contacted": frame["observed_positive_rate"].map(lambda v: _pct(v, 1)),
            "base rate": frame["observed_base_rate"].map(lambda v: _pct(v, 1)),
            "lift": frame["observed_lift"].map(lambda v: _num(v, 2)),
        }
    )
    return _markdown(out)


def _drift(frame: pd.DataFrame) -> str:
    out = frame.assign(psi=frame["psi"].map(_num))
    return _fixed_width(out)


def _accounting(frame: pd.DataFrame) -> str:
    return _fixed_width(frame)


BLOCKS: dict[str, Block] = {
    "channels": Block(
        """
        select
            dimension_value as campaign_channel,
            labelled_rows as customers,
            positives as conversions,
            round(100 * positive_rate, 2) as rate_pct,
            round(100 * positive_rate_ci_lower, 2) as ci_low_pct,
            round(100 * positive_rate_ci_upper, 2) as ci_high_pct,
            positive_rate_rank as rank,
            round(100 * rate_gap_to_best, 2) as gap_to_best_pp,
            round(gap_to_best_p_value_adjusted, 6) as p_adjusted,
            is_gap_to_best_significant as significant
        from marts.fct_dimension_performance
        where use_case = 'marketing' and dimension = 'campaign_channel' and not is_below_min_sample
        order by positive_rate_rank
        """,
        _channels,
    ),
    "models": Block(
        """
        select
            registry.use_case,
            registry.algorithm,
            registry.imbalance_treatment,
            registry.cv_auc_mean,
            test.auc as test_auc,
            train.auc as train_auc,
            test.lift_top_10,
            test.calibration_slope
        from ml.ml_model_registry as registry
        inner join ml.ml_evaluation_summary as test
            on registry.model_id = test.model_id and test.split = 'test'
        inner join ml.ml_evaluation_summary as train
            on registry.model_id = train.model_id and train.split = 'train'
        where registry.role = 'primary'
        order by registry.use_case
        """,
        _models,
    ),
    "selection": Block(
        """
        select
            comparison.use_case,
            comparison.algorithm,
            comparison.imbalance_treatment,
            comparison.cv_auc_mean,
            comparison.train_auc,
            comparison.test_auc,
            comparison.train_test_auc_gap,
            registry.role,
            comparison.selection_rule
        from ml.ml_model_comparison as comparison
        inner join ml.ml_model_registry as registry on comparison.model_id = registry.model_id
        order by comparison.use_case, registry.role desc, comparison.algorithm
        """,
        _selection,
    ),
    "yardsticks": Block(
        """
        select use_case, yardstick as measure, test_auc, null as detail
        from ml.ml_model_yardsticks
        union all
        select
            use_case,
            'primary',
            test_auc,
            algorithm || ' / ' || imbalance_treatment || ', ' || selection_rule
        from ml.ml_model_registry where role = 'primary'
        union all
        select use_case, 'logistic', test_auc, 'CV ' || round(cv_auc_mean, 3)
        from ml.ml_model_registry where algorithm = 'logistic_l2'
        """,
        _yardsticks,
    ),
    "claims": Block(
        """
        select * from ml.ml_recommendation_summary
        where scope = 'all' and segment_type in ('overall', 'declared')
        order by use_case, segment_type desc, segment
        """,
        _claims,
    ),
    "policy": Block(
        """
        select * from ml.ml_policy_evaluation
        where policy_kind <> 'fixed_arm'
            and estimator in ('observed', 'model_claim', 'doubly_robust')
        order by use_case, policy, estimator_order
        """,
        _policy,
    ),
    "audit": Block(
        """
        select use_case, scenario, dropped_column, test_auc, is_leak
        from ml.ml_leakage_audit order by use_case, step
        """,
        _audit,
    ),
    "targeting": Block(
        """
        select * from ml.ml_targeting
        where is_contact_budget and is_labelled
        order by use_case, population_split, period
        """,
        _targeting,
    ),
    "drift": Block(
        """
        select use_case, population, variable_name, psi, psi_band
        from ml.ml_psi where psi_band != 'stable' and is_gated
        order by psi desc limit 8
        """,
        _drift,
    ),
    "accounting": Block(
        "select * from marts.fct_source_row_accounting order by use_case, source_file",
        _accounting,
    ),
    "example-accounting": Block(
        "select * from marts.fct_source_row_accounting order by use_case, source_file",
        _accounting,
        source="example",
    ),
    "example-dimensions": Block(
        """
        select
            dimension,
            dimension_value,
            labelled_rows,
            round(100 * positive_rate, 1) as rate_pct,
            round(rate_relative_to_overall, 2) as vs_overall,
            positive_rate_rank as rank,
            is_gap_to_best_significant as gap_significant
        from marts.fct_dimension_performance
        where dimension in ('poutcome', 'contact')
        order by dimension, positive_rate_rank
        """,
        _fixed_width,
        source="example",
    ),
    "example-models": Block(
        """
        select
            registry.use_case,
            registry.algorithm,
            registry.imbalance_treatment,
            registry.cv_auc_mean,
            test.auc as test_auc,
            train.auc as train_auc,
            test.lift_top_10,
            test.calibration_slope
        from ml.ml_model_registry as registry
        inner join ml.ml_evaluation_summary as test
            on registry.model_id = test.model_id and test.split = 'test'
        inner join ml.ml_evaluation_summary as train
            on registry.model_id = train.model_id and train.split = 'train'
        where registry.role = 'primary'
        """,
        _models,
        source="example",
    ),
}


def render(serving: Path, example: Path | None = None) -> dict[str, str]:
    """Every block rendered from its serving copy (read-only, one connection each); the example
    blocks only when `example` is given."""
    out = _render(serving, "demo")
    if example is not None:
        out.update(_render(example, "example"))
    return out


def _render(serving: Path, source: str) -> dict[str, str]:
    connection = duckdb.connect(str(serving), read_only=True)
    try:
        out = {}
        for name, block in BLOCKS.items():
            if block.source != source:
                continue
            try:
                frame = connection.execute(block.sql).df()
            except duckdb.CatalogException as error:
                out[name] = f"(not built: {str(error).splitlines()[0]})\n"
                continue
            out[name] = block.render(frame)
        return out
    finally:
        connection.close()


def update(readme: Path, rendered: dict[str, str]) -> list[str]:
    """Replace every marked block of `readme` with its rendering; the names of the blocks that
    changed. Unknown block names are an error, not skipped."""
    text = readme.read_text(encoding="utf-8")
    changed: list[str] = []

    def replace(match: re.Match) -> str:
        name = match.group("name")
        if name not in BLOCKS:
            raise KeyError(f"{readme}: unknown figures block {name!r}")
        if name not in rendered:  # an example block without the example's serving copy
            return match.group(0)
        if match.group("body") != rendered[name]:
            changed.append(name)
        return match.group(1) + rendered[name] + match.group(4)

    updated = MARKER.sub(replace, text)
    if updated != text:
        readme.write_text(updated, encoding="utf-8")
    return changed


def stale(readme: Path, rendered: dict[str, str]) -> list[str]:
    """The marked blocks of `readme` that differ from their rendering."""
    text = readme.read_text(encoding="utf-8")
    return [
        match.group("name")
        for match in MARKER.finditer(text)
        if match.group("name") in rendered and rendered[match.group("name")] != match.group("body")
    ]


__all__ = ["BLOCKS", "Block", "render", "stale", "update"]
