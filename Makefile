# Two commands on a fresh machine (Python 3.11 + make):
#   make demo   set up, start the demo API, load a few days into DuckDB, print a summary
#   make test   set up, then lint and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DAGSTER_HOME ?= $(CURDIR)/.dagster_home
DEMO_API_PORT ?= 8765
UI_PORT ?= 3000
export DAGSTER_HOME

.PHONY: install demo test lint format ui api reliability bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/etl-demo-run $(ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Two pytest workers (pytest-xdist), each taking whole test files: most tests wait on Dagster
# processes and servers, so two share the 2 cores well (5.4 -> 4.3 min). TEST_WORKERS=0: one process.
TEST_WORKERS ?= 2
test: lint
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# The heavy fault-injection scenarios (~5 min) and their table (see README, Reliability).
reliability: install
	$(BIN)/python -m etl_assets_tests.reliability.report $(ARGS)

# Side-by-side benchmark, whole processes (floor / in-process job / dagster CLI / dlt / tutorial),
# median of 3 rounds; installs the bench extra (dlt) once. ARGS="--orders 1000000".
bench: install
	@$(BIN)/python -c "import dlt" 2>/dev/null || $(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m etl_assets_tests.bench $(ARGS)

api: install
	$(BIN)/etl-demo-api --port $(DEMO_API_PORT)

# The UI with the demo API beside it; Ctrl-C stops both.
ui: install
	@$(BIN)/etl-dagster-home >/dev/null
	@$(BIN)/etl-demo-api --port $(DEMO_API_PORT) & api=$$!; \
	trap 'kill $$api 2>/dev/null' EXIT INT TERM; \
	SALES_API_URL=http://127.0.0.1:$(DEMO_API_PORT) $(BIN)/dagster dev -h 127.0.0.1 -p $(UI_PORT)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
