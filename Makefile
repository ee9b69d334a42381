# Everything creates and uses .venv; installs go through constraints.txt (CPU torch 2.13.0).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow lint bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)  ## the whole chain on the embedded default
	$(BIN)/edgeprune demo

test: $(STAMP)  ## lint + the default (fast) test run
	$(BIN)/ruff check .
	$(BIN)/pytest

test-slow: $(STAMP)  ## the tests marked slow
	$(BIN)/pytest -m slow

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
