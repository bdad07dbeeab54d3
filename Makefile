# The two Quick-start commands: `make demo` (install + run everything on simulated data)
# and `make test` (install + lint + type-check + the whole test suite). Nothing else is needed
# on a fresh Debian machine with Python 3.11.
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SYS_PACKAGES := chromium fonts-wqy-microhei poppler-utils
# The shared corpora (read-only, never committed): ../shared/data next to the clone, or set SENSING_SHARED_DATA.
SENSING_SHARED_DATA ?= $(abspath ../shared/data)
export SENSING_SHARED_DATA

.PHONY: demo test install install-dev system-deps lint typecheck pytest

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

$(STAMP): pyproject.toml $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install-dev: $(STAMP)

# Browser tests need Debian's Chromium, reports need a CJK font and pdftoppm.
system-deps:
	@missing=""; for p in $(SYS_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

demo: install
	$(BIN)/sensing demo

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install-dev
	$(BIN)/mypy kernel sensing storage ingest nlp analytics alerts reports dashboard bench

# One worker per core (each test file on one worker, so its module fixtures are built once); every
# worker has its own PostgreSQL database (tests/conftest.py). PYTEST_WORKERS=0 runs in one process.
# Files go out in collection order, where tests/conftest.py puts the slow ones first: xdist's default
# (files with the most tests first) would start the longest file, which has two tests, near the end.
PYTEST_WORKERS ?= auto

pytest: install-dev system-deps
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder

test: lint typecheck pytest
