# apitest developer tasks. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONFIG ?= configs/apitest.dev.yaml
ADDRESS ?= 127.0.0.1:8080
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install install-dev dev-secrets dev-anon run serve check test integration browser reliability \
        lint typecheck verify fmt clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(BIN)/apitest: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	@touch $@

$(VENV)/.dev-installed: pyproject.toml $(BIN)/apitest
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

install: $(BIN)/apitest ## Create .venv and install apitest

install-dev: $(VENV)/.dev-installed ## Install apitest with the test and lint tools

dev-secrets: ## Write .env.dev once with random APITEST_COOKIE_SECRET, APITEST_DEV_KEY, APITEST_DEV_BEARER
	@if [ ! -f .env.dev ]; then \
		umask 077; \
		{ echo "export APITEST_COOKIE_SECRET=$$($(PYTHON) -c 'import secrets;print(secrets.token_urlsafe(48))')"; \
		  echo "export APITEST_DEV_KEY=apitest_$$($(PYTHON) -c 'import secrets;print(secrets.token_urlsafe(24))')"; \
		  echo "export APITEST_DEV_BEARER=apitest_bearer_$$($(PYTHON) -c 'import secrets;print(secrets.token_urlsafe(24))')"; \
		} > .env.dev; \
		echo "wrote .env.dev (mode 600)"; \
	else echo ".env.dev exists; keeping it"; fi

dev-anon: install dev-secrets ## Run with the embedded defaults: anonymous access, SQLite audit, open portal
	@source .env.dev && echo "apitest on http://$(ADDRESS)  (portal: http://$(ADDRESS)/portal/, dev key: $$APITEST_DEV_KEY)" && \
		APITEST_ADDRESS=$(ADDRESS) exec $(BIN)/apitest serve --config configs/apitest.dev.yaml

run: install ## Run with CONFIG (default: the dev profile)
	APITEST_ADDRESS=$(ADDRESS) $(BIN)/apitest serve --config $(CONFIG)

check: install ## Validate CONFIG and print the effective settings
	$(BIN)/apitest check --config $(CONFIG)

test: install-dev ## Run the unit and loopback test suite
	$(BIN)/pytest -m "not integration and not browser and not reliability" $(PYTEST_ARGS)

integration: install-dev ## Run the PostgreSQL suite (APITEST_TEST_DATABASE_URL, testcontainers, or localhost:5432)
	$(BIN)/pytest -m integration $(PYTEST_ARGS)

browser: install-dev ## Run the Playwright browser suite against the system Chromium
	$(BIN)/pytest -m browser $(PYTEST_ARGS)

reliability: install-dev ## Run the fault-injection suite
	$(BIN)/pytest -m reliability $(PYTEST_ARGS)

lint: install-dev ## ruff
	$(BIN)/ruff check apitest tests bench migrations
	$(BIN)/ruff format --check apitest tests bench migrations

fmt: install-dev ## Format the code
	$(BIN)/ruff format apitest tests bench migrations
	$(BIN)/ruff check --fix apitest tests bench migrations

typecheck: install-dev ## mypy --strict on apitest/
	$(BIN)/mypy

verify: lint typecheck ## Lint, types and every test suite with coverage
	$(BIN)/pytest --cov=apitest --cov-report=term $(PYTEST_ARGS)

clean: ## Remove caches and local data (keeps .venv and .env.dev)
	rm -rf .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov data
