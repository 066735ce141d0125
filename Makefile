# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench clean lock upgrade-lock messages

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is needed")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Installs come from the lock files (every version pinned, every file's hash checked), so a
# classroom install is the one the tests passed on. After a change of pyproject.toml's
# dependencies run `make lock` and commit both files; `pip check` below names a dependency
# that the lock does not hold yet.
LOCK := requirements.lock
DEV_LOCK := requirements-dev.lock
UV_VERSION := 0.13.9
COMPILE = $(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes --quiet

$(VENV)/.installed: $(BIN)/python pyproject.toml $(LOCK)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@$(BIN)/python -m pip check >/dev/null || { $(BIN)/python -m pip check; \
	  echo "the lock misses a dependency of pyproject.toml: run 'make lock'"; exit 1; }
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed $(DEV_LOCK)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(DEV_LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@$(BIN)/python -m pip check >/dev/null || { $(BIN)/python -m pip check; \
	  echo "the lock misses a dependency of pyproject.toml: run 'make lock'"; exit 1; }
	@touch $@

lock: $(BIN)/python  ## pin every dependency (with hashes) after a change of pyproject.toml
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	$(COMPILE) --extra dev -o $(DEV_LOCK)
	$(COMPILE) -c $(DEV_LOCK) -o $(LOCK)
	@echo "pinned: existing versions kept, new dependencies resolved; 'make upgrade-lock' moves all"

upgrade-lock: $(BIN)/python  ## move every pin to its newest version (then run the tests)
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	$(COMPILE) --upgrade --extra dev -o $(DEV_LOCK)
	$(COMPILE) -c $(DEV_LOCK) -o $(LOCK)

# The dashboard's strings (babel.cfg) into the template, then into the en, ru and kk catalogs;
# new strings arrive untranslated, and tests/dashboard/test_i18n.py fails until they are not.
messages: $(VENV)/.installed-dev  ## extract the dashboard's strings and update its catalogs
	$(BIN)/pybabel extract -F babel.cfg -k N_ --no-location --sort-output \
	  --project aqkol --version 0.1 -o dashboard/locales/messages.pot .
	$(BIN)/pybabel update -i dashboard/locales/messages.pot -d dashboard/locales \
	  --no-fuzzy-matching --ignore-obsolete --ignore-pot-creation-date

demo: $(VENV)/.installed  ## run the town: broker, ingest, API, dashboard, simulator
	$(BIN)/aqkol up

test: $(VENV)/.installed-dev  ## lint, type-check, then the whole suite on real broker, database and browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

bench: $(VENV)/.installed-dev  ## measure ingest throughput against a bare subscriber
	$(BIN)/python benchmarks/ingest_throughput.py

clean:
	rm -rf $(VENV) var runs .pytest_cache .ruff_cache .mypy_cache
