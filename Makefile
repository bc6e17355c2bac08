# The two commands of the quick start: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Installed again whenever pyproject.toml changes.
STAMP := $(VENV)/.installed

.PHONY: run test stress lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("kmcbot needs Python 3.11+") if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

## run: migrate, load the demo centres and the demo staff, serve the bot on :8080 in dev mode
run: $(STAMP)
	KMCBOT_DEV=1 $(BIN)/kmcbot seed --demo
	KMCBOT_DEV=1 $(BIN)/kmcbot staff demo --url http://127.0.0.1:8080
	KMCBOT_DEV=1 $(BIN)/kmcbot serve --host 127.0.0.1 --port 8080

## test: the whole test suite (PostgreSQL and Redis: KMCBOT_TEST_*_URL, else embedded)
test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

## stress: the long reliability and load tests, which print their figures
stress: $(STAMP)
	$(BIN)/python -m pytest -q -m slow -s

## lint: ruff (rules and format) and mypy, as CI runs them
lint: $(STAMP)
	$(BIN)/ruff check kmcbot tests
	$(BIN)/ruff format --check kmcbot tests
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
