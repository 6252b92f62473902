# make demo: install into .venv and render the showcase; make test: install and run the suite.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
VFX    := $(VENV)/bin/vfx
STAMP  := $(VENV)/.installed

.PHONY: install demo test bench docs clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e ".[test,bench]"
	touch $(STAMP)

demo: install
	$(VFX) render pipelines/showcase.toml
	@echo "wrote out/showcase.mp4"

test: install
	$(PY) -m pytest -q

bench: install
	$(PY) benchmarks/run.py

docs: install
	$(PY) docs/make_node_reference.py

clean:
	rm -rf out .pytest_cache build *.egg-info
