# Two commands for a fresh clone: `make test` and `make demo`. `make check` is the inner loop.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LINTED := alloy_nb tests conftest.py $(wildcard benchmarks)

.PHONY: setup lock test check lint typecheck pytest unit reliability test-live test-latest \
        demo sandbox bench notebooks screenshots clean

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

# The one command that changes pins: after editing dependencies in pyproject.toml. Binder
# installs the same pins (tests/test_lock.py checks that the export matches the lock).
lock: | $(UV)
	$(UV) lock
	$(UV) export --frozen --quiet --no-dev --group demo --extra sandbox --extra parquet \
	    --no-emit-project --output-file binder/requirements.txt

# Nothing run from here sees the shell's Alloy settings (a real account's key): every ALLOY_*
# variable is unset. tests/guard.py scrubs them again inside pytest, so a bare `pytest` is safe.
NO_ALLOY := env $(addprefix -u ,$(filter ALLOY_%,$(.VARIABLES)))
# `make check`: no browser, no notebook kernels, nothing that restarts a sandbox.
FAST := not browser and not notebook and not slow and not node
PYTEST_ARGS ?=

# ruff also reads the notebooks (unused imports, undefined names); mypy cannot.
lint: setup
	$(BIN)/ruff check $(LINTED) notebooks
	$(BIN)/ruff format --check $(LINTED) notebooks

# mypy --strict on alloy_nb; tests and benchmarks under the lighter config in pyproject.
typecheck: setup
	$(BIN)/mypy $(LINTED)

# The full suite. The reliability table goes to build/; `make reliability` updates the docs.
pytest: setup
	$(NO_ALLOY) ALLOY_NB_RELIABILITY_REPORT=build/reliability.md $(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

unit: setup
	$(NO_ALLOY) $(BIN)/pytest tests -q -p no:cacheprovider -o addopts= -ra --strict-markers \
	    -p no:nbval -p no:schemathesis -m "$(FAST)" $(PYTEST_ARGS)

# Under a minute: lint, types and the fast unit tests.
check: lint typecheck unit

reliability: setup
	$(NO_ALLOY) ALLOY_NB_RELIABILITY_REPORT=docs/reliability.md $(BIN)/pytest tests -m reliability

# The real-browser tests that save screenshots, into docs/ (make test keeps them in build/).
# One module per run: each runs its own JupyterLab and Chromium.
SHOT_MODULES := test_browser_e2e test_file_browser_e2e test_upload_panel_ui_browser \
    test_upload_panel_stale_browser
screenshots: setup
	for m in $(SHOT_MODULES); do \
	    $(NO_ALLOY) ALLOY_NB_SCREENSHOTS=docs $(BIN)/pytest -p no:cacheprovider tests/$$m.py || exit 1; \
	done

# Opt-in: a real Alloy account (ALLOY_API_KEY, optionally ALLOY_BASE_URL / ALLOY_USER_ID).
# tests/test_live.py works only on files under a fresh per-run name prefix and deletes only
# those; nothing else (notebooks, sandbox tests) runs or sees the key.
test-live: setup
	@test -n "$$ALLOY_API_KEY" || { echo "make test-live needs ALLOY_API_KEY (a real account)"; exit 2; }
	ALLOY_NB_LIVE=1 $(BIN)/pytest tests/test_live.py -p no:cacheprovider

# The suite against the newest release of everything pyproject allows, in a throwaway venv
# (uv.lock is not read or written): upgrades become deliberate, `make lock` once this passes.
LATEST := .venv-latest
test-latest: | $(UV)
	rm -rf $(LATEST)
	$(UV) venv --quiet --python $(PYTHON) $(LATEST)
	$(UV) pip install --quiet --python $(LATEST)/bin/python --upgrade \
	    -e ".[sandbox,parquet]" --group dev
	$(LATEST)/bin/ruff check $(LINTED)
	$(LATEST)/bin/mypy
	$(NO_ALLOY) ALLOY_NB_RELIABILITY_REPORT=build/reliability-latest.md $(LATEST)/bin/pytest \
	    -p no:cacheprovider $(PYTEST_ARGS)

# JupyterLab on loopback with the notebooks; their connect() starts (or reuses) your one local
# sandbox, which stops itself when idle (`python -m alloy_nb.sandbox status|stop`).
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
NB_HOME := build/notebooks-sandbox
notebooks: setup
	rm -rf $(NB_HOME)
	cd notebooks && $(NO_ALLOY) ALLOY_NB_SANDBOX_HOME=$(abspath $(NB_HOME)) \
	    ../$(BIN)/jupyter nbconvert --to notebook --execute --inplace *.ipynb; \
	    status=$$?; ../$(BIN)/python -m alloy_nb.sandbox stop --home $(abspath $(NB_HOME)); \
	    exit $$status
	$(BIN)/python -c "import nbformat, glob; [nbformat.write((lambda nb: (nb.metadata.pop('widgets', None), nb)[1])(nbformat.read(p, 4)), p) for p in glob.glob('notebooks/*.ipynb')]"

# Not part of `make test`: about 15 minutes of 1 GB transfers, 100,000 seeded files and a
# browser run. Prints one table and keeps it in benchmarks/results.md.
bench: setup
	$(NO_ALLOY) $(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .venv-uv $(LATEST) build .pytest_cache .mypy_cache .ruff_cache

# The UploadPanel's JavaScript: npm ci from js/package-lock.json, then esbuild into
# alloy_nb/widgets/static/ (committed, so installing alloy_nb needs no node).
.PHONY: js
js:
	cd js && npm ci --no-audit --no-fund && npm run build
