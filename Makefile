# One command per task. `make run` and `make test` set everything up themselves.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup run test lint format typecheck pytest browser bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

## The empty catalogue that a first load copies, built now rather than in the first ingest;
## the app byte-compiled, as an installed package is (where PYTHONDONTWRITEBYTECODE is set,
## each command would compile its modules again: 8 ms of an unchanged re-ingest of 10k files)
setup: $(STAMP)
	@$(BIN)/python -m compileall -q app
	@$(BIN)/python -m app.ingest.template

## Build the demo catalogue on SQLite (data/) and serve it on http://127.0.0.1:8000
run: setup
	$(BIN)/newscat demo

## Lint, type-check, then every test on SQLite and PostgreSQL
test: setup browser lint typecheck pytest

lint: setup
	$(BIN)/ruff check app tests migrations bench
	$(BIN)/ruff format --check app tests migrations bench

format: setup
	$(BIN)/ruff format app tests migrations bench
	$(BIN)/ruff check --fix app tests migrations bench

typecheck: setup
	$(BIN)/mypy

pytest: setup
	NEWSCAT_REQUIRE_POSTGRES=1 $(BIN)/pytest -n 2 --dist loadgroup

## Headless Chromium for the /docs browser test (Debian's package; skipped where it cannot install)
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "chromium could not be installed: the browser test will be skipped"; \
	  else echo "chromium is not installed: the browser test will be skipped"; fi; }

## Side-by-side benchmarks (ingest vs parse floor, API vs Datasette); writes docs/benchmarks.md
bench: setup
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
