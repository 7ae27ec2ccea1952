# Roster: `make run` serves the app with demo data; `make test` runs the whole suite.
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
PYTHON  ?= python3
HOST    ?= 127.0.0.1
PORT    ?= 8000
# This machine is served as localhost (app.cli.served_base_url): passkeys need a host name.
SHOWN_HOST = $(if $(filter 127.0.0.1 0.0.0.0 ::1,$(HOST)),localhost,$(HOST))
PYTEST_E2E_FLAGS := $(if $(HEADED),--headed,)

.PHONY: catalogs messages run test test-sqlite test-postgres fuzz e2e soak browser lint typecheck format venv clean reset-timing page-weight click-timing bench bench-quick bench-scale bench-tools

venv: $(STAMP)

# Re-installs only when the lock or the project metadata changed.
$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

# The languages Roster is written in besides English (app.core.i18n.LANGUAGES): each a catalog,
# app/locale/<code>/LC_MESSAGES/messages.po, compiled (not committed) by `make run` and `make test`.
LOCALES  := de fr es pt_BR ar
CATALOGS := $(foreach code,$(LOCALES),app/locale/$(code)/LC_MESSAGES/messages.mo)

catalogs: $(CATALOGS)

app/locale/%/LC_MESSAGES/messages.mo: app/locale/%/LC_MESSAGES/messages.po $(STAMP)
	$(BIN)/pybabel compile --statistics -i $< -o $@

# After texts changed: the messages extracted again (app/locale/messages.pot) and every catalog
# brought up to date with it; then translate what is new (tests/unit/test_catalogs.py says what).
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -o app/locale/messages.pot --no-location --sort-output \
		--project Roster --copyright-holder "Roster" --msgid-bugs-address "" .
	$(BIN)/pybabel update -i app/locale/messages.pot -d app/locale --ignore-obsolete \
		--no-fuzzy-matching --ignore-pot-creation-date

run: $(STAMP) catalogs
	$(BIN)/roster migrate
	$(BIN)/roster demo
	@echo "Roster is starting on http://$(SHOWN_HOST):$(PORT) (Ctrl+C stops it)"
	$(BIN)/roster serve --host $(HOST) --port $(PORT)

# Debian's package $(1), as root or through passwordless sudo; fails where neither is possible.
define apt_install
if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then SUDO=; \
elif command -v apt-get >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO=sudo; \
else exit 1; fi; \
$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(1)
endef

# A Chromium for the browser tests: Debian's package where we can install it, else Playwright's.
browser: $(STAMP)
	@if [ -x /usr/bin/chromium ]; then \
		echo "browser: /usr/bin/chromium"; \
	else \
		( $(call apt_install,chromium) ) || $(BIN)/playwright install chromium; \
	fi

# Each run ends with its 15 slowest tests, to see where the suite's time goes.
PYTEST_FLAGS ?= --durations=15

test-sqlite: $(STAMP) catalogs
	ROSTER_TEST_ENGINE=sqlite $(BIN)/pytest tests $(PYTEST_FLAGS)

# Runs when ROSTER_TEST_POSTGRES_URL names a server (CI always sets it).
test-postgres: $(STAMP) catalogs
	@if [ -n "$$ROSTER_TEST_POSTGRES_URL" ]; then \
		ROSTER_TEST_ENGINE=postgres $(BIN)/pytest tests $(PYTEST_FLAGS); \
	else \
		echo "ROSTER_TEST_POSTGRES_URL is not set: the PostgreSQL run is skipped."; \
	fi

# The route fuzz (tests/integration/test_fuzz_routes.py) with a far bigger budget than in `make
# test`: on SQLite, then on PostgreSQL when ROSTER_TEST_POSTGRES_URL is set.
FUZZ_EXAMPLES ?= 5000
FUZZ := ROSTER_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest tests/integration/test_fuzz_routes.py

fuzz: $(STAMP)
	ROSTER_TEST_ENGINE=sqlite $(FUZZ)
	@if [ -n "$$ROSTER_TEST_POSTGRES_URL" ]; then \
		ROSTER_TEST_ENGINE=postgres $(FUZZ); \
	else \
		echo "ROSTER_TEST_POSTGRES_URL is not set: the PostgreSQL fuzz is skipped."; \
	fi

