# ZOSI Smart skill backend. `make demo` and `make test` work on a fresh clone: the first run
# creates .venv from the pinned requirements.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

export AWS_EC2_METADATA_DISABLED := true

.PHONY: help deps test test-fast demo local lint typecheck bench template-check clean

help:
	@echo "make demo            the whole story on the embedded local stack (no AWS account)"
	@echo "make test            the test suite"
	@echo "make lint            ruff + mypy"
	@echo "make bench           the performance benchmark with its budgets"
	@echo "make template-check  cfn-lint, sam validate --lint and sam build, offline"
	@echo "make local           run the local stack until interrupted"

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

deps: $(STAMP)

test: deps
	$(BIN)/python -m pytest

demo: deps
	$(BIN)/zosi-skill demo

local: deps
	$(BIN)/zosi-skill local up

lint: deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: deps
	$(BIN)/python -m bench

template-check: deps
	bash .ci/template-check

clean:
	rm -rf $(VENV) .venv-sam .aws-sam .pytest_cache .mypy_cache .ruff_cache .hypothesis bench/results
