# Two commands do all the set-up: `make demo` and `make test`.
# `make demo` (and `make bench`, `make templates`) install only what the tool needs
# (`pip install -e '.[fast-xlsx]'`: the Rust xlsx writer where it has wheels);
# `make test` and `make lint` add the test tools (`.[test]`).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
# The project with the fast-xlsx extra (the Rust xlsx writer, where it has wheels).
# On Alpine (musl), where it has none: `make demo INSTALL=.` installs without it.
INSTALL ?= .[fast-xlsx]

.PHONY: demo test lint bench templates install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '$(INSTALL)'
	touch $(STAMP)

$(TEST_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(TEST_STAMP)

install: $(TEST_STAMP)

demo: $(STAMP)
	$(BIN)/almmigrate demo

lint: $(TEST_STAMP)
	$(BIN)/ruff check almmigrate tests bench
	$(BIN)/ruff format --check almmigrate tests bench
	$(BIN)/mypy almmigrate

test: lint
	$(BIN)/pytest -q -n 2

bench: $(STAMP)
	$(BIN)/python bench/run.py

templates: $(STAMP)
	# The bundled schemas in ALM names, whatever instance the shell names for other commands.
	env -u SDE_URL -u SDE_API $(BIN)/almmigrate template --all --out templates/

clean:
	rm -rf $(VENV) build dist *.egg-info
