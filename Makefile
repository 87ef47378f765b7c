# One way to run everything. Each target creates .venv and installs what it needs first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run serve test lint format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Stamps re-install when pyproject.toml changes.
$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@ $(VENV)/.runtime

DEMO_ADMIN    ?= admin@example.com
DEMO_PASSWORD ?= customer-flow-demo
PORT          ?= 8000

## run: set up, initialise the demo database (embedded SQLite default) if needed, and serve it
## with one background worker (mail fetch and send; its queue is SQLite in the data folder)
run: $(VENV)/.runtime
	CUSTOMER_FLOW_ADMIN_PASSWORD='$(DEMO_PASSWORD)' $(BIN)/customer-flow init --demo --admin-email '$(DEMO_ADMIN)'
	@echo ""
	@echo "  Customer_Flow: http://127.0.0.1:$(PORT)/   (API reference: /api/docs)"
	@echo "  Log in as $(DEMO_ADMIN) with password $(DEMO_PASSWORD)"
	@echo "  (on a database that already had users, use theirs; reset one with"
	@echo "   .venv/bin/customer-flow users set-password EMAIL). Stop with Ctrl-C."
	@echo ""
	$(BIN)/customer-flow worker & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker' EXIT INT TERM; \
	$(BIN)/customer-flow serve --port $(PORT)

## test: set up the dev tools and run the whole suite (SQLite and PostgreSQL)
test: $(VENV)/.dev
	$(BIN)/pytest -n 2 --dist loadfile $(PYTEST_ARGS)

## lint: ruff check, ruff format --check, mypy on src/, and the import contracts (import-linter)
lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy src
	$(BIN)/lint-imports

format: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## bench: the speed and quality figures; writes benchmarks/RESULTS.md
bench: $(VENV)/.dev
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
