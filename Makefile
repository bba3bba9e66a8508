# The two commands: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint fmt bench screenshots clean help browser-deps bench-deps

help:
	@echo "make run    - set up, migrate, seed the demo drop and start the service (DROPLINE_PORT=8001 make run for another port)"
	@echo "make test   - set up and run the whole test suite"
	@echo "make lint   - ruff (format check + lint), mypy --strict, the import-layer check, the dependency audit"
	@echo "make bench  - the flash-sale benchmark (QUICK=1 for a short run; PEER=medusa to run Medusa v2 beside dropline)"
	@echo "make screenshots - retake the console screenshots in docs/img with Chromium"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# A second `make run` says what already listens on the port (DROPLINE_PORT, default 8000)
# instead of failing; the demo's keys in .dropline/demo.env are reused while they work.
run: $(STAMP)
	@$(BIN)/dropline serve --check
	$(BIN)/dropline db upgrade
	$(BIN)/dropline demo
	$(BIN)/dropline serve

# The browser tests drive the system's Chromium (never a downloaded one). Installed with
# apt when missing and we are root on Debian; otherwise say how, and the tests skip
# (they fail instead under CI=true).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update && apt-get install -y chromium; \
	  else \
	    echo "chromium is missing: run 'sudo apt-get install -y chromium' for the browser tests"; \
	  fi; }

# The benchmark's smoke test drives the server with wrk (a compiled load generator).
# Installed with apt when missing, as for Chromium; without it that one test skips.
bench-deps:
	@command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get install -y wrk || { apt-get update && apt-get install -y wrk; } \
	      || echo "wrk could not be installed: the benchmark smoke test will skip"; \
	  else \
	    echo "wrk is missing: run 'sudo apt-get install -y wrk' for the benchmark smoke test"; \
	  fi; }

# Two pytest-xdist workers (about twice as fast as one process on two cores); each has
# its own PostgreSQL database and Redis server (tests/backends.py). TEST_WORKERS=0 runs
# the suite in one process.
TEST_WORKERS ?= 2

test: $(STAMP) browser-deps bench-deps
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff format --check src tests bench tools
	$(BIN)/ruff check src tests bench tools
	$(BIN)/mypy
	$(BIN)/python tools/check_layers.py
	$(BIN)/python tools/audit_deps.py

fmt: $(STAMP)
	$(BIN)/ruff format src tests bench tools
	$(BIN)/ruff check --fix src tests bench tools

bench: $(STAMP)
	$(BIN)/python bench/run.py --mode $(if $(QUICK),quick,full) $(if $(PEER),--peer $(PEER)) $(BENCH_ARGS)

# The docs' console screenshots are taken by the browser test that drives a whole drop
# through the pages (it asserts what each page shows); this copies them into docs/img.
SCREENSHOTS := console-products console-setup console-waitlist monitor report

screenshots: $(STAMP) browser-deps
	CI=true $(BIN)/python -m pytest -q tests/e2e/test_console_browser.py
	for name in $(SCREENSHOTS); do cp test-artifacts/$$name.png docs/img/$$name.png; done

clean:
	rm -rf $(VENV) dropline.db dropline.db-wal dropline.db-shm .pytest_cache .mypy_cache .ruff_cache
