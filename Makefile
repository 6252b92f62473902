# make demo: install into .venv and render the showcase and the music video; make test: install and run the suite.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
VFX    := $(VENV)/bin/vfx
STAMP  := $(VENV)/.installed

.PHONY: install demo test bench docs gallery clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e ".[test,bench]"
	touch $(STAMP)

demo: install
	$(PY) pipelines/make_assets.py out/assets
	$(VFX) render pipelines/showcase.toml
	$(VFX) render pipelines/music_video.toml
	@echo "wrote out/showcase.mp4 and out/music_video.mp4"

test: install
	$(PY) -m pytest -q

bench: install
	$(PY) benchmarks/run.py

docs: install
	$(PY) docs/make_node_reference.py

# a contact sheet PNG of every example pipeline into docs/gallery/ (linked from the README)
gallery: install
	$(PY) pipelines/make_assets.py out/assets
	mkdir -p docs/gallery
	for p in pipelines/*.toml; do \
	  name=$$(basename $$p .toml); \
	  $(VFX) preview $$p --sheet 8 --columns 4 --thumb-width 200 -o docs/gallery/$$name.png || exit 1; \
	done

clean:
	rm -rf out .pytest_cache build *.egg-info
