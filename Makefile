# Set-up and entry points. `make repro` and `make test` install what is missing, then run.
# A second run reinstalls nothing: the stamp file is newer than pyproject.toml.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
FAISS ?= cpu
STAMP := $(VENV)/.installed-$(FAISS)
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export DVC_NO_ANALYTICS := 1

.PHONY: setup repro test lint bench

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@if [ "$(FAISS)" = gpu ]; then $(VENV)/bin/pip uninstall -y -q faiss-cpu || true; \
	 else $(VENV)/bin/pip uninstall -y -q faiss-gpu || true; fi
	$(VENV)/bin/pip install --disable-pip-version-check -q -e ".[$(FAISS),dev]"
	@rm -f $(VENV)/.installed-*
	@touch $@

repro: $(STAMP)
	dvc repro

test: $(STAMP)
	python -m pytest -q

lint: $(STAMP)
	ruff check src tests benchmarks studies && ruff format --check src tests benchmarks studies

bench: $(STAMP)
	python -m benchmarks.run_all
