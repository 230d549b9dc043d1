# The README's commands. Each target installs what it needs on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: venv test unit clean

venv: $(STAMP)
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## test: the whole test suite (what CI runs)
test: venv
	$(PY) -m pytest

## unit: only the tests that need neither Docker nor replica processes
unit: venv
	$(PY) -m pytest -m 'not docker and not processes'

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache
