"""Synthetic demo data: a structural model of the seed's marketing and B2B datasets.

`generate()` writes `customers`, `customers_scoring` and `accounts` (CSV or Parquet) with
injected faults, plus a ground-truth sidecar in `_truth/` that only the evaluation reads.
See docs/generator.md for the data-generating process.
"""

from __future__ import annotations

import argparse
from typing import Any

from leakproof.generate.params import DEFAULT_DRIFT_SHIFT
from leakproof.generate.pipeline import CHUNK_ROWS, FORMATS, generate

__all__ = ["CHUNK_ROWS", "FORMATS", "add_parser", "format_summary", "generate"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the `generate` subcommand on the CLI's subparsers."""
    parser = subparsers.add_parser(
        "generate",
        help="write the synthetic demo data (customers, scoring batch, B2B accounts, truth)",
        description=(
            "Write deterministic synthetic demo data: customers, customers_scoring and accounts "
            "with injected faults, plus a ground-truth sidecar in DIR/_truth/."
        ),
    )
    parser.add_argument("--rows", type=int, default=48_000, help="training customers (48000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")
    parser.add_argument(
        "--out", default="data/raw", metavar="DIR", help="output directory (data/raw)"
    )
    parser.add_argument(
        "--format", choices=FORMATS, default="csv", dest="fmt", help="file format (csv)"
    )
    parser.add_argument(
        "--b2b-rows", type=int, default=20_000, help="B2B account x wave rows (20000)"
    )
    parser.add_argument(
        "--scoring-rows", type=int, default=None, help="new customers to score (rows // 10)"
    )
    parser.add_argument(
        "--no-truth", action="store_false", dest="truth", help="skip the _truth/ sidecar"
    )
    parser.add_argument(
        "--drift-shift",
        type=float,
        default=DEFAULT_DRIFT_SHIFT,
        help=f"shift of the newest B2B wave's population (0 none, {DEFAULT_DRIFT_SHIFT} moderate)",
    )
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """CLI handler: generate and print a short summary."""
    summary = generate(
        args.out,
        rows=args.rows,
        seed=args.seed,
        fmt=args.fmt,
        b2b_rows=args.b2b_rows,
        scoring_rows=args.scoring_rows,
        truth=args.truth,
        drift_shift=args.drift_shift,
        progress=True,
    )
    print(format_summary(summary))
    return 0


def format_summary(summary: dict[str, Any]) -> str:
    """A few human-readable lines: rows per file and the headline rates."""
    lines = [f"wrote {summary['out_dir']} (seed {summary['seed']}, {summary['format']})"]
    lines += [f"  {name:<28} {n:>12,} rows" for name, n in summary["files"].items()]
    lines.append(f"  conversion rate (customers)  {summary['conversion_rate']:>12.2%}")
    lines.append(f"  B2B response (waves 1-5)     {summary['b2b_response_rate']:>12.2%}")
    return "\n".join(lines)
