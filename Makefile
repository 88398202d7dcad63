# Tollway: `make run` serves on the embedded default; `make test` runs every check.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench install services clean

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	@touch $@

install: $(STAMP)

## Create .venv, install, migrate and serve on SQLite with a generated admin token.
run: $(STAMP)
	@mkdir -p .tollway
	@test -s .tollway/admin-token || $(BIN)/python -c \
		"import secrets; print('twadm_' + secrets.token_urlsafe(32))" > .tollway/admin-token
	$(BIN)/tollway migrate
	@token="$${TOLLWAY_ADMIN_TOKEN:-$$(cat .tollway/admin-token)}"; \
	echo "Admin token (SUPER_ADMIN): $$token"; \
	echo "Try: curl -s -X POST http://127.0.0.1:$${TOLLWAY_PORT:-8000}/graphql \\"; \
	echo "       -H 'Authorization: Bearer $$token' -H 'Content-Type: application/json' \\"; \
	echo "       -d '{\"query\":\"{ health { status } }\"}'"; \
	TOLLWAY_ADMIN_TOKEN="$$token" exec $(BIN)/tollway serve

## PostgreSQL and Redis for the tests (apt-get when missing), then lint and the whole suite,
## on TEST_WORKERS pytest-xdist workers (each starts its own throwaway servers).
TEST_WORKERS ?= 2
test: $(STAMP) services lint
	$(BIN)/pytest -n $(TEST_WORKERS)

services:
	@bash scripts/ensure-services.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	$(BIN)/tollway makemigrations --check

bench: $(STAMP) services
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .tollway tollway.db* .pytest_cache .mypy_cache .ruff_cache
