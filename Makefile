# make run   install into .venv and start regdeploy with config.example.yaml (embedded PostgreSQL)
# make check the inner loop, no system packages: lint, types, and the tests that need nothing
#            but Python and the embedded PostgreSQL (unit, integration; no registry, Docker
#            engine or browser, no chaos or bench), in a few minutes
# make test  install everything the suite needs (system packages too) and run lint, types, tests
# make bench run the benchmarks (installs wrk); BENCH=ingest runs one, QUICK=1 a tiny smoke run,
#            ROUNDS=N another number of rounds
# make demo  install the same, then show a real push moving a real container (until Ctrl-C)
# make screenshots  take the console's screenshots again into docs/ (the browser tests' run)

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export REGDEPLOY_PORT ?= 8080

BENCH ?= all

# What make check runs of the suite: what needs a real component is marked (tests/conftest.py).
CHECK_TESTS := -m "not registry and not docker and not browser" \
	--ignore=tests/chaos --ignore=tests/bench

.PHONY: run check test demo bench screenshots lint typecheck pytest system-deps install clean

run: $(STAMP)
	$(BIN)/regdeploy serve --config config.example.yaml

check: $(STAMP) lint typecheck
	$(BIN)/pytest $(CHECK_TESTS)

test: system-deps $(STAMP) lint typecheck pytest

# DEMO_ARGS=--no-wait stops once the deploy is shown (the test suite runs it so). Its regdeploy
# serves on $REGDEPLOY_PORT (exported above), or on a free port, said, when that one is taken.
demo: system-deps $(STAMP)
	$(BIN)/python -m scripts.demo $(DEMO_ARGS)

screenshots: system-deps $(STAMP)
	REGDEPLOY_DOCS_SCREENSHOTS=docs $(BIN)/pytest -q -m browser -k every_page tests/browser

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

bench: $(STAMP)
	./scripts/system-deps.sh wrk
	$(BIN)/python -m bench $(BENCH) $(if $(QUICK),--quick) $(if $(ROUNDS),--rounds $(ROUNDS))

system-deps:
	./scripts/system-deps.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .regdeploy .pytest_cache .mypy_cache .ruff_cache
