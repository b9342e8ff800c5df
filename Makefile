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

.PHONY: setup run test test-unit bench broker-up broker-down clean

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

test: setup
	$(BIN)/pytest

test-unit: $(PY_DEPS)
	$(BIN)/pytest -m "not kafka"

bench: setup
	deploy/install-system-deps.sh wrk
	$(BIN)/python -m tests.bench

broker-up: setup
	@$(PREFSTREAM) broker status >/dev/null 2>&1 || $(PREFSTREAM) broker start
	@$(PREFSTREAM) topics create

broker-down:
	@if [ -x $(PREFSTREAM) ]; then $(PREFSTREAM) broker stop; fi

clean: broker-down
	rm -rf $(STATE) $(VENV) .pytest_cache .hypothesis bench-results *.egg-info
