# ZOSI Smart skill backend. `make demo` and `make test` work on a fresh clone: the first run
# creates .venv from the pinned requirements.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

export AWS_EC2_METADATA_DISABLED := true

.PHONY: help deps voice-client ask-cli ask-check test test-fast demo local lint typecheck bench template-check runtime-check clean

help:
	@echo "make demo            the whole story on the embedded local stack (no AWS account)"
	@echo "make test            the test suite"
	@echo "make lint            ruff + mypy"
	@echo "make bench           the performance benchmark with its budgets"
	@echo "make template-check  cfn-lint, sam validate --lint and sam build, offline"
	@echo "make ask-check       the pinned ASK CLI's ask deploy finds and uploads the skill package (offline)"
	@echo "make runtime-check   the built package under the Lambda Runtime Interface Emulator, no Docker"
	@echo "make local           run the local stack until interrupted"
	@echo "make build-host      sam build for this machine's CPU, then run a Discover through the package"

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@# setuptools reports every editable install with an informational "Editable installation."
	@# warning (nothing to fix); pyproject problems still show (tests/deploy/test_project_metadata.py).
	$(BIN)/python -W 'ignore:Editable installation:UserWarning' -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

deps: $(STAMP)

# The third-party voice client (tests/voice/test_virtual_alexa.py), pinned by its package-lock.json;
# without npm that test is skipped.
VOICE_CLIENT := tests/voice/virtual_alexa
voice-client:
	@if command -v npm >/dev/null 2>&1; then \
	  test -d $(VOICE_CLIENT)/node_modules/virtual-alexa || npm ci --prefix $(VOICE_CLIENT) --no-audit --no-fund; \
	else echo "npm not found: the virtual-alexa voice test will be skipped" >&2; fi

# The ASK CLI v2 for `ask deploy` (ask-resources.json), pinned by deploy/ask-cli/package-lock.json;
# without npm its offline deploy test is skipped.
ASK_CLI := deploy/ask-cli
ask-cli:
	@if command -v npm >/dev/null 2>&1; then \
	  test -x $(ASK_CLI)/node_modules/.bin/ask || npm ci --prefix $(ASK_CLI) --no-audit --no-fund; \
	else echo "npm not found: the ASK CLI deploy check will be skipped" >&2; fi

ask-check: deps ask-cli
	$(BIN)/python -m pytest -q tests/deploy/test_ask_cli.py

test: deps voice-client ask-cli
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

# The host-architecture package under the Lambda Runtime Interface Emulator that ships in the pinned
# aws-sam-cli, run by awslambdaric on the Lambda's Python 3.12, against the local stack; and a package
# of the other architecture, whose native import failure must be logged as one JSON line
# (tests/deploy/test_runtime_emulator.py, docs/deploy.md "The real runtime, without Docker").
# HOST_ARCH is defined with build-host below (recursive here, so the order does not matter).
FOREIGN_ARCH = $(if $(filter arm64,$(HOST_ARCH)),x86_64,arm64)
RUNTIME_CHECK_DIR := $(CURDIR)/.aws-sam/runtime-check
RUNTIME_VENV := .venv-runtime
SAM_VENV := .venv-sam

# The same venv and stamp as .ci/template-check's, so either reuses the other's.
$(SAM_VENV)/.requirements-sam.sha256: requirements-sam.txt
	rm -rf $(SAM_VENV)
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-sam.txt
	sha256sum requirements-sam.txt | cut -d' ' -f1 >$@

