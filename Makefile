# The two set-up commands a newcomer needs are `make run` and `make test`; both create .venv
# and install the project into it when needed.
VENV  := .venv
STAMP := $(VENV)/.installed-stamp
PY    := $(VENV)/bin/python

.PHONY: run test system-packages bench-cancel bench-telemetry bench-predict bench-search bench-console load-test soak clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/fleetray run

# promtool checks the Prometheus config and alert rules (tests/unit/test_deploy_files.py); it
# comes with Debian's prometheus package.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

# Debian's chromium runs the console's browser tests (Playwright drives it; no browser download).
# On a fresh machine the venv and these packages install at the same time.
test:
	@$(MAKE) --no-print-directory --jobs=2 $(STAMP) system-packages
	$(VENV)/bin/lint-imports
	$(VENV)/bin/pytest

system-packages:
	@command -v promtool >/dev/null && command -v chromium >/dev/null || { \
	  echo "installing promtool and chromium (Debian's prometheus and chromium packages)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends \
	    prometheus chromium >/dev/null; }

bench-cancel: $(STAMP)
	$(PY) -m tests.bench.cancel

bench-telemetry: $(STAMP)
	$(PY) -m tests.bench.telemetry

bench-predict: $(STAMP)
	$(PY) -m tests.bench.predict

bench-search: $(STAMP)
	$(PY) -m tests.bench.search

bench-console: $(STAMP)
	$(PY) -m tests.bench.console

load-test: $(STAMP)
	$(PY) -m tests.load.run_locust

# The fault soak on a stack of its own: `make soak MINUTES=30 SEED=7` (tests/soak/run.py).
soak: $(STAMP)
	$(PY) -m tests.soak.run --minutes $(or $(MINUTES),10) --seed $(or $(SEED),1)

clean:
	rm -rf $(VENV) .fleetray
