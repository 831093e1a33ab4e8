# Development tasks. `make setup` builds .venv with every package editable; `make test` runs every test.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Every connector directory (the shared cores are installed with them, as their path dependency).
CONNECTORS := $(filter-out %-core,$(wildcard sources/source-* destinations/destination-*))
CORES      := $(wildcard sources/source-core destinations/destination-core)
# Every installable package: the connectors (with the cores as their path dependencies) and the SQLFlow bridge.
PACKAGES   := $(CONNECTORS) sqlflow_bridge

# The acceptance suite. With Podman, `docker` is Podman itself, so that airbyte-cdk's image tests (plain
# `docker run`, also when ARGS names an image) get the host network that scripts/container-engine.sh makes its default.
PODMAN_AS_DOCKER := $(if $(shell command -v podman),$(CURDIR)/scripts/podman-as-docker:)
ACCEPTANCE := PATH="$(PODMAN_AS_DOCKER)$$PATH" $(BIN)/pytest acceptance-tests

.PHONY: setup demo demo-postgres test lint unit-tests acceptance images acceptance-images bench api-sandbox shopify-sandbox \
	pg-test-setup container-setup clean

setup: $(BIN)/activate
	$(BIN)/pip install --quiet --upgrade pip
	# every package with its dependencies (connectors depend on the cores, and on each other, by path) ...
	$(BIN)/pip install --quiet $(addprefix ./,$(PACKAGES)) -r requirements-dev.txt
	# ... then all of them again as editable installs, so that edits take effect without reinstalling
	$(BIN)/pip install --quiet --no-deps $(addprefix -e ,$(CORES) $(PACKAGES))
	# ... and byte-compiled, as pip compiles an installed package: where PYTHONDONTWRITEBYTECODE is set (as on
	# this machine), every connector command would compile them again (0.1-0.15 s of each start)
	$(BIN)/python -m compileall -q $(CORES) $(PACKAGES)
	$(BIN)/pip check

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

# The embedded demo (no server): sample files -> source-file -> destination-duckdb, then an incremental sync.
demo:
	VENV=$(VENV) bash scripts/demo.sh

# Seed a sample schema in the local PostgreSQL, sync it with source-postgres into DuckDB (first and incremental).
demo-postgres:
	VENV=$(VENV) bash scripts/demo-postgres.sh

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Each package's tests run in a pytest of their own (every tests/ folder is a package named "tests").
TEST_DIRS := $(wildcard sources/*/tests destinations/*/tests sqlflow_bridge/tests)
UNIT_TARGETS := $(addprefix unit/,$(TEST_DIRS))

# Everything: lint, then the images, each package's tests and the acceptance suite on the commands and on the
# images, two at a time (most of a test's time is a connector process starting; the machines have two cores).
# Every step runs (-k); each step's output is printed whole when it ends; the target fails if any step did.
test: lint
	$(MAKE) --no-print-directory -k -j2 --output-sync=target images acceptance $(UNIT_TARGETS) acceptance-images

unit-tests:
	$(MAKE) --no-print-directory -k -j2 --output-sync=target $(UNIT_TARGETS)

unit/%:
	$(BIN)/pytest $*

unit/sqlflow_bridge/tests: images  # its image runner runs the connectors' images
# The suite on the images after the suite on the commands: both use the same fixed ports and schemas.
acceptance-images: images acceptance

# The protocol-conformance suite on every connector's command (ARGS="--connector-cmd source-postgres" for one).
acceptance:
	$(ACCEPTANCE) $(ARGS)

# Every connector's image, from wheels built here (docker, or podman where installed; see scripts/images.sh).
images:
	PIP=$(BIN)/pip bash scripts/images.sh

# The suite on the images.
acceptance-images:
	$(ACCEPTANCE) --images $(ARGS)

bench:
	$(BIN)/python bench/read_postgres.py
	$(BIN)/python bench/write_destinations.py
	$(BIN)/python bench/read_files.py
	$(BIN)/python bench/read_rest_api.py
	$(BIN)/python bench/read_shopify.py
	$(BIN)/python bench/bridge_read.py

# The local JSON API that source-rest-api's tests use, for trying the connector by hand (Ctrl-C stops it).
api-sandbox:
	$(BIN)/python -m source_rest_api.sandbox --port 8765

# The local Shopify GraphQL Admin API that source-shopify's tests use, for trying the connector by hand.
shopify-sandbox:
	$(BIN)/python -m source_shopify.sandbox --port 8766

# Password (scram) and TLS on the local PostgreSQL, for the tests that need them (root, idempotent).
pg-test-setup:
	bash scripts/pg-test-auth.sh

# A Docker-compatible engine for the images: Docker if it answers, else Podman configured (root, idempotent).
container-setup:
	bash scripts/container-engine.sh

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
