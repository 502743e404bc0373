# The two commands: `make run` (the app on its embedded defaults) and `make test`.
# Both create .venv on first use with Python 3.11, install the pinned requirements, then
# the project itself in editable mode without dependencies (the versions come from the
# requirements files only), so `roko_app` imports from any directory and from scripts/.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: run test lint bench-inbound clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-aws.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

$(VENV)/.project: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

## run: upgrade the dev database and serve the app, the Topaz simulator and the worker
run: $(VENV)/.runtime $(VENV)/.project
	ROKO_ENV=dev $(BIN)/flask --app wsgi db upgrade
	ROKO_ENV=dev $(BIN)/flask --app wsgi roko dev-seed
	ROKO_ENV=dev $(BIN)/python scripts/run_dev.py

## test: the whole suite (SQLite, or PostgreSQL when ROKO_TEST_DATABASE_URL is set)
test: $(VENV)/.dev $(VENV)/.project
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .

bench-inbound: $(VENV)/.dev $(VENV)/.project
	$(BIN)/python bench/inbound.py

.PHONY: bench-classify bench-reply-latency

## bench-classify: one worker classifies 100,000 stored SMS (both backends; bench/README.md)
bench-classify: $(VENV)/.dev $(VENV)/.project
	$(BIN)/python bench/classify.py

## bench-reply-latency: inbound POST to reply at the simulator, app + worker + simulator (both backends)
bench-reply-latency: $(VENV)/.dev $(VENV)/.project
	$(BIN)/python bench/reply_latency.py

.PHONY: bench-delivery-reports

## bench-delivery-reports: 10,000 delivery reports in batches of 100 through the status webhook (both backends)
bench-delivery-reports: $(VENV)/.dev $(VENV)/.project
	$(BIN)/python bench/delivery_reports.py

.PHONY: bench-soak

$(VENV)/.bench: requirements-bench.txt requirements.txt requirements-aws.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-bench.txt
	touch $@ $(VENV)/.dev $(VENV)/.runtime

## bench-soak: 10 minutes of mixed load on PostgreSQL, every guarantee checked, bench/soak.png (bench/README.md, Soak)
bench-soak: $(VENV)/.bench $(VENV)/.project
	$(BIN)/python bench/soak.py

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache .hypothesis roko_app.egg-info
