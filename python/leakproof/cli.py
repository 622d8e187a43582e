"""The `leakproof` command line: one subcommand per user-facing step."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from leakproof import __version__, generate


def _add_score_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "score",
        help="score new rows with the registered models, without retraining",
        description=(
            "Runs `dbt build --selector score_new_rows --vars '{retrain: false}'` in the current "
            "directory (the dbt project root): new raw rows are staged, guarded and scored by the "
            "registered, sha256-verified models; nothing is trained."
        ),
    )
    parser.add_argument("--raw-dir", help="directory of the raw files (dbt var raw_dir)")
    parser.add_argument("--raw-format", choices=["csv", "parquet"], help="dbt var raw_format")
    parser.set_defaults(handler=_score)


def _score(args: argparse.Namespace) -> int:
    dbt = shutil.which("dbt") or str(Path(sys.executable).with_name("dbt"))
    dbt_vars: dict[str, object] = {"retrain": False}
    if args.raw_dir:
        dbt_vars["raw_dir"] = args.raw_dir
    if args.raw_format:
        dbt_vars["raw_format"] = args.raw_format
    command = [dbt, "build", "--selector", "score_new_rows", "--vars", json.dumps(dbt_vars)]
    print("+", " ".join(command), file=sys.stderr)
    return subprocess.run(command, check=False).returncode


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="leakproof",
        description="Honest conversion and propensity models on dbt + DuckDB.",
    )
    parser.add_argument("--version", action="version", version=f"leakproof {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    generate.add_parser(subparsers)
    _add_score_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
