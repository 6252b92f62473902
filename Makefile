# make demo: install into .venv and render the showcase and the music video; make test: install and run the suite.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
VFX    := $(VENV)/bin/vfx
STAMP  := $(VENV)/.installed

.PHONY: install browser demo test bench docs gallery clean

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

# the kernel tests run twice: for this CPU, then as a baseline x86-64 CPU would run them (Numba
# compiled for a generic target, NumPy's, OpenCV's and torch's AVX/AVX2/AVX-512 dispatch switched off)
BASELINE_CPU := NUMBA_CPU_NAME=generic NUMBA_CACHE_DIR=$(CURDIR)/.cache/numba-generic ATEN_CPU_CAPABILITY=default \
	NPY_DISABLE_CPU_FEATURES="X86_V4 X86_V3" \
	OPENCV_CPU_DISABLE=AVX512_SKX,AVX512_COMMON,AVX512_ICL,AVX512_CLX,AVX512_CNL,AVX2,FMA3,AVX,POPCNT

# lint (ruff: the rules in pyproject.toml) and a type check of the public API (mypy: the files in
# pyproject.toml) before the tests
LINTED := vfx plugins tests examples benchmarks docs

# vfx studio's browser tests drive a headless Chromium: installed with apt-get where there is one
# (as root), else those tests skip and say why
browser:
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || \
	  { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) || \
	    echo "note: no chromium here; the studio's browser tests will be skipped"; }

test: install browser
	$(PY) -m ruff check $(LINTED)
	$(PY) -m ruff format --check $(LINTED)
	$(PY) -m mypy
	$(PY) -m pytest -q
	$(BASELINE_CPU) $(PY) -m pytest -q -p no:cacheprovider -m kernel

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
