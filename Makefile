# apitest developer tasks. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONFIG ?= configs/apitest.dev.yaml
ADDRESS ?= 127.0.0.1:8080
PYTEST_ARGS ?=
ENV_FILE ?= .env.dev
# DEV_DOCKER=0: make dev never uses Docker (local Postgres + in-process mock IdP) even when an engine answers
DEV_DOCKER ?= auto
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
export COMPOSE_PROJECT_NAME := apitest

.DEFAULT_GOAL := help
.PHONY: help install install-dev dev-secrets dev-anon run serve check test integration browser reliability security gateways \
        gateways-docs bench profile lint typecheck verify fmt clean dev dev-up dev-down dev-logs doctor config-docs image

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
	@if [ ! -f $(ENV_FILE) ]; then \
		umask 077; \
		{ echo "export APITEST_COOKIE_SECRET=$$($(PYTHON) -c 'import secrets;print(secrets.token_urlsafe(48))')"; \
		  echo "export APITEST_DEV_KEY=apitest_$$($(PYTHON) -c 'import secrets;print(secrets.token_urlsafe(24))')"; \
		  echo "export APITEST_DEV_BEARER=apitest_bearer_$$($(PYTHON) -c 'import secrets;print(secrets.token_urlsafe(24))')"; \
		} > $(ENV_FILE); \
		echo "wrote $(ENV_FILE) (mode 600)"; \
	else echo "$(ENV_FILE) exists; keeping it"; fi

dev: install-dev dev-secrets ## Live-like stack: Postgres, OIDC sign-in, audit (Docker: compose + Keycloak; else local Postgres + mock IdP)
	@if [ "$(DEV_DOCKER)" != 0 ] && docker info >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory dev-up && \
		APITEST_DB_URL=postgresql+asyncpg://api:api@127.0.0.1:5432/apitest \
		APITEST_OIDC_ISSUER=http://localhost:8081/realms/api-test \
		exec $(BIN)/python -m apitest.devstack --env-file $(ENV_FILE) --address $(ADDRESS) --wait 180; \
	else \
		echo "dev: no Docker engine; using PostgreSQL on 127.0.0.1:5432 (or APITEST_DB_URL) and oidc-provider-mock"; \
		exec $(BIN)/python -m apitest.devstack --env-file $(ENV_FILE) --address $(ADDRESS) --wait 10; \
	fi

dev-up: dev-secrets ## Start the compose postgres and keycloak (docker-compose.yml)
	$(COMPOSE) up -d postgres keycloak

dev-down: ## Stop the compose stack (keeps the database volume)
	$(COMPOSE) down

dev-logs: ## Follow the compose stack's logs
	$(COMPOSE) logs -f

doctor: install ## Diagnose CONFIG and its surroundings (DOCTOR_ARGS="--url http://127.0.0.1:8080")
	@if [ -f $(ENV_FILE) ]; then source $(ENV_FILE); fi; $(BIN)/apitest doctor --config $(CONFIG) $(DOCTOR_ARGS)

config-docs: install ## Regenerate docs/configuration.md from the settings model
	$(BIN)/apitest config-docs

image: ## Build the container image apitest:dev (needs a Docker engine)
	docker build -t apitest:dev .

dev-anon: install dev-secrets ## Run with the embedded defaults: anonymous access, SQLite audit, open portal
	@source .env.dev && echo "apitest on http://$(ADDRESS)  (portal: http://$(ADDRESS)/portal/, dev key: $$APITEST_DEV_KEY)" && \
		APITEST_ADDRESS=$(ADDRESS) exec $(BIN)/apitest serve --config configs/apitest.dev.yaml

run: install ## Run with CONFIG (default: the dev profile)
	APITEST_ADDRESS=$(ADDRESS) $(BIN)/apitest serve --config $(CONFIG)

check: install ## Validate CONFIG and print the effective settings
	$(BIN)/apitest check --config $(CONFIG)

test: install-dev ## Run the unit and loopback test suite
	$(BIN)/pytest -m "not integration and not browser and not reliability and not gateways and not security" $(PYTEST_ARGS)

integration: install-dev ## Run the PostgreSQL suite (APITEST_TEST_DATABASE_URL, testcontainers, or localhost:5432)
	$(BIN)/pytest -m "integration and not gateways and not security" $(PYTEST_ARGS)

browser: install-dev ## Run the Playwright browser suite against the system Chromium
	$(BIN)/pytest -m "browser and not gateways and not security" $(PYTEST_ARGS)

.PHONY: screenshots
screenshots: install-dev ## Re-take the portal screenshots in docs/images/ (the portal's browser tests, light and dark)
	APITEST_SCREENSHOTS=docs/images $(BIN)/pytest -m "browser and not gateways and not security" tests/portal $(PYTEST_ARGS)

reliability: install-dev ## Run the fault-injection suite
	$(BIN)/pytest -m "reliability and not gateways and not security" $(PYTEST_ARGS)

gateways: install-dev ## Real nginx, HAProxy and Caddy on loopback: testing-a-gateway recipes, TLS upstreams, webhooks
	$(BIN)/pytest -m gateways tests/gateways $(PYTEST_ARGS)

gateways-docs: install-dev ## Re-run the gateway suite and rewrite the result tables of docs/testing-a-gateway.md
	APITEST_GATEWAY_DOCS=write $(BIN)/pytest -m gateways tests/gateways $(PYTEST_ARGS)

security: install-dev ## Run the hostile-traffic suite against real servers (its browser checks use the system Chromium)
	$(BIN)/pytest -m security $(PYTEST_ARGS)

BENCH_ARGS ?=
BENCH_VENV := bench/.venv

# httpbin lives in its own virtualenv: its greenlet pin conflicts with Playwright's (see the requirements file).
$(BENCH_VENV)/.installed: bench/requirements-httpbin.txt
	@test -x $(BENCH_VENV)/bin/python || $(BIN)/python -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet -r bench/requirements-httpbin.txt
	@touch $@

bench: install-dev $(BENCH_VENV)/.installed ## Loopback performance scenarios (<10 min): table, bench/results/, docs/performance.md
	@command -v wrk >/dev/null || { [ "$${CI:-}" = true ] && [ "$$(id -u)" = 0 ] && apt-get install -y -q wrk >/dev/null 2>&1; } \
		|| echo "bench: wrk not installed; using the Python load generator"
	$(BIN)/python -m bench.run $(BENCH_ARGS)

profile: install-dev ## CPU per /v1 request by feature, then a pyinstrument profile under load (PROFILE_ARGS="--path /v1/echo")
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench.hotpath
	$(BIN)/python -m bench.profile $(PROFILE_ARGS)

lint: install-dev ## ruff, and the import-linter contracts of pyproject.toml (layers, no import circle)
	$(BIN)/ruff check apitest tests bench migrations
	$(BIN)/ruff format --check apitest tests bench migrations
	$(BIN)/lint-imports

fmt: install-dev ## Format the code
	$(BIN)/ruff format apitest tests bench migrations
	$(BIN)/ruff check --fix apitest tests bench migrations

typecheck: install-dev ## mypy --strict on apitest/
	$(BIN)/mypy

verify: lint typecheck ## Lint, types, docs freshness and every suite (integration, browser too) with 93% coverage (the measured floor: 93.59% after #12, #14, #16; raise it as tests grow)
	$(BIN)/apitest config-docs --check
	$(BIN)/pytest -m "not gateways" --cov=apitest --cov-report=term --cov-fail-under=93 $(PYTEST_ARGS)

clean: ## Remove caches and local data (keeps .venv and .env.dev)
	rm -rf .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov data
