# The two quick-start commands are `make run` and `make test`; the rest are parts of them.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
INI ?= development.ini
HOST ?= 127.0.0.1
PORT ?= 6543
WORKERS ?= 2
# Threads per worker (granian --blocking-threads), and as many pooled database connections:
# enough that requests waiting on billing or Samagra (5 s timeouts) leave threads free for
# verification; not granian's default of hundreds. Why 16: README.md, "Threads per worker".
THREADS ?= 16
PACKAGES := hub connectors forms certs
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
# Every address the hub publishes (WSDL soap:address, token issuer, QR and PDF links, the
# reference checkout) follows HOST and PORT, so `make run PORT=6611` serves a consistent hub.
PUBLIC_URL ?= http://$(HOST):$(PORT)
# DATA_DIR: where the database, keys, queue and the reference systems' own store live
# (empty: var/, as development.ini says).
# DATABASE_URL may name PostgreSQL instead of DATA_DIR's SQLite file. The end-to-end tests
# serve a hub of their own this way: `make run PORT=n DATA_DIR=dir DEMO_CONSUMERS=300`.
DATA_DIR ?=
DEMO_CONSUMERS ?= 10000
ifneq ($(DATA_DIR),)
DATA := $(abspath $(DATA_DIR))
DATABASE_URL ?= sqlite:///$(DATA)/hub.sqlite
DATA_ENV := HUB_DATABASE_URL='$(DATABASE_URL)' HUB_KEYS_DIR=$(DATA)/keys HUB_QUEUE_SQLITE_PATH=$(DATA)/queue.sqlite \
	HUB_REFERENCE_DATABASE_URL=sqlite:///$(DATA)/reference.sqlite
else
DATA := var
DATA_ENV :=
endif
SERVE_ENV := $(DATA_ENV) HUB_INI=$(INI) HUB_DATABASE_POOL_SIZE=$(THREADS) HUB_PUBLIC_URL=$(PUBLIC_URL) HUB_OAUTH_ISSUER=$(PUBLIC_URL) \
	HUB_PAYMENT_CHECKOUT_URL=$(PUBLIC_URL)/reference/pay HUB_PAYMENT_CALLBACK_URL=$(PUBLIC_URL)/api/v1/connections/payments
# Debian packages the tests call, as command-or-file:package: the independent checkers
# (libxmlsec1, poppler's pdfsig/pdftotext/pdftoppm, NSS's certutil, zbar), wrk for the bench,
# and Chromium with Devanagari fonts for the end-to-end console tests.
SYSTEM_TOOLS := xmlsec1:xmlsec1 pdfsig:poppler-utils certutil:libnss3-tools zbarimg:zbar-tools wrk:wrk \
	chromium:chromium /usr/share/fonts/truetype/noto/NotoSansDevanagari-Regular.ttf:fonts-noto-core

.PHONY: run test lint format bench setup system-tools migrate keys demo-data serve worker test-sqlite test-postgresql clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip "setuptools<82" wheel

$(VENV)/.installed: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/pip install -q -e ".[test]"
	touch $@

setup: $(VENV)/.installed

# Installs the missing checkers with apt-get (as root, or through sudo when there is one).
system-tools:
	@missing=""; for pair in $(SYSTEM_TOOLS); do \
		tool=$${pair%%:*}; command -v $$tool >/dev/null 2>&1 || [ -e "$$tool" ] || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing system tools:$$missing"; \
		sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$missing; \
	fi

migrate: setup
	$(DATA_ENV) $(BIN)/hub-admin $(INI) migrate

# The document keys are made (or the production PKCS#12 installed) once, before any process starts.
keys: setup
	$(DATA_ENV) $(BIN)/hub-admin $(INI) keys init

# Demo data is loaded once; delete var/ (or DATA_DIR) to start again.
$(DATA)/.demo-data: | migrate
	$(DATA_ENV) $(BIN)/hub-admin $(INI) demo-data --consumers $(DEMO_CONSUMERS) --seed 1 --offices-extract $(DATA)/offices.csv
	$(DATA_ENV) $(BIN)/hub-admin $(INI) outages contacts --sync
	$(DATA_ENV) $(BIN)/hub-admin $(INI) offices load $(DATA)/offices.csv
	touch $@

demo-data: $(DATA)/.demo-data

serve: setup keys
	$(SERVE_ENV) $(BIN)/granian --interface wsgi --host $(HOST) --port $(PORT) --workers $(WORKERS) --blocking-threads $(THREADS) hub.wsgi:application

worker: setup keys
	$(SERVE_ENV) $(BIN)/hub-worker $(INI)

# Set up, migrate, load demo data, then serve on http://127.0.0.1:6543 with the worker beside it.
run: migrate keys demo-data
	@echo "serving on $(PUBLIC_URL)  (worker running alongside; Ctrl-C stops both)"
	@$(SERVE_ENV) $(BIN)/hub-worker $(INI) & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT INT TERM; \
	$(SERVE_ENV) $(BIN)/granian --interface wsgi --host $(HOST) --port $(PORT) --workers $(WORKERS) --blocking-threads $(THREADS) hub.wsgi:application

lint: setup
	$(BIN)/ruff check $(PACKAGES) tests bench
	$(BIN)/ruff format --check $(PACKAGES) tests bench
	$(BIN)/mypy $(PACKAGES) tests
	$(BIN)/lint-imports

format: setup
	$(BIN)/ruff format $(PACKAGES) tests bench
	$(BIN)/ruff check --fix $(PACKAGES) tests bench

test-sqlite: setup system-tools
	HUB_TEST_DATABASE=sqlite $(BIN)/pytest -q -p no:cacheprovider tests

# PostgreSQL is mandatory in CI (CI=true); on a laptop without it the run says so and skips.
test-postgresql: setup system-tools
	@if $(BIN)/python -c "import psycopg,sys; psycopg.connect('host=127.0.0.1 port=5432 user=postgres dbname=test', connect_timeout=3).close()" 2>/dev/null; then \
		HUB_TEST_DATABASE=postgresql $(BIN)/pytest -q -p no:cacheprovider tests; \
	elif [ "$$CI" = "true" ]; then echo "PostgreSQL on 127.0.0.1:5432 is required in CI" >&2; exit 1; \
	else echo "PostgreSQL not reachable on 127.0.0.1:5432: PostgreSQL run skipped (CI runs it)"; fi

# Set up and pass the tests: lint, then the whole suite on SQLite and on PostgreSQL.
test: lint test-sqlite test-postgresql

bench: setup
	$(BIN)/python bench/run.py

clean:
	rm -rf var .mypy_cache .ruff_cache .pytest_cache