$(RUNTIME_VENV)/.installed-stamp: requirements-runtime.txt
	@test -n "$(LAMBDA_PYTHON)" || { echo "no Python 3.12 found: install one (e.g. 'pyenv install 3.12') or set LAMBDA_PYTHON=/path/to/python3.12" >&2; exit 1; }
	rm -rf $(RUNTIME_VENV)
	$(LAMBDA_PYTHON) -m venv $(RUNTIME_VENV)
	$(RUNTIME_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-runtime.txt
	@touch $@

runtime-check: deps $(SAM_VENV)/.requirements-sam.sha256 $(RUNTIME_VENV)/.installed-stamp
	rm -rf "$(RUNTIME_CHECK_DIR)"
	LAMBDA_ARCH=$(HOST_ARCH) $(MAKE) --no-print-directory build-SkillFunction ARTIFACTS_DIR="$(RUNTIME_CHECK_DIR)/$(HOST_ARCH)"
	LAMBDA_ARCH=$(FOREIGN_ARCH) $(MAKE) --no-print-directory build-SkillFunction ARTIFACTS_DIR="$(RUNTIME_CHECK_DIR)/$(FOREIGN_ARCH)"
	rie=$$(ls $(SAM_VENV)/lib/python3*/site-packages/samcli/local/rapid/aws-lambda-rie-$(HOST_ARCH)) && \
	  ZOSI_RUNTIME_CHECK_RIE="$(CURDIR)/$$rie" ZOSI_RUNTIME_CHECK_PYTHON="$(CURDIR)/$(RUNTIME_VENV)/bin/python" \
	  ZOSI_RUNTIME_CHECK_PACKAGE="$(RUNTIME_CHECK_DIR)/$(HOST_ARCH)" \
	  ZOSI_RUNTIME_CHECK_FOREIGN_PACKAGE="$(RUNTIME_CHECK_DIR)/$(FOREIGN_ARCH)" \
	  $(BIN)/python -m pytest -q -p no:cacheprovider tests/deploy/test_runtime_emulator.py

clean:
	rm -rf $(VENV) .venv-sam $(RUNTIME_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache .hypothesis bench/results
# ---- Lambda package: `sam build` runs these (template.yaml, "Metadata: BuildMethod: makefile") with
# ARTIFACTS_DIR set. The package is lambda_handler.py, skill/, models/ (devstack/ is dev-only and never copied)
# and requirements.txt's wheels for the python3.12 arm64 runtime, plus bytecode compiled by a 3.12
# interpreter: /var/task is read-only, so Lambda would otherwise recompile every module at each cold start.
# The first real Python 3.12 (a pyenv shim counts only if it runs 3.12), as .ci/template-check finds
# it: on PATH, then pyenv's versions (newest first), then /usr/local/bin and /usr/bin. Or set LAMBDA_PYTHON.
LAMBDA_PYTHON ?= $(shell for p in "$$(command -v python3.12)" \
  $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.12.*/bin/python3.12 2>/dev/null | sort -rV) \
  /usr/local/bin/python3.12 /usr/bin/python3.12; do \
  [ -n "$$p" ] && "$$p" -c 'import sys; raise SystemExit(sys.version_info[:2] != (3, 12))' 2>/dev/null && \
  { "$$p" -c 'import sys; print(sys.executable)'; break; }; done)
# LAMBDA_ARCH (environment or make variable): arm64, the default of the template's LambdaArchitecture,
# or x86_64 for a package that imports and runs on an x86_64 host. sam build passes make nothing but
# ARTIFACTS_DIR, so give sam the same value: --parameter-overrides LambdaArchitecture=<value>.
LAMBDA_ARCH ?= arm64
LAMBDA_WHEEL_ARCH_arm64 := aarch64
LAMBDA_WHEEL_ARCH_x86_64 := x86_64
LAMBDA_WHEEL_ARCH = $(LAMBDA_WHEEL_ARCH_$(LAMBDA_ARCH))
LAMBDA_WHEEL_PLATFORMS = --platform manylinux2014_$(LAMBDA_WHEEL_ARCH) --platform manylinux_2_28_$(LAMBDA_WHEEL_ARCH)

# The package for this machine's CPU (sam local invoke, the runtime checks): LAMBDA_ARCH (the wheels)
# and the template's LambdaArchitecture (the runtime) get the same value, as docs/deploy.md tells a
# user to type; then tests/deploy/test_host_package.py runs a Discover through the built package.
HOST_ARCH := $(if $(filter aarch64 arm64,$(shell uname -m)),arm64,x86_64)
SAM := .venv-sam/bin/sam
.PHONY: build-host
build-host: deps
	@test -x $(SAM) || { echo "$(SAM) not found: 'make template-check' creates it (requirements-sam.txt)" >&2; exit 1; }
	LAMBDA_ARCH=$(HOST_ARCH) SAM_CLI_TELEMETRY=0 $(SAM) build --parameter-overrides LambdaArchitecture=$(HOST_ARCH)
	LAMBDA_PYTHON=$(LAMBDA_PYTHON) ZOSI_HOST_PACKAGE=.aws-sam/build/SkillFunction \
	  $(BIN)/python -m pytest -q -p no:cacheprovider tests/deploy/test_host_package.py

.PHONY: build-SkillFunction build-RetentionFunction
build-SkillFunction build-RetentionFunction:
	@test -n "$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is not set: run 'sam build'" >&2; exit 1; }
	@test -n "$(LAMBDA_WHEEL_ARCH)" || { echo "LAMBDA_ARCH=$(LAMBDA_ARCH): use arm64 or x86_64" >&2; exit 1; }
	@test -n "$(LAMBDA_PYTHON)" || { echo "no Python 3.12 found: install one (e.g. 'pyenv install 3.12') or set LAMBDA_PYTHON=/path/to/python3.12" >&2; exit 1; }
	@$(LAMBDA_PYTHON) -c 'import sys; raise SystemExit(sys.version_info[:2] != (3, 12))' 2>/dev/null || \
	  { echo "LAMBDA_PYTHON=$(LAMBDA_PYTHON) is not Python 3.12 (set LAMBDA_PYTHON=/path/to/python3.12)" >&2; exit 1; }
	$(LAMBDA_PYTHON) -m pip install --quiet --disable-pip-version-check --no-compile --only-binary=:all: \
	  $(LAMBDA_WHEEL_PLATFORMS) --implementation cp --python-version 3.12 \
	  --target "$(ARTIFACTS_DIR)" -r requirements.txt
	rm -rf "$(ARTIFACTS_DIR)/bin"
	@# botocore carries the models of every AWS service (28 of its 32 MB); keep only those of the
	@# services the function calls (skill.aws.SERVICES). The package stays on the botocore we pin and
	@# test, at a third of the size (docs/performance.md, "Package size").
	services=$$($(LAMBDA_PYTHON) -I -c 'import sys; sys.path.insert(0, "."); from skill.aws import SERVICES; print(*SERVICES)') && \
	  test -n "$$services" && for service in $$services; do test -d "$(ARTIFACTS_DIR)/botocore/data/$$service"; done && \
	  find "$(ARTIFACTS_DIR)/botocore/data" -mindepth 1 -maxdepth 1 -type d $$(printf '! -name %s ' $$services) -exec rm -rf {} +
	cp lambda_handler.py "$(ARTIFACTS_DIR)/"
	tar --exclude=__pycache__ --exclude='*.pyc' -cf - skill models | tar -xf - -C "$(ARTIFACTS_DIR)"
	$(LAMBDA_PYTHON) -W ignore -m compileall -q -j 0 --invalidation-mode unchecked-hash "$(ARTIFACTS_DIR)"
