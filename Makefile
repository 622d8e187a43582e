# leakproof — the two commands are `make run` and `make test`; everything else is a step of them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON     ?= python3.11
VENV       := .venv
BIN        := $(VENV)/bin
STAMP      := $(VENV)/.installed
RAW_DIR    ?= data/raw
TEST_DIR   := data/test_raw
TEST_ROWS  ?= 6000
DBT        := $(BIN)/dbt

.PHONY: help install data build run test lint format clean

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

data: $(STAMP) ## generate the demo data into data/raw if absent
	@if [ -e "$(RAW_DIR)/customers.csv" ] || [ -e "$(RAW_DIR)/customers.parquet" ]; then \
		echo "raw data present in $(RAW_DIR); not regenerating"; \
	else $(BIN)/leakproof generate --out $(RAW_DIR); fi

build: $(STAMP) ## dbt build the whole DAG on $(RAW_DIR)
	$(DBT) build --vars '{raw_dir: "$(RAW_DIR)"}'

run: data build ## the main job: install, generate demo data if absent, dbt build

test: $(STAMP) ## lint, pytest, and a dbt build on a small generated dataset
	$(BIN)/ruff check python tests/python models
	$(BIN)/ruff format --check python tests/python models
	$(BIN)/sqlfluff lint models
	$(BIN)/pytest

lint: $(STAMP) ## ruff + sqlfluff
	$(BIN)/ruff check python tests/python models
	$(BIN)/sqlfluff lint models

format: $(STAMP) ## apply ruff format and sqlfluff fix
	$(BIN)/ruff format python tests/python models
	$(BIN)/ruff check --fix python tests/python models
	$(BIN)/sqlfluff fix models

clean: ## remove generated data, warehouses and dbt artifacts (keeps .venv)
	rm -rf data warehouse target logs artifacts reports
