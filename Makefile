# Two commands for a fresh clone: `make test` and `make demo`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LINTED := alloy_nb tests $(wildcard benchmarks)

.PHONY: setup test lint typecheck pytest demo sandbox bench notebooks clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[sandbox,parquet,dev]'
	touch $(STAMP)

lint: setup
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

typecheck: setup
	$(BIN)/mypy

pytest: setup
	ALLOY_NB_RELIABILITY_REPORT=docs/reliability.md $(BIN)/pytest

test: lint typecheck pytest

# JupyterLab on loopback with the notebooks; each notebook's connect() starts the sandbox.
demo: setup
	@echo "Open the URL printed below (with its token); start with 01_quickstart.ipynb."
	$(BIN)/jupyter lab --no-browser --ServerApp.ip=127.0.0.1 --ServerApp.root_dir=notebooks \
	    $(if $(filter 0,$(shell id -u)),--allow-root) \
	    --LabApp.default_url=/lab/tree/01_quickstart.ipynb

# The offline sandbox alone, as a service (see README: The offline sandbox).
sandbox: setup
	$(BIN)/python -m alloy_nb.sandbox

# Re-run the notebooks against a fresh sandbox and save their outputs (widget state dropped,
# so GitHub shows the text of each cell's result).
notebooks: setup
	cd notebooks && env -u ALLOY_API_KEY ../$(BIN)/jupyter nbconvert --to notebook --execute \
	    --inplace *.ipynb
	$(BIN)/python -c "import nbformat, glob; [nbformat.write((lambda nb: (nb.metadata.pop('widgets', None), nb)[1])(nbformat.read(p, 4)), p) for p in glob.glob('notebooks/*.ipynb')]"

# Not part of `make test`: about 15 minutes of 1 GB transfers, 100,000 seeded files and a
# browser run. Prints one table and keeps it in benchmarks/results.md.
bench: setup
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
