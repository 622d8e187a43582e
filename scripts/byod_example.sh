#!/usr/bin/env bash
# The README's "Bring your own data" walkthrough, run for real: a copy of the project with only a
# telemarketing table (semicolon-delimited, yes / no target, no id, a post-outcome call duration)
# declared by `leakproof use-case add`, built, published to build/byod/serving.duckdb, so that
# `leakproof figures --example-serving build/byod/serving.duckdb` can regenerate the README's
# example output. Usage: scripts/byod_example.sh [workdir] (default build/byod).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(realpath -m "${1:-$root/build/byod}")"
bin="$root/.venv/bin"
rm -rf "$work" && mkdir -p "$work/project"
cd "$root"
cp dbt_project.yml profiles.yml selectors.yml "$work/project/"
cp -r macros models seeds tests fixtures "$work/project/"
mkdir -p "$work/project/use_cases"
# only the new use case: drop the demo use cases' generated files and turn them off
rm -rf "$work"/project/models/{staging,intermediate}/{marketing,b2b}
rm -f "$work"/project/models/marts/features/*{marketing,b2b}_*
sed -i 's/use_cases: \[marketing, b2b\]/use_cases: []/' "$work/project/dbt_project.yml"

"$bin/leakproof" generate --dataset telemarketing --rows 20000 --seed 0 --out "$work/raw"
cd "$work/project"
"$bin/leakproof" use-case add telemarketing --data "$work/raw/telemarketing.csv" --target y
# the one edit a user must make: call_duration is known only after the call
"$bin/python" - <<'PY'
from pathlib import Path
path = Path("use_cases/telemarketing.yml")
text = path.read_text()
old = "- name: call_duration\n      data_type: integer\n      config:\n        meta:\n          role: feature"
assert old in text, "call_duration not found as written by use-case add"
path.write_text(text.replace(old, old.replace("role: feature", "role: post_outcome")))
PY
"$bin/leakproof" use-case check --raw-dir "$work/raw"
LEAKPROOF_WAREHOUSE="$work/leakproof.duckdb" "$bin/dbt" build \
    --vars "{raw_dir: $work/raw, artifact_dir: $work/artifacts}" --target-path "$work/target"
"$bin/leakproof" publish --warehouse "$work/leakproof.duckdb" --serving "$work/serving.duckdb" \
    --run-results "$work/target/run_results.json"
