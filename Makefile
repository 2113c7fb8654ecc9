# Each target is one command on a fresh machine: it creates .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# test processes: most tests wait on a subprocess, a browser or a server, so two share 2 cores
# well; tests that share one expensive session fixture stay in one process (--dist loadgroup)
TEST_WORKERS ?= 2

.PHONY: demo test test-fast bench check lint clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[cpu,test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m satseg.demo

test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup

test-fast: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup -m "not slow and not ui"

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

check: $(STAMP)
	$(BIN)/ruff check satseg app tests benchmarks
	$(BIN)/mypy

lint: check

clean:
	rm -rf $(VENV) build *.egg-info
