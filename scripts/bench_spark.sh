#!/usr/bin/env bash
# The SQL layer's build on DuckDB and on Spark (the spark target, local[2] unless
# LEAKPROOF_SPARK_MASTER says otherwise) over the same generated data, timed: one README row per
# size. Needs `make install` and `make spark`. Usage: scripts/bench_spark.sh [sizes] [workdir]
# (default 48000, bench/spark). `dbt build --selector sql_layer` each time, from a fresh warehouse.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
sizes="${1:-48000}"
work="$(realpath -m "${2:-$root/bench/spark}")"
[ -x "$root/.venv-spark/bin/dbt" ] || { echo "error: no .venv-spark; run make spark" >&2; exit 1; }
cd "$root"
echo "| customers (B2B rows) | DuckDB sql_layer build (s) | Spark local[2] sql_layer build (s) |"
echo "| --- | --- | --- |"
for rows in ${sizes//,/ }; do
    b2b=$(( rows * 20000 / 48000 ))
    dir="$work/$rows"
    rm -rf "$dir" && mkdir -p "$dir"
    .venv/bin/leakproof generate --out "$dir/raw" --rows "$rows" --b2b-rows "$b2b" --no-truth >/dev/null 2>"$dir/generate.log"
    vars="{raw_dir: \"$dir/raw\"}"
    start=$(date +%s%N)
    LEAKPROOF_WAREHOUSE="$dir/duck.duckdb" .venv/bin/dbt build --selector sql_layer --vars "$vars" \
        --target-path "$dir/duck-target" --log-path "$dir/duck-logs" >"$dir/duck.log" 2>&1 \
        || { echo "error: DuckDB build failed, see $dir/duck.log" >&2; exit 1; }
    duck=$(( ($(date +%s%N) - start) / 1000000 ))
    start=$(date +%s%N)
    LEAKPROOF_SPARK_WAREHOUSE="$dir/spark-warehouse" .venv-spark/bin/dbt build --target spark \
        --selector sql_layer --vars "$vars" --target-path "$dir/spark-target" \
        --log-path "$dir/spark-logs" >"$dir/spark.log" 2>&1 \
        || { echo "error: Spark build failed, see $dir/spark.log" >&2; exit 1; }
    spark=$(( ($(date +%s%N) - start) / 1000000 ))
    printf '| %s (%s) | %d.%d | %d.%d |\n' "$rows" "$b2b" $((duck / 1000)) $((duck % 1000 / 100)) \
        $((spark / 1000)) $((spark % 1000 / 100))
done
