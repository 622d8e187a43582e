"""The `leakproof` command line: one subcommand per package module that has a user-facing step."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from leakproof import __version__, generate


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="leakproof",
        description="Honest conversion and propensity models on dbt + DuckDB.",
    )
    parser.add_argument("--version", action="version", version=f"leakproof {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (generate,):
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
