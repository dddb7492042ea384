# Two commands do all the set-up: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench templates install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/almmigrate demo

lint: $(STAMP)
	$(BIN)/ruff check almmigrate tests bench
	$(BIN)/ruff format --check almmigrate tests bench
	$(BIN)/mypy almmigrate

test: lint
	$(BIN)/pytest -q -n 2

bench: $(STAMP)
	$(BIN)/python bench/run.py

templates: $(STAMP)
	$(BIN)/almmigrate template --all --out templates/

clean:
	rm -rf $(VENV) build dist *.egg-info
