# leakproof — the two commands are `make run` and `make test`; everything else is a step of them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON     ?= python3.11
VENV       := .venv
BIN        := $(VENV)/bin
STAMP      := $(VENV)/.installed
RAW_DIR    ?= data/raw
DBT        := $(BIN)/dbt
SERVING    := warehouse/serving.duckdb
# A DuckDB 1.4 client (what BI drivers bundle) for the test that opens the serving copy with it.
DUCKDB14   := .venv-duckdb14/bin/python
# The Spark extras (on request only: make spark): dbt-spark on a local pyspark, in its own venv.
SPARK_VENV  := .venv-spark
SPARK_STAMP := $(SPARK_VENV)/.installed
REPORT_DIR := reports

.PHONY: help install data build publish report run test bench figures lint format clean spark test-spark test-spark-ml spark-build spark-run bench-spark
# Steps run in the order listed: publish must never start before build has succeeded.
.NOTPARALLEL:

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; set PYTHON=/path/to/python3.11"; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==26.3" "setuptools==84.2.1" "wheel==0.48.0"
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP) ## create .venv and install the pinned environment

$(DUCKDB14):
	$(PYTHON) -m venv .venv-duckdb14
	.venv-duckdb14/bin/python -m pip install --quiet "duckdb==1.4.4"

# Java for pyspark: Debian's OpenJDK 17 when no java is on the PATH (needs root, as in CI).
$(SPARK_STAMP): requirements-spark.lock
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; set PYTHON=/path/to/python3.11"; exit 1; }
	@command -v java >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless; } \
		|| { echo "error: no java on the PATH; install OpenJDK 17 (Debian: openjdk-17-jre-headless)"; exit 1; }
	test -d $(SPARK_VENV) || $(PYTHON) -m venv $(SPARK_VENV)
	$(SPARK_VENV)/bin/python -m pip install --quiet --upgrade "pip==26.3" "setuptools==84.2.1" "wheel==0.48.0"
	$(SPARK_VENV)/bin/python -m pip install --quiet -r requirements-spark.lock
	$(SPARK_VENV)/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(SPARK_STAMP)

spark: $(SPARK_STAMP) ## (optional) install Java if absent and the Spark extras into .venv-spark

test-spark: $(STAMP) $(SPARK_STAMP) ## the Spark equivalence test (not yet in CI): the compared marts on local Spark equal DuckDB's
	LEAKPROOF_SPARK_DBT=$(CURDIR)/$(SPARK_VENV)/bin/dbt $(BIN)/pytest tests/python/test_spark.py -q

test-spark-ml: $(STAMP) $(SPARK_STAMP) ## (optional, not in CI) the Spark ML job against DuckDB's models (builds the whole SQL layer on Spark)
	LEAKPROOF_SPARK_DBT=$(CURDIR)/$(SPARK_VENV)/bin/dbt $(BIN)/pytest tests/python/test_spark_ml.py -q

spark-run: $(SPARK_STAMP) data ## (optional) the pipeline on local Spark: dbt-spark SQL layer, then the Spark ML job
	$(SPARK_VENV)/bin/leakproof spark-ml --raw-dir $(RAW_DIR)

bench-spark: $(STAMP) $(SPARK_STAMP) ## (optional) time the SQL layer on DuckDB and on Spark local[2] (SIZES=48000,1000000)
	scripts/bench_spark.sh $(or $(SIZES),48000)

spark-build: $(STAMP) $(SPARK_STAMP) ## (optional, not in CI) the whole SQL layer (selector sql_layer) on local Spark over RAW_DIR
	$(SPARK_VENV)/bin/dbt build --target spark --selector sql_layer --vars '{raw_dir: "$(RAW_DIR)"}'

data: $(STAMP) ## generate the demo data into data/raw if absent
	@if [ -e "$(RAW_DIR)/customers.csv" ] || [ -e "$(RAW_DIR)/customers.parquet" ]; then \
		echo "raw data present in $(RAW_DIR); not regenerating"; \
	else $(BIN)/leakproof generate --out $(RAW_DIR); fi

build: $(STAMP) ## dbt build the whole DAG on $(RAW_DIR)
	$(DBT) build --vars '{raw_dir: "$(RAW_DIR)"}'

publish: $(STAMP) ## copy the BI-facing tables of the last green build to warehouse/serving.duckdb
	$(BIN)/leakproof publish --serving $(SERVING)

report: $(STAMP) ## write the charts and reports/report.html from the serving copy
	$(BIN)/leakproof report --serving $(SERVING) --out $(REPORT_DIR)

run: data build publish report ## the main job: generate data if absent, dbt build, publish, report

test: $(STAMP) $(DUCKDB14) ## lint, pytest, and a dbt build on a small generated dataset
	$(BIN)/ruff check python tests/python models
	$(BIN)/ruff format --check python tests/python models
	LEAKPROOF_WAREHOUSE=:memory: $(BIN)/sqlfluff lint models
	LEAKPROOF_DUCKDB14_PYTHON=$(DUCKDB14) $(BIN)/pytest

bench: $(STAMP) ## benchmark the pipeline at 48K, 1M and 5M customers (SIZES=... to change)
	$(BIN)/leakproof bench --sizes $(or $(SIZES),48000,1000000,5000000) --out bench

figures: $(STAMP) ## regenerate the README's figures from the demo build and the bring-your-own-data example
	scripts/byod_example.sh build/byod
	$(BIN)/leakproof figures --serving $(SERVING) --example-serving build/byod/serving.duckdb

lint: $(STAMP) ## ruff + sqlfluff
	$(BIN)/ruff check python tests/python models
	LEAKPROOF_WAREHOUSE=:memory: $(BIN)/sqlfluff lint models

format: $(STAMP) ## apply ruff format and sqlfluff fix
	$(BIN)/ruff format python tests/python models
	$(BIN)/ruff check --fix python tests/python models
	LEAKPROOF_WAREHOUSE=:memory: $(BIN)/sqlfluff fix models

clean: ## remove generated data, warehouses and dbt artifacts (keeps .venv)
	rm -rf data target logs artifacts reports warehouse/*.duckdb warehouse/*.duckdb.wal
