# Skrynka. `make run` starts the drop; `make test` runs every test.
# Both set up what they need from a fresh clone (virtualenv, requirements,
# Debian packages), so a new machine needs nothing else.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SKRYNKA_DATA ?= $(CURDIR)/data
export SKRYNKA_DATA
PYTEST_ARGS ?=

.PHONY: run test test-fast lint bench soak analyst-kit setup setup-test clean install

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.deps: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

## setup: virtualenv, requirements and tor (for `make run`)
setup: $(VENV)/.deps
	scripts/system-deps.sh run

## setup-test: everything `make test` needs (tor, chromium, fonts, PostgreSQL, ssh-keygen)
setup-test: $(VENV)/.deps
	scripts/system-deps.sh test

## run: tor + gunicorn via `python -m onion serve --init` (data directory and migrations
## first, once no other serve runs with them)
run: setup
	exec $(BIN)/python -m onion serve --init

lint: $(VENV)/.deps
	$(BIN)/ruff check .
	$(BIN)/mypy

## test: lint, type checks and the whole suite (private Tor network and browser included)
test: setup-test lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## test-fast: the suite without the private Tor network, browser and PostgreSQL tests
test-fast: $(VENV)/.deps
	$(BIN)/python -m pytest -m "not e2e and not postgres" $(PYTEST_ARGS)

## bench: speed and memory figures, one table with ratios against in-run baselines
bench: setup-test
	$(BIN)/python -m bench

## soak: the long load, crash and fault runs
soak: setup-test
	$(BIN)/python -m bench --soak

## analyst-kit: wheels + INSTALL.txt for the air-gapped laptop
analyst-kit: $(VENV)/.deps
	scripts/analyst-kit.sh analyst-kit

## install: the hardened systemd service on Debian with Debian's tor (root; docs/operators.md)
# DESTDIR=/tmp/stage stages the files only; PREFIX is where the code and its .venv go.
# Set them on the command line (make install PREFIX=…): the environment's are ignored.
DESTDIR =
PREFIX = /opt/skrynka
install:
	DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" deploy/install.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache analyst-kit
