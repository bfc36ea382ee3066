# The two commands a newcomer needs: `make serve` and `make test`. Both do their own set-up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# One stamp per kind of install, named by pyproject.toml's checksum: each is redone only when
# pyproject.toml changes. `make serve` installs what the server needs; the rest add the test
# extras (pytest, ruff, mypy, the clients the tests drive) on top.
SUM := $(shell cksum < pyproject.toml | cut -d' ' -f1)
RUN_STAMP := $(VENV)/.installed-run-$(SUM)
TEST_STAMP := $(VENV)/.installed-test-$(SUM)
PIP := $(BIN)/pip --disable-pip-version-check -q

.PHONY: serve test lint typecheck bench bench-peers install install-test clean vendor-graphiql

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(PIP) install -e .
	rm -f $(VENV)/.installed-run-*; touch $@

$(TEST_STAMP): $(RUN_STAMP)
	$(PIP) install -e '.[test]'
	rm -f $(VENV)/.installed-test-*; touch $@

install: $(RUN_STAMP)

install-test: $(TEST_STAMP)

# The port: REACTOR_SERVER__PORT=9000 make serve, or [server] port in Reactor.toml.
serve: install
	$(BIN)/reactor-chat serve

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install-test
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

bench: install-test
	$(BIN)/python -m bench

# The peers `make bench-peers` measures us against, each installed into its own ignored folder
# under bench/peers/; one that cannot be installed is skipped (and said so) by the bench.
PEER_INSTALLS := bench/peers/postgraphile/node_modules

# PostGraphile v4, from the committed lockfile.
bench/peers/postgraphile/node_modules: bench/peers/postgraphile/package-lock.json
	if command -v npm >/dev/null; then cd bench/peers/postgraphile && npm ci --no-audit --no-fund && touch node_modules; else echo "npm not found: PostGraphile is left out"; fi

# The same load generator for us and the peers: wrk, else bench/peers/load.py's own.
bench-peers: install-test $(PEER_INSTALLS)
	command -v wrk >/dev/null || apt-get install -y -q wrk || echo "wrk could not be installed: the Python load generator measures both sides"
	$(BIN)/python -m bench.peers

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# GraphiQL's assets, again from npm at the versions in scripts/graphiql/package-lock.json.
vendor-graphiql:
	scripts/vendor_graphiql.sh
