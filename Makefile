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

## run: set up, initialise the demo database on the embedded SQLite default, and show it
run: $(VENV)/.runtime
	$(BIN)/customer-flow init --demo
	$(BIN)/customer-flow customers list
	$(BIN)/customer-flow ticket-types list

## test: set up the dev tools and run the whole suite (SQLite and PostgreSQL)
test: $(VENV)/.dev
	$(BIN)/pytest -n 2 --dist loadfile $(PYTEST_ARGS)

## lint: ruff check, ruff format --check and mypy on src/
lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy src

format: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## bench: the speed and quality figures; writes benchmarks/RESULTS.md
bench: $(VENV)/.dev
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
