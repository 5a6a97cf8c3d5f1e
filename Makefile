# neutrino developer / CI entry points.
SHELL := /bin/bash
.DEFAULT_GOAL := test

VENV        := .venv
PG_URL      := postgresql+psycopg://neutrino:neutrino@127.0.0.1:5432/neutrino_test
PYTEST_ARGS ?=
# If set, the pytest exit code is written to this file (used by .ci/run).
PYTEST_RC_FILE ?=

.PHONY: bootstrap up test lint services services-stop

bootstrap:
	bash scripts/bootstrap.sh

up: bootstrap
	$(VENV)/bin/neutrino up

services:
	bash scripts/services.sh postgres-start
	bash scripts/services.sh ovs-start

services-stop:
	bash scripts/services.sh ovs-stop
	bash scripts/services.sh postgres-stop

test: bootstrap services
	@export NEUTRINO_TEST_PG_URL='$(PG_URL)'; \
	$(VENV)/bin/pytest $(PYTEST_ARGS); rc=$$?; \
	if [ -n '$(PYTEST_RC_FILE)' ]; then echo $$rc > '$(PYTEST_RC_FILE)'; fi; \
	exit $$rc

lint: bootstrap
	$(VENV)/bin/ruff check neutrino tests bench && $(VENV)/bin/lint-imports
