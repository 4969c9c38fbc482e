# serverless-im -- the entry point for people and CI. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA_DIR ?= .data
PORT ?= 8000
export PYTHONDONTWRITEBYTECODE := 1

.DEFAULT_GOAL := help
.PHONY: help dev token client browser revoke e2e test test-unit test-integration test-e2e test-faults lint typecheck openapi services clean

help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

# The virtualenv is rebuilt when a requirements file changes. Its output goes to
# stderr so that `make -s token` prints nothing but the token.
$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	  || { echo "Python 3.11+ is required (found $$($(PYTHON) --version))" >&2; exit 1; }
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV) >&2
	@$(BIN)/pip install -q --disable-pip-version-check -r requirements-dev.txt >&2
	@touch $@

services: $(STAMP) ## build/install FerretDB and redis-server when missing (cached)
	@$(BIN)/python -m infra.services ensure >&2

dev: services ## run the whole service locally on PORT (default 8000); Ctrl-C stops all
	@$(BIN)/python -m infra.dev --data-dir "$(DATA_DIR)" --port "$(PORT)"

# USER is also the login name in the environment; only USER=<id> on the command line counts.
token: $(STAMP) ## print only a JWT for USER=<id> on the local stack: make -s token USER=1
	@$(if $(filter command line,$(origin USER)),,$(error give the user id: make -s token USER=<id>))
	@$(BIN)/python -m infra.dev.token --user "$(USER)" --data-dir "$(DATA_DIR)" $(if $(TTL),--ttl "$(TTL)")

# USER=<id> for the local stack (`make dev` running with the same DATA_DIR); or a
# deployment: WS_URL=... REST_URL=... TOKEN=... (passed as IM_TOKEN, out of `ps`).
client: $(STAMP) ## chat in the terminal: make client USER=<id> [TO=<peer id> | GROUP=<group id>]
	@$(if $(or $(WS_URL),$(filter command line,$(origin USER))),,$(error give the user id: make client USER=<id>))
	@IM_TOKEN="$(TOKEN)" $(BIN)/python -m clients.terminal \
	  $(if $(WS_URL),--ws-url "$(WS_URL)" --rest-url "$(REST_URL)",--user "$(USER)" --data-dir "$(DATA_DIR)") \
	  $(if $(TO),--to "$(TO)") $(if $(GROUP),--group "$(GROUP)")

# The browser-page tests drive Debian's chromium (no browser downloads here).
browser: ## install Debian's chromium for the browser tests (when root and missing)
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >&2; \
	  else echo "chromium is missing (apt-get install chromium); the browser tests will skip" >&2; fi; }

revoke: $(STAMP) ## end every session of USER=<id> on the local stack (docs/deploy.md for a deployment)
	@$(if $(filter command line,$(origin USER)),,$(error give the user id: make revoke USER=<id>))
	@$(BIN)/python -m infra.deploy.revoke --user "$(USER)" --data-dir "$(DATA_DIR)"

e2e: $(STAMP) ## the end-to-end suite against a deployment: WS_URL=... REST_URL=... TOKEN_CMD=...
	@$(if $(and $(WS_URL),$(REST_URL),$(TOKEN_CMD)),,$(error give WS_URL, REST_URL and TOKEN_CMD))
	IM_E2E_WS_URL="$(WS_URL)" IM_E2E_REST_URL="$(REST_URL)" IM_E2E_TOKEN_CMD="$(TOKEN_CMD)" \
	  $(BIN)/pytest tests/e2e -q

lint: $(STAMP) ## ruff lint + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP) ## mypy (strict)
	$(BIN)/mypy

openapi: $(STAMP) ## regenerate docs/openapi.yaml (OpenAPI 3.1) from the REST route table and models
	$(BIN)/python -m infra.openapi

test-unit: $(STAMP) ## unit tests (no I/O)
	$(BIN)/pytest tests/unit -q

test-integration: services ## integration tests against real FerretDB/MongoDB and Redis
	$(BIN)/pytest tests/integration -q

test-e2e: services browser ## end-to-end tests through the local API Gateway
	$(BIN)/pytest tests/e2e -q

test-faults: services ## the fault tier: kills, pauses, restarts its own servers during traffic
	$(BIN)/pytest tests/faults -q

test: services browser lint typecheck ## everything CI runs: lint, types, all test tiers
	$(BIN)/pytest -q

# --- deployment (docs/deploy.md) ---
LOCALSTACK_COMPOSE := docker compose -f infra/localstack/compose.yaml
.PHONY: package deploy migrate deploy-localstack e2e-localstack localstack-down

package: $(STAMP) ## chalice package every stage (or STAGE=prod) to build/package, then cfn-lint
	$(BIN)/python -m infra.deploy.package $(if $(STAGE),--stage $(STAGE))

deploy: $(STAMP) ## chalice deploy STAGE=<stage>, then the two-way default route and the settings it needs
	@$(if $(STAGE),,$(error give the stage: make deploy STAGE=prod))
	$(BIN)/python -m infra.deploy.deploy --stage "$(STAGE)"

migrate: $(STAMP) ## v1 database -> v1.1 conversations, in place: MONGODB_URI=... [MONGODB_DATABASE=im] [DRY_RUN=1]
	@$(if $(MONGODB_URI),,$(error give MONGODB_URI (and MONGODB_DATABASE when it is not im)))
	$(BIN)/python -m infra.deploy.migrate $(if $(DRY_RUN),--dry-run)

deploy-localstack: $(STAMP) ## deploy the localstack stage into LocalStack (needs Docker + LOCALSTACK_AUTH_TOKEN)
	$(LOCALSTACK_COMPOSE) up -d --wait
	$(BIN)/python -m infra.localstack deploy

e2e-localstack: $(STAMP) ## the end-to-end suite against the LocalStack deployment
	$(BIN)/python -m infra.localstack e2e

localstack-down: ## stop LocalStack, MongoDB and Redis
	$(LOCALSTACK_COMPOSE) down

clean: ## remove the virtualenv and local data (the FerretDB build cache stays)
	rm -rf $(VENV) $(DATA_DIR) build .pytest_cache .mypy_cache .ruff_cache
