# One entry point per job. `make test` and `make demo` work from a fresh clone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install install-user lint typecheck test test-deps test-fast fuzz demo bench soak clean lock

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# `damsync` on the PATH without activating the virtualenv: a link to .venv/bin/damsync in
# USER_BIN (~/.local/bin, on the PATH of most login shells). Or, per shell:
# `source .venv/bin/activate`.
USER_BIN ?= $(HOME)/.local/bin
install-user: install
	@mkdir -p "$(USER_BIN)"
	@ln -sfn "$(abspath $(BIN))/damsync" "$(USER_BIN)/damsync"
	@echo "linked $(USER_BIN)/damsync -> $(abspath $(BIN))/damsync"
	@case ":$$PATH:" in *":$(USER_BIN):"*) ;; \
	  *) echo "$(USER_BIN) is not on your PATH: add it, e.g. export PATH=\"$(USER_BIN):\$$PATH\"";; \
	esac

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

# The parsers of untrusted input (DAM answers, hot-folder files, checksums, JSON) fuzzed with
# 5,000 examples per property; `make test` runs the same properties with 50.
fuzz: install
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest -q --timeout 3600 \
		tests/reliability/test_fuzz_dam.py tests/reliability/test_fuzz_files.py $(PYTEST_ARGS)

# The daemon against the built-in DAM and PIM simulators, SQLite, until Ctrl-C (options:
# make demo DEMO_ARGS="--assets 1000"). On a terminal the demo runs as its own foreground job
# (bash's `set -m`): Ctrl-C reaches the demo alone, which stops cleanly, so make exits 0 instead
# of dying of the signal ("make: *** Interrupt"). Without a terminal it runs as a plain child.
DEMO_ARGS ?=
demo: install
	@bash -c 'if [ -t 0 ]; then set -m; fi; "$(BIN)/damsync" demo $(DEMO_ARGS); status=$$?; exit $$status'

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
