# Two commands for a fresh clone: `make test` and `make demo`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LINTED := alloy_nb tests $(wildcard benchmarks)

.PHONY: setup lock test lint typecheck pytest demo sandbox bench notebooks clean

setup: $(STAMP)

# The dev/test/demo environment comes from uv.lock (regenerate it with `make lock`).
# uv itself is bootstrapped into .venv-uv when it is not on PATH.
UV_VERSION := 0.13.9
UV := $(or $(shell command -v uv 2>/dev/null),.venv-uv/bin/uv)

$(UV):
	$(PYTHON) -m venv .venv-uv
	.venv-uv/bin/python -m pip install --quiet uv==$(UV_VERSION)

$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --all-extras --python $(PYTHON)
	touch $(STAMP)

# The one command that changes pins: after editing dependencies in pyproject.toml.
lock: | $(UV)
	$(UV) lock

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
	rm -rf $(VENV) .venv-uv .pytest_cache .mypy_cache .ruff_cache

# The UploadPanel's JavaScript: npm ci from js/package-lock.json, then esbuild into
# alloy_nb/widgets/static/ (committed, so installing alloy_nb needs no node).
.PHONY: js
js:
	cd js && npm ci --no-audit --no-fund && npm run build
