# bbjcoder: set-up and go. Every target creates/uses .venv itself.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# llama-cpp-python compiles llama.cpp from source: CPU only, no native-arch flags so the
# wheel pip caches (~/.cache/pip) stays valid on any x86-64 machine of this kind.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_CUDA=OFF -DLLAMA_CURL=OFF
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2

.PHONY: setup demo test check lint bench browser clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# CPU build of torch from the pinned release; a looser pin would pull CUDA wheels.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[train,export,serve,dev]'
	touch $(STAMP)

setup: $(STAMP) browser

# Headless Chromium for the review-page and report tests (Debian package; needs root).
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && apt-get install -y -qq chromium >/dev/null); \
	  else echo "note: install Debian's chromium for the browser tests (sudo apt-get install chromium)"; fi; \
	fi

demo: setup
	$(BIN)/bbjcoder demo

test: setup
	$(BIN)/python -m pytest -q

# The fast lane for the edit-test loop: everything except the tests marked slow (training, real models).
check: setup
	$(BIN)/python -m pytest -q -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

bench: setup
	for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) dataset runs .pytest_cache .mypy_cache
