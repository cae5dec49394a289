# Two commands from a fresh clone: `make run` serves on 127.0.0.1:$(PORT); `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 9000
WORKERS ?= 2
PYTEST_ARGS ?=
# PostgreSQL as this machine runs it (trust auth); `make test-postgres` runs the suite there.
TEST_POSTGRES_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: run test test-postgres lint node-deps browser-deps clean

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
	$(BIN)/pytest $(PYTEST_ARGS)

test-postgres: $(VENV)/.dev node-deps browser-deps
	TEST_DATABASE_URL=$(TEST_POSTGRES_URL) $(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) tests/interop/node_modules .pytest_cache .mypy_cache .ruff_cache
