"""The `leakproof` command line: one subcommand per user-facing step."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import textwrap
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


def _add_publish_parser(subparsers: argparse._SubParsersAction) -> None:
    from leakproof.publish import REFUSALS

    refusals = "\n".join(
        textwrap.fill(text, width=88, initial_indent=f"  {reason:<17} ", subsequent_indent=" " * 20)
        for reason, text in REFUSALS.items()
    )
    parser = subparsers.add_parser(
        "publish",
        help="publish the BI-facing tables of a complete, green dbt build to the serving copy",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.fill(
            "Copies the BI-facing schemas (marts, features, ml, reference) of dbt's working "
            "DuckDB file into a serving copy readable by DuckDB 1.4 clients, verifies it and "
            "swaps it in atomically - only when the warehouse holds a complete, green `dbt "
            "build`: the last run_results.json is from `dbt build` of the whole project, every "
            "model, seed, snapshot and test of manifest.json beside it has a result, none "
            "errored, failed or was skipped (warnings are reported), and the build marker the "
            "dbt hooks write into the warehouse says that same build finished.",
            width=88,
        ),
        epilog=(
            "Refuses with exit code 1 and one line naming the reason, leaving the last good\n"
            f"serving copy byte for byte as it was, when:\n{refusals}\n"
            "--force skips the checks of the build (not busy, no_warehouse or locked)."
        ),
    )
    parser.add_argument(
        "--warehouse",
        default=os.environ.get("LEAKPROOF_WAREHOUSE", "warehouse/leakproof.duckdb"),
        help="dbt's working DuckDB file (default: $LEAKPROOF_WAREHOUSE or %(default)s)",
    )
    parser.add_argument(
        "--serving", default="warehouse/serving.duckdb", help="the serving copy to write"
    )
    parser.add_argument(
        "--run-results",
        default="target/run_results.json",
        help="the run results of the build to publish; manifest.json is read beside it "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="publish WITHOUT checking the build (prints a warning with what the checks say)",
    )
    parser.set_defaults(handler=_publish)


def _publish(args: argparse.Namespace) -> int:
    from leakproof.publish import PublishError, PublishRefused, check_build, publish

    warehouse, run_results = Path(args.warehouse), Path(args.run_results)
    if args.force:
        try:
            check_build(run_results, warehouse)
            verdict = "they would have passed"
        except PublishRefused as refusal:
            verdict = f"they would have refused ({refusal.reason}): {refusal}"
        print(
            "leakproof publish: WARNING: --force publishes WITHOUT checking that the warehouse "
            f"holds a complete, green `dbt build`; {verdict}",
            file=sys.stderr,
        )
    try:
        result = publish(
            warehouse, Path(args.serving), run_results=None if args.force else run_results
        )
    except PublishError as error:
        print(
            f"leakproof publish: {error}. The serving copy {args.serving} is unchanged.",
            file=sys.stderr,
        )
        return 1
    if result.build is not None and result.build.warnings:
        print(
            f"leakproof publish: the build has {len(result.build.warnings)} warning(s), "
            f"published anyway: {', '.join(result.build.warnings)}",
            file=sys.stderr,
        )
    print(
        f"published {len(result.row_counts)} tables "
        f"({sum(result.row_counts.values()):,} rows, {result.size_bytes / 1e6:.1f} MB) "
        f"to {result.serving} in {result.seconds:.1f} s",
        file=sys.stderr,
    )
    return 0


def _add_report_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write PNG charts and a self-contained HTML report from the serving copy",
        description=(
            "Reads the serving copy read-only and writes the charts (calibration, lift and gain, "
            "threshold sweep, what-if arms, PSI, targeting budget curve, policy "
            "evaluation) as PNGs and one self-contained HTML page (report.html)."
        ),
    )
    parser.add_argument(
        "--serving", default="warehouse/serving.duckdb", help="the serving copy to read"
    )
    parser.add_argument("--out", default="reports", help="output directory (default: %(default)s)")
    parser.set_defaults(handler=_report)


def _report(args: argparse.Namespace) -> int:
    from leakproof.report import write_report

    serving = Path(args.serving)
    if not serving.is_file():
        print(
            f"leakproof report: no serving copy at {serving}; run `leakproof publish`",
            file=sys.stderr,
        )
        return 1
    page = write_report(serving, Path(args.out))
    print(f"wrote {page}", file=sys.stderr)
    return 0


def _add_bench_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="run the whole pipeline at several sizes and record time and peak memory",
        description=(
            "Generates the demo data at each size (B2B scaled alongside), runs `dbt build` in a "
            "scratch warehouse from the current directory (the dbt project root), and writes "
            "per-node wall times, total time and peak RSS of the process tree to "
            "<out>/results.csv and <out>/scaling.png; prints a table. A benchmark, not a test."
        ),
    )
    parser.add_argument(
        "--sizes",
        default="48000,1000000,5000000",
        help="comma-separated customer counts (default 48000,1000000,5000000; 10M on request)",
    )
    parser.add_argument("--out", default="bench", help="output directory (default bench/)")
    parser.add_argument(
        "--versus-pandas",
        action="store_true",
        help=(
            "instead: raw -> staging -> the performance marts of the marketing use case in dbt "
            "against a pandas reference of the same cleaning and metrics, on the same file at "
            "each size (default sizes 1000000,5000000); prints the ratio"
        ),
    )
    parser.set_defaults(handler=_bench)


def _bench(args: argparse.Namespace) -> int:
    from leakproof.bench import bench

    if args.versus_pandas:
        from leakproof.bench_pandas import compare, comparison_table

        text = args.sizes if args.sizes != "48000,1000000,5000000" else "1000000,5000000"
        dbt = str(Path(sys.executable).with_name("dbt"))
        comparisons = []
        for rows in [int(size) for size in text.split(",") if size.strip()]:
            comparisons.append(compare(rows, Path(args.out).resolve(), Path.cwd(), dbt))
            print(comparison_table(comparisons), flush=True)
        return 0
    sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    runs = bench(sizes, Path(args.out), Path.cwd())
    return max((run.returncode for run in runs), default=0)


def _add_bench_policy_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench-policy",
        help="coverage of the policy-value intervals over generator seeds (not a test)",
        description=(
            "Simulates the demo's confounded marketing world (or the randomised e-mail test) at "
            "each seed, recommends with a stand-in model fitted on 80 %% of the rows, evaluates "
            "the recommended, in-support and soft policies on the rest (cross-fitted doubly "
            "robust, the headline) and prints, seed by seed, whether the 95 %% interval covers "
            "the truth or the table says not_identifiable."
        ),
    )
    parser.add_argument("--seeds", default="0,1,2,3,4,5,6,7,8,9", help="comma-separated seeds")
    parser.add_argument("--rows", type=int, default=48_000, help="rows per seed (default 48000)")
    parser.add_argument("--dataset", choices=["marketing", "randomised"], default="marketing")
    parser.add_argument("--out", default=None, help="also write the table to this CSV")
    parser.set_defaults(handler=_bench_policy)


def _bench_policy(args: argparse.Namespace) -> int:
    from leakproof.policy._simulate import coverage_bench

    seeds = [int(seed) for seed in args.seeds.split(",") if seed.strip()]

    def progress(rows: object) -> None:
        print(rows.to_string(index=False, header=False), file=sys.stderr, flush=True)

    table = coverage_bench(seeds, args.rows, args.dataset, report=progress)
    if args.out:
        table.to_csv(args.out, index=False)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    recommended = table[table["policy"] == "recommended"]
    ok = int(recommended["covered_or_not_identifiable"].sum())
    print(f"recommended policy: covered or not_identifiable in {ok} of {len(recommended)} seeds")
    for name, rows in table.groupby("policy", sort=False):
        estimated = rows[rows["status"] == "estimated"]
        low, truth, high = (estimated[c] for c in ("ci_lower", "truth", "ci_upper"))
        covered = int(((low <= truth) & (truth <= high)).sum())
        z = estimated["z"]
        print(
            f"{name}: estimated in {len(estimated)} of {len(rows)} seeds, covered in {covered}; "
            f"z mean {z.mean():+.2f} sd {z.std():.2f}"
        )
    draws = table.drop_duplicates("seed")["draw_z"]
    print(
        f"outcome draw vs its own truth (draw_z, N(0, 1) if honest): mean {draws.mean():+.2f} "
        f"sd {draws.std():.2f}, max |z| {draws.abs().max():.2f}"
    )
    return 0


def _add_bench_calibration_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench-calibration",
        help="model quality and calibration gates over sizes and generator seeds (not a test)",
        description=(
            "At each size and seed: generates the demo data, runs `dbt build --select "
            "+ml_evaluation_summary +ml_model_yardsticks` (the default training path) in a "
            "scratch warehouse from the current directory (the dbt project root) and prints, per "
            "use case, the model of record, its CV / test AUC beside the plain logistic and "
            "oracle yardsticks, and the test calibration slope / intercept against the gates. "
            "Results accumulate in <out>/results.csv (a rerun replaces its size and seed)."
        ),
    )
    parser.add_argument("--sizes", default="10000,48000", help="customer counts (10000,48000)")
    parser.add_argument("--seeds", default="0,1,2", help="generator seeds (0,1,2)")
    parser.add_argument("--out", default="bench/calibration", help="(bench/calibration)")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    parser.set_defaults(handler=_bench_calibration)


def _bench_calibration(args: argparse.Namespace) -> int:
    from leakproof.bench_calibration import calibration_bench, markdown

    sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    seeds = [int(seed) for seed in args.seeds.split(",") if seed.strip()]
    results = calibration_bench(sizes, seeds, Path(args.out), Path.cwd())
    print(markdown(results) if args.markdown else results.to_string(index=False))
    return 0


def _add_use_case_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "use-case",
        help="declare a use case (add) or validate the declarations (check)",
        description=(
            "A use case is a declaration, use_cases/<name>.yml: the raw file, its grain, target, "
            "split, column roles and rules. `add` writes one from a file; `check` validates them."
        ),
    )
    commands = parser.add_subparsers(dest="use_case_command", required=True, metavar="COMMAND")
    add = commands.add_parser(
        "add",
        help="sniff a labelled file and write its declaration and thin dbt files",
        description=(
            "Sniffs FILE (encoding, delimiter, column types, a likely id column), writes "
            "use_cases/NAME.yml with TARGET as the target and every other column a feature, "
            "writes the use case's one-line dbt files and turns it on in dbt_project.yml. Put "
            "FILE in var raw_dir (the declaration names it relative to raw_dir)."
        ),
    )
    add.add_argument("name", help="the use case's name (a lower-case identifier)")
    add.add_argument("--data", required=True, type=Path, help="the labelled file (CSV or Parquet)")
    add.add_argument("--target", required=True, help="the target column")
    add.add_argument("--positive", help="the positive label (inferred for 0/1, yes/no, true/false)")
    add.add_argument("--project-dir", type=Path, default=Path("."), help="the dbt project")
    add.set_defaults(handler=_use_case_add)
    check = commands.add_parser(
        "check",
        help="validate declarations against their files before a build",
        description=(
            "Checks every turned-on use case (or the NAMEs given): the declaration parses and "
            "every key is valid, its thin dbt files are present and untouched, its raw files can "
            "be read as declared, and its target labels occur in the data. Exit 1 on any problem."
        ),
    )
    check.add_argument("names", nargs="*", help="use cases (default: var use_cases)")
    check.add_argument("--raw-dir", default="data/raw", help="where the raw files are")
    check.add_argument("--raw-format", default="csv", choices=["csv", "parquet"])
    check.add_argument("--project-dir", type=Path, default=Path("."), help="the dbt project")
    check.set_defaults(handler=_use_case_check)


def _use_case_add(args: argparse.Namespace) -> int:
    from leakproof.declarations import add_use_case
    from leakproof.exceptions import DeclarationError

    try:
        written, notes = add_use_case(
            args.project_dir, args.name, args.data, args.target, args.positive
        )
    except DeclarationError as error:
        print(f"leakproof use-case add: {error}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    return 0


def _use_case_check(args: argparse.Namespace) -> int:
    from leakproof.declarations import check_use_cases, enabled_use_cases

    names = args.names or enabled_use_cases(args.project_dir)
    problems = check_use_cases(args.project_dir, names, args.raw_dir, args.raw_format)
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    if not problems:
        print(f"ok: {', '.join(names)}", file=sys.stderr)
    return 1 if problems else 0


def _add_figures_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "figures",
        help="regenerate the README's figures from a serving copy",
        description=(
            "Replaces every block between <!-- figures:NAME --> and <!-- /figures:NAME --> in "
            "the README with NAME rendered from the serving copy (leakproof.figures). With "
            "--check, changes nothing and exits 1 when a block is stale."
        ),
    )
    parser.add_argument("--serving", default="warehouse/serving.duckdb", type=Path)
    parser.add_argument(
        "--example-serving",
        type=Path,
        help="the serving copy of scripts/byod_example.sh (the example-* blocks)",
    )
    parser.add_argument("--readme", default="README.md", type=Path)
    parser.add_argument("--check", action="store_true", help="report stale blocks, change nothing")
    parser.add_argument(
        "--print",
        dest="print_block",
        metavar="NAME",
        help="print block NAME rendered from --serving (e.g. yardsticks for another seed's "
        "build); the README is not touched",
    )
    parser.set_defaults(handler=_figures)


def _figures(args: argparse.Namespace) -> int:
    from leakproof.figures import render, stale, update

    rendered = render(args.serving, args.example_serving)
    if args.print_block:
        if args.print_block not in rendered:
            print(f"unknown figures block {args.print_block!r}", file=sys.stderr)
            return 2
        print(rendered[args.print_block], end="")
        return 0
    if args.check:
        names = stale(args.readme, rendered)
        for name in names:
            print(f"stale: figures block {name}", file=sys.stderr)
        return 1 if names else 0
    for name in update(args.readme, rendered):
        print(f"updated: figures block {name}", file=sys.stderr)
    return 0


def _add_spark_ml_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "spark-ml",
        help="the pipeline on the spark target: SQL layer (dbt-spark), then the Spark ML job",
        description=(
            "Run from the project root with .venv-spark (make spark). Builds the SQL layer with "
            "`dbt build --target spark --selector sql_layer`, then trains, scores (with reason "
            "codes), recommends and freezes the PSI bins as a Spark job writing ml.ml_* tables "
            "(leakproof.spark), then builds the selector spark_ml_consumers if it exists."
        ),
    )
    parser.add_argument("--raw-dir", help="directory of the raw files (dbt var raw_dir)")
    parser.add_argument("--artifact-dir", default="artifacts", help="where models are saved")
    parser.add_argument("--target-path", default="target", help="dbt's target path (target)")
    parser.add_argument("--psi-bins", type=int, default=10, help="PSI reference bins (10)")
    parser.add_argument(
        "--num-workers", type=int, default=1, help="tasks of each SparkXGBClassifier fit (1)"
    )
    parser.add_argument(
        "--skip-sql", action="store_true", help="the SQL layer is built: run the ML job only"
    )
    parser.set_defaults(handler=_spark_ml)


def _spark_ml(args: argparse.Namespace) -> int:
    from leakproof.spark import run_pipeline

    return run_pipeline(
        Path.cwd(),
        raw_dir=args.raw_dir,
        artifact_dir=args.artifact_dir,
        target_path=Path(args.target_path).resolve(),
        psi_bins=args.psi_bins,
        num_workers=args.num_workers,
        build_sql=not args.skip_sql,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="leakproof",
        description="Honest conversion and propensity models on dbt + DuckDB.",
    )
    parser.add_argument("--version", action="version", version=f"leakproof {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    generate.add_parser(subparsers)
    _add_score_parser(subparsers)
    _add_publish_parser(subparsers)
    _add_report_parser(subparsers)
    _add_bench_parser(subparsers)
    _add_bench_policy_parser(subparsers)
    _add_bench_calibration_parser(subparsers)
    _add_use_case_parser(subparsers)
    _add_figures_parser(subparsers)
    _add_spark_ml_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
