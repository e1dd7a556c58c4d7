# Everything a fresh machine needs, from nothing to a demo or a green test suite.
#   make demo   create .venv, install, run `repmon demo`
#   make test   create .venv, install, run the whole test suite (SQLite and PostgreSQL)
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# torch is pinned exactly: a looser pin resolves to a multi-GB CUDA build.
TORCH := torch==2.13.0

.PHONY: install demo test lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q '$(TORCH)'
	$(BIN)/python -m pip install -q -e '.[dev,postgres,cluster]' '$(TORCH)'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/repmon demo

test: install
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
