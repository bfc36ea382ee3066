# The two commands a newcomer needs: `make serve` and `make test`. Both do their own set-up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
PIP := $(BIN)/pip --disable-pip-version-check -q

.PHONY: serve test lint typecheck bench install clean vendor-graphiql

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[test]'
	rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP)

serve: install
	$(BIN)/reactor-chat serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

# The npm clients (graphql-ws, @apollo/client, graphql-sse) the chat tests drive; skipped
# without node.
tests/clients/node_modules: tests/clients/package-lock.json
	if command -v npm >/dev/null; then cd tests/clients && npm ci --no-audit --no-fund && touch node_modules; fi

# Playwright for Node, driving the system's Chromium in the chat page's and GraphiQL's browser
# tests.
tests/browser/node_modules: tests/browser/package-lock.json
	if command -v npm >/dev/null; then cd tests/browser && npm ci --no-audit --no-fund && touch node_modules; fi

test: lint typecheck tests/clients/node_modules tests/browser/node_modules
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# GraphiQL's assets, again from npm at the versions in scripts/graphiql/package-lock.json.
vendor-graphiql:
	scripts/vendor_graphiql.sh
