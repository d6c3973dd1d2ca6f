# SchemaHub developer tasks. `make help` lists them.
# `make test` and `make demo` each run `setup` first, so a fresh clone needs only one command.

SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
JARS_DIR ?= .jars
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
MVN ?= mvn
DEP_PLUGIN := org.apache.maven.plugins:maven-dependency-plugin:3.6.1

# Glue 5.1 matrix (SPEC.md): Iceberg 1.10.0 for Spark 3.5 / Scala 2.12.
JARS := org.apache.iceberg:iceberg-spark-runtime-3.5_2.12:1.10.0 \
        org.apache.iceberg:iceberg-aws-bundle:1.10.0 \
        org.xerial:sqlite-jdbc:3.47.1.0

export SCHEMAHUB_JARS_DIR := $(abspath $(JARS_DIR))

.DEFAULT_GOAL := help
.PHONY: help setup venv jars chromium test test-fast soak demo lint fmt bench bench-compare package deploy clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}'

setup: venv jars ## Create the virtualenv, install the package with test extras, fetch the Maven jars (idempotent)

venv: $(VENV)/.installed

$(VENV)/.installed: setup.py
	@command -v $(PYTHON) >/dev/null || { echo "setup: $(PYTHON) not found; SchemaHub needs Python 3.11 (Glue 5.1)." >&2; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip wheel
	$(PIP) install --quiet -e '.[test]'
	@touch $@

jars: ## Fetch the Iceberg/SQLite jars from Maven Central into .jars/ (skips those present)
	@command -v $(MVN) >/dev/null || { echo "setup: Maven (mvn) not found; install Maven to fetch the Iceberg jars." >&2; exit 1; }
	@mkdir -p $(JARS_DIR)
	@for coord in $(JARS); do \
	  a=$$(echo $$coord | cut -d: -f2); v=$$(echo $$coord | cut -d: -f3); \
	  if [ -s $(JARS_DIR)/$$a-$$v.jar ]; then continue; fi; \
	  echo "fetching $$coord"; \
	  out=$$($(MVN) -q -B $(DEP_PLUGIN):copy -Dartifact=$$coord -DoutputDirectory=$(JARS_DIR) -Dmdep.overWriteIfNewer=true 2>&1) \
	    || { echo "$$out" >&2; echo "setup: Maven could not fetch $$coord (see above)." >&2; exit 1; }; \
	done

CHROMIUM ?= /usr/bin/chromium

chromium: ## Install Debian's Chromium for the explorer's browser tests (quiet when present)
	@test -x $(CHROMIUM) || { \
	  echo "installing chromium (apt-get) for the explorer browser tests"; \
	  command -v apt-get >/dev/null || { echo "chromium: $(CHROMIUM) missing and no apt-get; install Chromium yourself" >&2; exit 1; }; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null; \
	}

test: setup chromium ## Run the whole test suite (unit, simulator, Spark, moto, headless Chromium)
	$(PY) -m pytest

test-fast: setup ## Run the tests that need no JVM
	$(PY) -m pytest -m "not spark and not aws"

soak: setup ## The whole fault matrix (every exchange x fault x walk) over many seeds; SOAK_SECONDS=900 bounds it
	$(PY) -m tests.matrix.soak --seconds $(or $(SOAK_SECONDS),900) $(ARGS)

demo: setup ## Run the pipeline end to end on the embedded catalog and print a first query
	$(PY) -m schemahub_lib.demo $(ARGS)

lint: setup ## ruff (lint + format check) and mypy on schemahub_lib and bench
	$(VENV)/bin/ruff check schemahub_lib jobs tests glue_deploy bench
	$(VENV)/bin/ruff format --check schemahub_lib jobs tests glue_deploy bench
	$(VENV)/bin/mypy schemahub_lib bench

fmt: setup ## Apply ruff formatting
	$(VENV)/bin/ruff format schemahub_lib jobs tests glue_deploy bench
	$(VENV)/bin/ruff check --fix schemahub_lib jobs tests glue_deploy bench

bench: setup ## Performance benchmarks against the SPEC budgets (ratios, not timed tests)
	$(PY) -m bench

bench-compare: setup ## Unify rows/s: Glue 5.0 baseline (built in .bench/glue50) vs this tree, interleaved in one run
	$(PY) -m bench.glue50 $(ARGS)

package: setup ## Build the schemahub wheel into dist/
	$(PY) -m pip wheel --no-deps --quiet -w dist .

deploy: setup ## Deploy to AWS Glue from glue_deploy/deployment.yaml (see README)
	$(VENV)/bin/schemahub deploy

clean: ## Remove the virtualenv, jars, local warehouse and build output
	rm -rf $(VENV) $(JARS_DIR) warehouse build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
