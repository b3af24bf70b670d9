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

.PHONY: install install-scale demo test test-scale lint format ui api reliability bench \
	bench-scale clean

# The scale-out install (docs/scale-out.md): the 'scale' extra in a venv of its own, since it
# pins DuckDB 1.5.5 (the DuckLake extension wheels) while the one-machine install keeps 2.x.
SCALE_VENV ?= .venv-scale
SCALE_BIN := $(SCALE_VENV)/bin
SCALE_STAMP := $(SCALE_VENV)/.installed
SCALE_CONSTRAINTS := $(if $(wildcard constraints-scale.txt),-c constraints-scale.txt)
# Run in the scale install: the scale-out tests (real PostgreSQL, Redis) and the cheap ones that
# touch the code it changes.
SCALE_TESTS ?= etl_assets_tests/scale etl_assets_tests/test_scale_settings.py \
	etl_assets_tests/test_definitions.py

# pip -qq: the build backend's notices (setuptools reports how it made the editable install, as
# a warning) and pip's own notes stay out of the output; errors are still shown.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -qq --upgrade pip
	$(BIN)/python -m pip install -qq -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

$(SCALE_STAMP): pyproject.toml
	$(PYTHON) -m venv $(SCALE_VENV)
	$(SCALE_BIN)/python -m pip install -qq --upgrade pip
	$(SCALE_BIN)/python -m pip install -qq -e '.[dev,scale]' $(SCALE_CONSTRAINTS)
	touch $(SCALE_STAMP)

install-scale: $(SCALE_STAMP)

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
# The scale-out tests run in the scale install at the same time (they mostly wait on their
# daemon and workers: together 2 cores finish both in about the time of the longer one); their
# output follows the main suite's.
SCALE_TEST_LOG := $(SCALE_VENV)/test.log
test: lint install-scale
	@$(SCALE_BIN)/pytest -n $(TEST_WORKERS) --dist loadfile $(SCALE_TESTS) $(PYTEST_ARGS) \
		> $(SCALE_TEST_LOG) 2>&1 & scale=$$!; \
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS); main=$$?; \
	wait $$scale; scale_status=$$?; \
	echo "--- scale-out tests ($(SCALE_VENV): '.[dev,scale]', DuckDB 1.5.5) ---"; \
	cat $(SCALE_TEST_LOG); \
	test $$main -eq 0 && test $$scale_status -eq 0

# Only the scale-out tests, in the scale install.
test-scale: install-scale
	$(SCALE_BIN)/pytest -n $(TEST_WORKERS) --dist loadfile $(SCALE_TESTS) $(PYTEST_ARGS)

# The heavy fault-injection scenarios (~5 min) and their table (see README, Reliability), then
# the scale-out faults (~5 min; real PostgreSQL, Redis, RabbitMQ) in the scale install.
reliability: install install-scale
	$(BIN)/python -m etl_assets_tests.reliability.report $(ARGS)
	ETL_RELIABILITY=1 $(SCALE_BIN)/pytest -s -p no:cacheprovider \
		etl_assets_tests/reliability/test_scale_faults.py $(PYTEST_ARGS)

# Side-by-side benchmark, whole processes (floor / in-process job / dagster CLI / dlt / tutorial),
# median of 3 rounds; installs the bench extra (dlt) once. ARGS="--orders 1000000".
bench: install
	@$(BIN)/python -c "import dlt" 2>/dev/null || $(BIN)/python -m pip install -qq -e '.[dev,bench]'
	$(BIN)/python -m etl_assets_tests.bench $(ARGS)

# The scale-out row: an 8-day backfill through Celery on one worker vs two (real PostgreSQL and
# Redis, ~5 min); ARGS="--days 8 --orders 2000".
bench-scale: install-scale
	$(SCALE_BIN)/python -m etl_assets_tests.bench.scale_out $(ARGS)

api: install
	$(BIN)/etl-demo-api --port $(DEMO_API_PORT)

# The UI with the demo API beside it; Ctrl-C stops both.
ui: install
	@$(BIN)/etl-dagster-home >/dev/null
	@$(BIN)/etl-demo-api --port $(DEMO_API_PORT) & api=$$!; \
	trap 'kill $$api 2>/dev/null' EXIT INT TERM; \
	SALES_API_URL=http://127.0.0.1:$(DEMO_API_PORT) $(BIN)/dagster dev -h 127.0.0.1 -p $(UI_PORT)

clean:
	rm -rf $(VENV) $(SCALE_VENV) .pytest_cache .ruff_cache *.egg-info
