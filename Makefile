# Quick start: `make demo` (install + run the embedded demo), `make test` (install + lint + tests).
# Each creates its own virtualenv in .venv from pyproject.toml; nothing else is needed on the machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench schemas clean

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

unit: $(STAMP)
	$(BIN)/python -m pytest -q

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python benchmarks/plan_scale.py

schemas: $(STAMP)
	$(BIN)/reconciler schema --write schemas

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
