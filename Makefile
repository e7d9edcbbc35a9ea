# The README's two commands: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# `make run HOST=0.0.0.0 PORT=8000` (or HOST / PORT in the environment).
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test install lint translations extract-messages clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Compiled catalogues are built, never committed.
translations: $(STAMP)
	$(BIN)/pybabel compile --use-fuzzy -d feedback/translations -D messages || true

extract-messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k tr:2 -k ntr:2,3 -k N_ -k _l -k lazy_gettext -o feedback/translations/messages.pot .
	$(BIN)/pybabel update -i feedback/translations/messages.pot -d feedback/translations

run: translations
	$(BIN)/feedback run-demo --host $(HOST) --port $(PORT)

test: translations
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check feedback channels tests bench

clean:
	rm -rf $(VENV) instance .pytest_cache
