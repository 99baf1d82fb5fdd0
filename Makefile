# One entry point per job. `make test` and `make demo` work from a fresh clone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install lint typecheck test test-deps test-fast demo bench soak clean lock

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check daemon tests migrations bench
	$(BIN)/ruff format --check daemon tests migrations bench
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

# The whole suite: lint, types, every test (slow and PostgreSQL included) with coverage.
test: lint typecheck
	$(BIN)/pytest --cov --cov-report=term $(PYTEST_ARGS)

# Non-Python tools the whole suite needs (promtool, Prometheus, a buildah base image); root.
test-deps:
	bash tools/test-deps.sh

# Quick loop while developing.
test-fast: install
	$(BIN)/pytest -m "not slow" -x -q $(PYTEST_ARGS)

# The daemon against the built-in DAM and PIM simulators, SQLite, until Ctrl-C.
demo: install
	$(BIN)/damsync demo

BENCH_STAMP := $(VENV)/.bench-stamp
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,bench]'
	touch $(BENCH_STAMP)

# Benchmarks against a naive baseline (not part of `make test`); results in docs/benchmarks.md.
bench: $(BENCH_STAMP)
	$(BIN)/python -m bench.run

# Memory soak: many passes with changing assets; fails when RSS keeps growing.
soak: $(BENCH_STAMP)
	$(BIN)/python -m bench.soak --minutes 5

# Refresh the pinned constraints after changing dependencies in pyproject.toml.
lock: install
	$(BIN)/python -m pip freeze --exclude-editable > constraints.txt

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .coverage htmlcov
