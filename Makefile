# Every target that needs tools runs `setup` first; setup is idempotent and cheap when done.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
DEB_PACKAGES := haproxy supervisor socat curl chromium nodejs npm redis-server wrk
PYTEST_ARGS ?=

.PHONY: setup setup-deb setup-venv setup-npm test lint unit demo converge converge-config maint-start maint-stop bench docs clean

setup: setup-deb setup-venv setup-npm

# Debian packages: install only what is missing, so a set-up machine asks apt nothing.
setup-deb:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  if [ "$$p" = nodejs ] || [ "$$p" = npm ]; then command -v $${p/nodejs/node} >/dev/null && continue; fi; \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "setup: installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	touch $@

setup-venv: $(VENV)/.installed

node_modules/.installed: package.json
	npm install --no-audit --no-fund --no-package-lock --loglevel=error
	touch $@

setup-npm: node_modules/.installed

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

unit: setup
	$(VENV)/bin/pytest tests/unit $(PYTEST_ARGS)

# Lint, the docs (warnings are errors), then every test layer.
test: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/sphinx-build -W --keep-going -q -b html docs docs/_build/html
	$(VENV)/bin/pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) node_modules .pytest_cache docs/_build

# Masterless highstate of this machine, environment dev. Non-zero on any failed state.
# The minion config (dev/converge/minion.in) gets this checkout's absolute paths.
CONVERGE_ARGS ?=
CONVERGE_CONFIG ?= /var/cache/salt-converge/etc
SALT_CALL_DEV = $(VENV)/bin/salt-call --local -c $(CONVERGE_CONFIG)
converge-config:
	mkdir -p $(CONVERGE_CONFIG)
	sed 's|@REPO@|$(CURDIR)|g' dev/converge/minion.in > $(CONVERGE_CONFIG)/minion

converge: setup converge-config
	$(SALT_CALL_DEV) --state-output=changes --retcode-passthrough state.apply $(CONVERGE_ARGS)

# Maintenance on the make converge LB, from the shell: haproxy_maint.start/stop by
# salt-call --local. REASON and ETA: text on the page; ETA_AT: ISO 8601 with a zone (drives
# Retry-After, shown in the visitor's local time); BYPASS: CIDRs that still reach the app,
# comma-separated. demo/maint.py passes them on JSON-encoded, whatever characters they hold.
export REASON ETA ETA_AT BYPASS
maint-start: setup converge-config
	$(PY) -m demo.maint start -- $(SALT_CALL_DEV) --retcode-passthrough

maint-stop: setup converge-config
	$(PY) -m demo.maint stop -- $(SALT_CALL_DEV) --retcode-passthrough

# Operator documentation (Sphinx + MyST + furo); warnings are errors.
docs: setup
	$(VENV)/bin/sphinx-build -W --keep-going -b html docs docs/_build/html

# The whole story on a throw-away local cluster under a temp dir (issue 5): highstate two
# LBs, maint/start and maint/stop with salt-call event.send, timings. Cleans up, also on Ctrl-C.
demo: setup
	$(VENV)/bin/python -m demo

# Benchmarks: runtime batch vs saltext-haproxy, cluster failover for 2..16 LBs, the page's
# capacity next to HAProxy's own (wrk), then the report page docs/benchmarks.md with its
# plots. Figures are printed; nothing is asserted.
BENCH_DIR ?= artifacts/bench
BENCH_LBS ?= 2 4 8 16
BENCH_ROUNDS ?= 10
bench: setup
	mkdir -p $(BENCH_DIR)
	$(VENV)/bin/python benchmarks/runtime_batch.py --json $(BENCH_DIR)/runtime.json
	$(VENV)/bin/python benchmarks/page_capacity.py --json $(BENCH_DIR)/page.json
	for n in $(BENCH_LBS); do \
	  baseline=--no-baseline; [ $$n = 2 ] && baseline=; \
	  $(VENV)/bin/python benchmarks/failover.py --lbs $$n --rounds $(BENCH_ROUNDS) $$baseline \
	    --json $(BENCH_DIR)/failover-$$n.json || exit 1; \
	done
	$(VENV)/bin/python benchmarks/report.py $(BENCH_DIR) docs
