# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STORE  ?= sqlite:///deployledger.db
DEMO_TENANT ?= acme-prod
DEMO_RT_ID  ?= 64f1c0ffee0000000000beef
PORT   ?= 8080

.PHONY: run serve test lint typecheck bench clean browser autofailover

# One pip install per target (an editable build each costs ~20 s): `make test` on a clean
# clone installs the project and its dev tools in one go (with a current pip: Python 3.11's
# own takes twice the CPU for the same install).
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(BIN)/deployledger: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(BIN)/deployledger

# Idempotent: every example carries a messageId, so a second run records only duplicates.
run: $(BIN)/deployledger
	$(BIN)/deployledger --store $(STORE) record examples/reports.jsonl
	@echo
	$(BIN)/deployledger --store $(STORE) record examples/lifecycle.jsonl
	@echo
	$(BIN)/deployledger --store $(STORE) show $(DEMO_TENANT) $(DEMO_RT_ID)
	@echo
	$(BIN)/deployledger --store $(STORE) history $(DEMO_TENANT) $(DEMO_RT_ID)
	@echo
	$(BIN)/deployledger --store $(STORE) overdue

# The HTTP service on the demo store (the examples of `make run`), with a new admin token
# printed (each run makes one: `deployledger token list` / `token revoke ID`). Ctrl-C stops it.
serve: $(BIN)/deployledger
	$(BIN)/deployledger --store $(STORE) record examples/reports.jsonl examples/lifecycle.jsonl > /dev/null
	@token=$$($(BIN)/deployledger --store $(STORE) token create --admin --name make-serve) && \
	  echo "admin token (shown once): $$token" && \
	  echo "try: curl -H 'Authorization: Bearer $$token' http://127.0.0.1:$(PORT)/v1/workloads"
	$(BIN)/deployledger --store $(STORE) serve --port $(PORT)

lint: $(VENV)/.dev
	$(BIN)/ruff check deployledger tests bench devtools
	$(BIN)/ruff format --check deployledger tests bench devtools
	$(BIN)/lint-imports --no-cache

# The package, bench and tests ([tool.mypy] files); each folder's own conftest.py apart,
# as they share the module name `conftest` (see [tool.mypy] exclude).
typecheck: $(VENV)/.dev
	$(BIN)/mypy
	$(BIN)/mypy tests/integration/conftest.py
	$(BIN)/mypy tests/e2e/conftest.py

# The dashboard's browser tests drive Debian's headless Chromium through chromedriver.
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		echo "installing chromium and chromium-driver (for the browser tests)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			chromium chromium-driver >/dev/null; \
	fi

# The automatic failover test (tests/e2e/test_auto_failover.py) runs a pg_auto_failover
# formation: Debian's pg_autoctl (/usr/bin) and the monitor's extension for the server's
# PostgreSQL version (postgresql-NN-auto-failover, NN from pg_config).
autofailover:
	@PGV=$$(pg_config --version 2>/dev/null | sed -E 's/^PostgreSQL ([0-9]+).*/\1/'); PGV=$${PGV:-15}; \
	if ! command -v pg_autoctl >/dev/null || [ ! -f /usr/lib/postgresql/$$PGV/lib/pgautofailover.so ]; then \
		echo "installing pg-auto-failover-cli and postgresql-$$PGV-auto-failover (for the failover test)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			pg-auto-failover-cli postgresql-$$PGV-auto-failover >/dev/null; \
	fi

# Tests run shuffled (pytest-randomly) with a fixed seed: a test that leans on state another
# test leaves behind fails here, and every run is the same run. Another seed: --randomly-seed=N.
# mypy (single-threaded, ~45 s on a clean clone) runs beside pytest instead of before it, and
# its report is printed after pytest's; either failing fails `make test`.
# The tests' own folders (tmp_path: SQLite stores, logs) live in memory where the machine
# has a tmpfs: an fsync there is free, where on disk it made a SQLite commit 4.7 ms instead
# of 1.0 ms. The private PostgreSQL clusters of the fault tests stay on disk (TMPDIR), with
# the timing those tests were written for. TEST_TMP= (empty) keeps everything on disk.
TEST_TMP ?= $(if $(wildcard /dev/shm/.),/dev/shm/deployledger-test-$(shell id -u))
test: lint browser autofailover
	@$(MAKE) --no-print-directory typecheck > $(VENV)/typecheck.log 2>&1 & typecheck=$$!; \
	if [ -n "$(TEST_TMP)" ]; then rm -rf "$(TEST_TMP)" && mkdir -p "$(TEST_TMP)"; fi; \
	$(BIN)/pytest -n 2 --dist worksteal --durations=15 --randomly-seed=1 \
		$(if $(TEST_TMP),--basetemp=$(TEST_TMP)/pytest); tests=$$?; \
	if [ -n "$(TEST_TMP)" ]; then rm -rf "$(TEST_TMP)"; fi; \
	wait $$typecheck; checked=$$?; \
	echo "--- make typecheck (ran beside pytest) ---"; cat $(VENV)/typecheck.log; \
	if [ $$checked -ne 0 ]; then echo "make typecheck failed"; fi; \
	[ $$tests -eq 0 ] && [ $$checked -eq 0 ]

bench: $(VENV)/.dev
	$(BIN)/python -m bench all

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis deployledger.db*