e2e: $(STAMP) catalogs browser
	$(BIN)/pytest e2e $(PYTEST_FLAGS) $(PYTEST_E2E_FLAGS)

# The SQLite and PostgreSQL runs at once (independent: a database and free ports of their own;
# each pytest keeps about one core busy), each one's output printed whole when it ends; then
# the browser tests. Fails when any test fails.
test: $(STAMP) catalogs
	@$(MAKE) --no-print-directory -j2 --output-sync=target test-sqlite test-postgres
	@$(MAKE) --no-print-directory e2e

# Two servers, one scratch PostgreSQL database (created on ROSTER_TEST_POSTGRES_URL's server, else
# postgresql://postgres@127.0.0.1:5432/test, and dropped), SOAK_OPERATIONS mixed operations by
# SOAK_CLIENTS concurrent clients; fails on any 5xx, broken invariant or email sent twice.
SOAK_OPERATIONS ?= 10000
SOAK_CLIENTS    ?= 20
soak: $(STAMP)
	$(BIN)/python -m soak.soak --operations $(SOAK_OPERATIONS) --clients $(SOAK_CLIENTS) $(SOAK_FLAGS)

LINT_PATHS := app tests e2e bench soak piccolo_conf.py

lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

# mypy on app/ (pyproject.toml's [tool.mypy]).
typecheck: $(STAMP)
	$(BIN)/mypy

# Rewrites the code the way `make lint` wants it.
format: $(STAMP)
	$(BIN)/ruff check --fix $(LINT_PATHS)
	$(BIN)/ruff format $(LINT_PATHS)

clean:
	rm -rf $(VENV) .pytest_cache e2e/artifacts

# Whether a password-reset request takes longer for an address that has an account.
reset-timing: $(STAMP)
	$(BIN)/python -m bench.reset_timing

# What the Users tab's first load transfers (HTML, CSS, JS), the password meter's cost, the
# invitation email's width at 360 px: JSON on stdout.
page-weight: $(STAMP) browser
	$(BIN)/python -m bench.page_weight

# Click-to-update medians of two revisions served side by side (about 2 minutes).
CLICK_BEFORE ?= 86b6fd1
CLICK_AFTER  ?= HEAD
click-timing: $(STAMP) browser
	$(BIN)/python -m bench.click_timing --before $(CLICK_BEFORE) --after $(CLICK_AFTER) $(CLICK_FLAGS)

# The benchmark suite (bench/suite.py): every figure with its target and verdict, on
# SQLite and, when ROSTER_TEST_POSTGRES_URL names a server, PostgreSQL (a scratch database each,
# dropped); JSON in bench/results/latest.json. Not part of `make test`. `bench` generates
# 1,000,000 users (about 20 minutes per engine); `bench-quick` 50,000 (a few minutes). Figures 8
# (live-update latency, 500 streams) and 9 (--workers 2 vs 1) run on PostgreSQL only;
# `bench-scale` runs just those two (bench/scale.py, its own scratch database; JSON in
# bench/results/scale.json), e.g. `make bench-scale BENCH_FLAGS=--quick`.
BENCH_FLAGS ?=
bench: $(STAMP) bench-tools
	$(BIN)/python -m bench.suite $(BENCH_FLAGS)

bench-quick: $(STAMP) bench-tools
	$(BIN)/python -m bench.suite --quick $(BENCH_FLAGS)

bench-scale: $(STAMP) bench-tools
	$(BIN)/python -m bench.scale $(BENCH_FLAGS)

# wrk, the load generator, from Debian where we can install it; else bench/load.py's own client.
bench-tools:
	@if command -v wrk >/dev/null 2>&1; then \
		echo "bench-tools: $$(command -v wrk)"; \
	else \
		( $(call apt_install,wrk) ) || \
		echo "bench-tools: wrk cannot be installed here: the Python load generator is used"; \
	fi
