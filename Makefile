# The two commands of the quick start: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Exact versions with their hashes (`make lock` writes them from pyproject.toml):
# requirements.lock what running needs, requirements-test.lock that and the test extras.
# Installed again whenever a lock file or pyproject.toml changes.
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed
UV_VERSION ?= 0.13.9

.PHONY: run test stress lint lock docker-test docker-test-clean clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit("kmcbot needs Python 3.11+") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)

# kmcbot itself goes in editable, without dependencies: they all come from the lock.
$(RUN_STAMP): requirements.lock pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(RUN_STAMP)

$(STAMP): requirements-test.lock pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-test.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(RUN_STAMP) $(STAMP)

## lock: pin every dependency (and the test extras) with hashes, from pyproject.toml
lock: | $(BIN)/python
	$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"
	$(BIN)/uv pip compile pyproject.toml --quiet --universal --python-version 3.11 \
	  --generate-hashes --custom-compile-command "make lock" -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --quiet --universal --python-version 3.11 \
	  --extra test --generate-hashes --custom-compile-command "make lock" -o requirements-test.lock

## run: migrate, load the demo centres and the demo staff, serve the bot on :8080 in dev mode
run: $(RUN_STAMP)
	KMCBOT_DEV=1 $(BIN)/kmcbot seed --demo
	KMCBOT_DEV=1 $(BIN)/kmcbot staff demo --url http://127.0.0.1:8080
	KMCBOT_DEV=1 $(BIN)/kmcbot serve --host 127.0.0.1 --port 8080

## test: the whole test suite (PostgreSQL and Redis: KMCBOT_TEST_*_URL, else embedded)
test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

## stress: the long reliability and load tests, which print their figures
stress: $(STAMP)
	$(BIN)/python -m pytest -q -m slow -s

## docker-test: build the image and run it, and docker-compose.yml, with a dockerd of its
## own (root; needs docker.io, docker-compose, debootstrap; see tests/docker/)
docker-test: $(STAMP)
	KMCBOT_DOCKER_TEST=1 $(BIN)/python -m pytest -q -s -p no:cacheprovider tests/docker

# dockerd leaves its exec root's network namespace mounted: unmount what is left first.
docker-test-clean:
	grep -o " $(CURDIR)/.docker-test/[^ ]*" /proc/mounts | sort -r | xargs -r umount
	rm -rf .docker-test

## lint: ruff (rules and format) and mypy, as CI runs them
lint: $(STAMP)
	$(BIN)/ruff check kmcbot tests
	$(BIN)/ruff format --check kmcbot tests
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
