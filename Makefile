# Quick start: `make demo` (install + run the embedded demo), `make test` (install + lint + tests).
# Each creates its own virtualenv in .venv from pyproject.toml; nothing else is needed on the machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck unit soak etcd bench schemas clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/reconciler demo

lint: $(STAMP)
	$(BIN)/ruff check reconciler
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) etcd
	$(BIN)/python -m pytest -q

# The fault harness's longer variants (more seeds, kill points and sequence steps); `make test` runs the short ones.
soak: $(STAMP)
	$(BIN)/python -m pytest -q -m soak tests/resilience

# The coordination tests run a real etcd (Debian package etcd-server); under CI=true they fail without it.
SUDO := $(shell [ "$$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1 && echo sudo)
etcd:
	@command -v etcd >/dev/null 2>&1 || { echo "installing etcd-server for the coordination tests"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y etcd-server; }

test: lint typecheck unit

# `make bench BENCH_GATEWAYS="--n 100 --latency 0 --gateways stoa,kong-db"` for a quick run.
BENCH_GATEWAYS ?= --n 100,1000 --latency 0,44
BENCH_SCALE    ?= --n 1000,3000,10000,30000
bench: $(STAMP)
	$(BIN)/python benchmarks/gateways.py $(BENCH_GATEWAYS)
	$(BIN)/python benchmarks/scale_curve.py $(BENCH_SCALE)

schemas: $(STAMP)
	$(BIN)/reconciler schema --write schemas

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
