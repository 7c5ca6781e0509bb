# dockyard — the two commands the README opens with, and their friends.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
# `make serve` installs dockyard's runtime dependencies only; configurations that need an
# optional extra name it (`make serve EXTRAS=s3,redis CONFIG=my.yml`).
EXTRAS ?=
comma  := ,
# `make test` installs everything: every extra, the test tools and the benchmark harness.
STAMP       := $(VENV)/.installed
SERVE_STAMP := $(VENV)/.installed-serve$(if $(EXTRAS),-$(subst $(comma),-,$(EXTRAS)))

.PHONY: serve test lint typecheck bench wheel clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "needs $(PYTHON)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(SERVE_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.$(if $(EXTRAS),[$(EXTRAS)])'
	touch $@

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,bench]'
	touch $@ $(VENV)/.installed-serve

## Run the registry: filesystem storage in ./.data, port 5000.
serve: $(SERVE_STAMP)
	$(BIN)/dockyard serve $(CONFIG)

## Run the whole test suite (lint, types, tests).
test: $(STAMP)
	$(BIN)/ruff check dockyard tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check dockyard tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench

## What metrics and notifications cost: the same build with them off and on, in turns.
bench-ops: $(STAMP)
	$(BIN)/python -m bench.ops_figures --rounds 3

## Build the wheel into dist/ (`pip install dist/dockyard-*.whl` elsewhere).
wheel: | $(BIN)/python
	$(BIN)/pip wheel --no-deps -w dist .

clean:
	rm -rf $(VENV) .data .pytest_cache .mypy_cache .ruff_cache dist build
