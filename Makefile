# Two commands from a fresh clone: `make run` serves on 127.0.0.1:$(PORT); `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 9000
WORKERS ?= 2
PYTEST_ARGS ?=
# The suite runs in parallel (pytest-xdist), a test file to a worker, so a module's live server starts once.
# Its slow tests mostly wait on the processes they start (gunicorn, node, Chromium): 3 workers suit 2 cores.
TEST_WORKERS ?= 3
PYTEST := $(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile
# PostgreSQL as this machine runs it (trust auth); `make test-postgres` runs the suite there.
TEST_POSTGRES_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: run test test-postgres lint node-deps browser-deps bench bench-tools bench-verifier bench-throttle clean \
	soak bench-scale store-tools audit

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

# Development settings (APP_ENV=development: keys and cookie secret generated into instance/).
.env:
	cp .env.example .env
	@echo "wrote .env from .env.example (development settings)"

run: $(VENV)/.runtime .env
	$(BIN)/flask --app wsgi db upgrade
	HOST=$(HOST) PORT=$(PORT) WEB_CONCURRENCY=$(WORKERS) $(BIN)/gunicorn wsgi:app

# The guide's Node.js verification code (jsonwebtoken + jwks-rsa), used by the interop tests.
node-deps: tests/interop/node_modules/.package-lock.json

tests/interop/node_modules/.package-lock.json: tests/interop/package.json tests/interop/package-lock.json
	npm ci --prefix tests/interop --no-audit --no-fund --loglevel=error

# Debian's chromium for the browser tests (Playwright drives it; no browser is ever downloaded).
browser-deps:
	@test -x /usr/bin/chromium || { apt-get update -qq && apt-get install -y -qq chromium; }

test: $(VENV)/.dev node-deps browser-deps
	$(PYTEST) $(PYTEST_ARGS)

# Only the tests that use the database (each worker on its own database beside TEST_POSTGRES_URL's: test_gw0,
# ...); the rest (keys, tokens, the browser on its own SQLite file) ran in `make test`.
test-postgres: $(VENV)/.dev node-deps browser-deps
	TEST_DATABASE_URL=$(TEST_POSTGRES_URL) $(PYTEST) --database-tests-only $(PYTEST_ARGS)

# JWTVerifier's cost: the example service's protected route against the same route unprotected (wrk).
bench-verifier: $(VENV)/.dev
	command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
	$(BIN)/python -m benchmarks.verifier $(BENCH_ARGS)

# The speed table (benchmarks/run.py, under three minutes; benchmarks/README.md): the service beside bare
# Flask, the guide's Node.js middleware and flask-jwt-extended. Installs wrk from Debian and node when
# missing, the flask-jwt-extended peer from PyPI, the guide's Node.js middleware from npm.
# BENCH_WORKER_CLASS=sync measures the previous worker model.
bench: $(VENV)/.bench bench-tools benchmarks/node/node_modules/.package-lock.json
	$(BIN)/python -m benchmarks.run

$(VENV)/.bench: requirements.txt benchmarks/requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r benchmarks/requirements.txt
	touch $@

bench-tools:
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
	@command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq nodejs npm; }

benchmarks/node/node_modules/.package-lock.json: benchmarks/node/package.json benchmarks/node/package-lock.json | bench-tools
	npm ci --prefix benchmarks/node --no-audit --no-fund --loglevel=error

# What login throttling costs per attempt on each store, next to one argon2id check (a measurement).
bench-throttle: $(VENV)/.dev
	BENCH_POSTGRES_URL=$(BENCH_POSTGRES_URL) $(BIN)/python -m benchmarks.throttle

# PostgreSQL and Redis binaries for the runs below, which start their own private servers (never the machine's).
store-tools:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq postgresql; }
	@command -v redis-server >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server; }

# Faults under load (benchmarks/soak.py, about 4 minutes, not part of `make test`): two gunicorn instances on a
# private PostgreSQL, Redis and SMTP server; workers SIGKILLed, PostgreSQL and Redis restarted, SMTP stopped.
# SOAK_SECONDS (default 180) and SOAK_CLIENTS (default 6) change its length and load.
soak: $(VENV)/.dev store-tools
	$(BIN)/python -m benchmarks.soak

# A million users (benchmarks/scale.py, several minutes): each request's rate on that database over the same
# request on an empty one, on a private PostgreSQL cluster. SCALE_USERS, BENCH_ROUNDS, BENCH_SLICE change it.
bench-scale: $(VENV)/.dev store-tools
	$(BIN)/python -m benchmarks.scale

# Known vulnerabilities in requirements.txt (pip-audit in a virtualenv of its own, so its dependencies stay out
# of the service's); fails on a known vulnerability and, --strict, on any package it could not check.
AUDIT_VENV := .venv-audit
audit:
	@test -x $(AUDIT_VENV)/bin/pip-audit || { $(PYTHON) -m venv $(AUDIT_VENV) && $(AUDIT_VENV)/bin/pip install --quiet pip-audit==2.10.1; }
	$(AUDIT_VENV)/bin/pip-audit --strict --requirement requirements.txt

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) tests/interop/node_modules benchmarks/node/node_modules .pytest_cache .mypy_cache .ruff_cache
