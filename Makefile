# kaohe — `make run` starts everything, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_WORKERS ?= 2
export KAOHE_DATA_DIR ?= $(CURDIR)/var

.PHONY: install run test test-sqlite test-postgres lint format bench messages clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/kaohe migrate --noinput
	$(BIN)/kaohe demo
	$(BIN)/kaohe run

test: install lint test-sqlite test-postgres

test-sqlite: install
	KAOHE_ENV=test KAOHE_DATA_DIR=$(CURDIR)/var/test DATABASE_URL= \
		$(BIN)/pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# Runs only when KAOHE_TEST_DATABASE_URL names a PostgreSQL server (.ci/run sets it).
test-postgres: install
	@if [ -n "$$KAOHE_TEST_DATABASE_URL" ]; then \
		echo "== PostgreSQL: $$KAOHE_TEST_DATABASE_URL"; \
		KAOHE_ENV=test KAOHE_DATA_DIR=$(CURDIR)/var/test DATABASE_URL="$$KAOHE_TEST_DATABASE_URL" \
			$(BIN)/pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS); \
	else echo "== PostgreSQL pass skipped: KAOHE_TEST_DATABASE_URL is not set"; fi

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	KAOHE_DATA_DIR=$(CURDIR)/var/test DATABASE_URL= $(BIN)/kaohe makemigrations --check --dry-run

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The PostgreSQL benchmarks create (and drop) a scratch database on the server of
# KAOHE_BENCH_PG_URL; by default the one the PostgreSQL tests use.
bench: install
	KAOHE_DATA_DIR=$(CURDIR)/var/bench \
	KAOHE_BENCH_PG_URL="$${KAOHE_BENCH_PG_URL:-$${KAOHE_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/kaohe}}" \
		$(BIN)/python bench/run.py

# Needs GNU gettext (Debian: gettext). The compiled catalogues are committed.
messages: install
	cd kaohe && ../$(BIN)/kaohe makemessages -l zh_Hans --no-obsolete && ../$(BIN)/kaohe compilemessages

clean:
	rm -rf $(VENV) var/test var/bench
