# The two commands: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint fmt bench clean help

help:
	@echo "make run    - set up, migrate, seed the demo drop and start the service"
	@echo "make test   - set up and run the whole test suite"
	@echo "make lint   - ruff (format check + lint) and mypy --strict"
	@echo "make bench  - the flash-sale benchmark (QUICK=1 for a short run)"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/dropline db upgrade
	$(BIN)/dropline demo
	$(BIN)/dropline serve

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: $(STAMP)
	$(BIN)/python bench/run.py --mode $(if $(QUICK),quick,full) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) dropline.db dropline.db-wal dropline.db-shm .pytest_cache .mypy_cache .ruff_cache
