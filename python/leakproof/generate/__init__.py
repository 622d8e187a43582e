"""Synthetic data: the demo's structural model, plus datasets of other shapes.

`generate()` writes the demo: `customers`, `customers_scoring` and `accounts` (CSV or Parquet)
with injected faults. `generate_dataset()` writes one of DATASETS: `telemarketing`
(telemarketing.csv, `;`-delimited, no id, a post-outcome column) or `randomised`
(email_test.csv, a randomised 12-arm test). Each writes a ground-truth sidecar in `_truth/` that
only the evaluation reads. See docs/generator.md for the data-generating processes.
"""

from __future__ import annotations

import argparse
from functools import partial
from typing import Any

from leakproof.generate.datasets import DATASETS, generate_dataset
from leakproof.generate.params import DEFAULT_DRIFT_SHIFT
from leakproof.generate.pipeline import CHUNK_ROWS, FORMATS, generate

__all__ = [
    "CHUNK_ROWS",
    "DATASETS",
    "FORMATS",
    "add_parser",
    "format_summary",
    "generate",
    "generate_dataset",
]

DEMO = "demo"
DEMO_ROWS = 48_000
# Options of the demo only: argparse dest -> flag. Their command-line default is None ("not
# given"), so generate()'s own defaults apply and another dataset can reject them.
DEMO_ONLY: dict[str, str] = {
    "fmt": "--format",
    "b2b_rows": "--b2b-rows",
    "scoring_rows": "--scoring-rows",
    "drift_shift": "--drift-shift",
}


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the `generate` subcommand on the CLI's subparsers."""
    parser = subparsers.add_parser(
        "generate",
        help="write synthetic data: the demo (customers, scoring batch, B2B accounts) or another",
        description=(
            "Write deterministic synthetic data plus a ground-truth sidecar in DIR/_truth/. "
            "--dataset demo (default): customers, customers_scoring and accounts with injected "
            "faults. --dataset telemarketing: telemarketing.csv (';'-delimited, no id column). "
            "--dataset randomised: email_test.csv (a randomised 12-arm e-mail test)."
        ),
    )
    parser.add_argument(
        "--dataset",
        choices=(DEMO, *DATASETS),
        default=DEMO,
        help="which dataset to write (demo)",
    )
    defaults = ", ".join(f"{name} {d.default_rows}" for name, d in DATASETS.items())
    parser.add_argument(
        "--rows",
        type=int,
        default=None,
        help=f"rows: training customers for the demo ({DEMO_ROWS}); {defaults}",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")
    parser.add_argument(
        "--out", default="data/raw", metavar="DIR", help="output directory (data/raw)"
    )
    demo = parser.add_argument_group("demo only")
    demo.add_argument(
        "--format", choices=FORMATS, default=None, dest="fmt", help="file format (csv)"
    )
    demo.add_argument("--b2b-rows", type=int, default=None, help="B2B account x wave rows (20000)")
    demo.add_argument(
        "--scoring-rows", type=int, default=None, help="new customers to score (rows // 10)"
    )
    demo.add_argument(
        "--drift-shift",
        type=float,
        default=None,
        help=f"shift of the newest B2B wave's population (0 none, {DEFAULT_DRIFT_SHIFT} moderate)",
    )
    parser.add_argument(
        "--no-truth", action="store_false", dest="truth", help="skip the _truth/ sidecar"
    )
    parser.set_defaults(handler=partial(run, parser=parser))
    return parser


def run(args: argparse.Namespace, parser: argparse.ArgumentParser | None = None) -> int:
    """CLI handler: generate and print a short summary."""
    given = {dest: getattr(args, dest) for dest in DEMO_ONLY if getattr(args, dest) is not None}
    if args.dataset == DEMO:
        rows = DEMO_ROWS if args.rows is None else args.rows
        summary = generate(
            args.out, rows=rows, seed=args.seed, truth=args.truth, progress=True, **given
        )
    else:
        if given:
            message = f"{', '.join(DEMO_ONLY[d] for d in given)}: only for --dataset {DEMO}"
            if parser is None:
                raise ValueError(message)
            parser.error(message)
        summary = generate_dataset(
            args.dataset, args.out, rows=args.rows, seed=args.seed, truth=args.truth, progress=True
        )
    print(format_summary(summary))
    return 0


def format_summary(summary: dict[str, Any]) -> str:
    """A few human-readable lines: rows per file and the headline rates."""
    lines = [f"wrote {summary['out_dir']} (seed {summary['seed']}, {summary['format']})"]
    lines += [f"  {name:<28} {n:>12,} rows" for name, n in summary["files"].items()]
    if summary.get("dataset") in DATASETS:
        lines += DATASETS[summary["dataset"]].headline(summary)
    else:
        lines.append(f"  conversion rate (customers)  {summary['conversion_rate']:>12.2%}")
        lines.append(f"  B2B response (waves 1-5)     {summary['b2b_response_rate']:>12.2%}")
    return "\n".join(lines)
