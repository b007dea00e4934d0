# Mesa Bot. `make run` and `make test` work on a fresh clone (see README.md).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
# `make crash`: the long crash-safety run; a random seed unless CRASH_SEED is given.
CRASH_MESSAGES ?= 600
CRASH_KILLS    ?= 25
CRASH_SEED     ?=
# maildir, or imap (a real Dovecot, with UIDVALIDITY resets and server restarts as well)
CRASH_BACKEND  ?= maildir

.PHONY: run test lint typecheck check bench crash corpus clean install install-dev system-deps

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Se necesita $(PYTHON)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# Starts the daemon on ./config.toml (SQLite + local Maildir, no credentials needed).
run: install
	$(BIN)/mesabot --config config.toml migrate
	exec $(BIN)/mesabot --config config.toml run

# The whole suite on SQLite, and again on PostgreSQL when a server answers on 127.0.0.1:5432.
test: install-dev system-deps
	@if [ -z "$$MESABOT_TEST_DATABASE_URL" ] && $(BIN)/python -c "import socket,sys; s=socket.socket(); s.settimeout(1); sys.exit(s.connect_ex(('127.0.0.1',5432)))"; then \
		export MESABOT_TEST_DATABASE_URL="$(PG_URL)"; \
		echo "PostgreSQL en 127.0.0.1:5432: las pruebas de base de datos corren también ahí"; \
	fi; \
	$(BIN)/pytest -n auto -q

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install-dev
	$(BIN)/mypy

check: lint typecheck test

bench: install-dev
	$(BIN)/python benchmarks/run.py

# What the bot understands on the labelled reply corpus: confusion matrix, precision and
# recall per intent, date and entity extraction (tests/data/intents; `--errors` lists misses).
corpus: install-dev
	$(BIN)/python -m tests.corpus $(CORPUS_ARGS)
	@echo; echo "Respuestas apartadas (holdout.jsonl, escritas aparte del motor):"
	$(BIN)/python -m tests.corpus --corpus tests/data/intents/holdout.jsonl $(CORPUS_ARGS)

# SIGKILLs the daemon at random moments while mail arrives, restarts it, checks nothing was
# lost or duplicated (tests/crash/harness.py; `make test` runs a short version).
crash: install-dev
	$(BIN)/python -m tests.crash.harness --backend $(CRASH_BACKEND) --messages $(CRASH_MESSAGES) --kills $(CRASH_KILLS) $(if $(CRASH_SEED),--seed $(CRASH_SEED))

# Debian packages the tests use as real peers: Dovecot (IMAP), LibreOffice (opens the letters
# the bot writes) with metric-compatible fonts. Needs root or sudo.
SYSTEM_PACKAGES := dovecot-imapd libreoffice-writer-nogui libreoffice-calc-nogui fonts-liberation
# Without apt-get, root or password-less sudo it only says so: those tests then skip
# (CI sets MESABOT_REQUIRE_DOVECOT/SOFFICE, which turns a skip into a failure).
system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then \
		echo "Falta:$$missing (sin apt-get: instálelo a mano; esas pruebas se omiten)"; exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=""; \
	elif sudo -n true 2>/dev/null; then SUDO=sudo; \
	else echo "Falta:$$missing (se necesita root o sudo; esas pruebas se omiten)"; exit 0; fi; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
