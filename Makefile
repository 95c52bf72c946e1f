# Two commands for a fresh clone: `make test` and `make demo`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LINTED := alloy_nb tests $(wildcard benchmarks)

.PHONY: setup test lint typecheck pytest demo clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[sandbox,dev]'
	touch $(STAMP)

lint: setup
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

typecheck: setup
	$(BIN)/mypy

pytest: setup
	$(BIN)/pytest

test: lint typecheck pytest

demo: setup
	$(BIN)/python -m alloy_nb.sandbox

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
