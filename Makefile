# prefstream: every target sets up what it needs first, so a fresh clone needs only
# `make run` or `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PREFSTREAM := $(BIN)/prefstream
STATE := .prefstream
SYSTEM_DEPS := $(STATE)/.system-deps
PY_DEPS := $(VENV)/.installed
KAFKA_JARS := $(STATE)/kafka/lib/.resolved

.PHONY: setup run test test-unit lint docs bench broker-up broker-down clean mutation

setup: $(SYSTEM_DEPS) $(PY_DEPS) $(KAFKA_JARS)

$(SYSTEM_DEPS): deploy/install-system-deps.sh
	deploy/install-system-deps.sh
	@mkdir -p $(STATE) && touch $@

$(PY_DEPS): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $@

$(KAFKA_JARS): deploy/kafka/pom.xml | $(SYSTEM_DEPS) $(PY_DEPS)
	$(PREFSTREAM) broker fetch

run: setup
	$(PREFSTREAM) run

test: setup lint
	$(BIN)/pytest

test-unit: $(PY_DEPS)
	$(BIN)/pytest -m "not kafka"

# The layers contract, ruff and mypy ([tool.importlinter], [tool.ruff], [tool.mypy] in pyproject.toml).
lint: $(PY_DEPS)
	$(BIN)/lint-imports
	$(BIN)/ruff check .
	$(BIN)/mypy

# docs/configuration.md from prefstream/core/configuration.py (a unit test fails when it is stale).
docs: $(PY_DEPS)
	$(BIN)/python -m prefstream.core.configuration > docs/configuration.md

bench: setup
	deploy/install-system-deps.sh wrk
	$(BIN)/python -m tests.bench

# Mutation testing of the pure domain ([tool.mutmut] in pyproject.toml; docs/mutation.md): a fresh
# run in mutants/ on two workers at low priority, then the score per module and the mutants left.
mutation: $(PY_DEPS)
	rm -rf mutants
	nice -n 10 $(BIN)/mutmut run --max-children 2
	$(BIN)/python -m tests.mutation.score

broker-up: setup
	@$(PREFSTREAM) broker status >/dev/null 2>&1 || $(PREFSTREAM) broker start
	@$(PREFSTREAM) topics create

broker-down:
	@if [ -x $(PREFSTREAM) ]; then $(PREFSTREAM) broker stop; fi

clean: broker-down
	rm -rf $(STATE) $(VENV) .pytest_cache .hypothesis bench-results mutants *.egg-info
