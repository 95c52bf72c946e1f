# Two commands for a fresh clone: `make test` and `make demo`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LINTED := alloy_nb tests $(wildcard benchmarks)

.PHONY: setup test lint typecheck pytest demo bench clean

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

# Not part of `make test`: minutes of 1 GB transfers. Prints the table and keeps a copy.
bench: setup
	$(BIN)/python benchmarks/bench_client.py | tee benchmarks/results.md

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
