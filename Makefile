# vlm_ocr: `make demo` trains the embedded default, `make test` runs the tests. `make help` lists the rest.
PYTHON_BOOT ?= python3
VENV ?= .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TINY_MODEL ?= artifacts/tiny-qwen2.5-vl
SAMPLE_DATA ?= artifacts/sample-data
CONFIG ?= experiments/tiny.yaml
PYTEST_ARGS ?=

.PHONY: help install demo test test-all test-slow test-gpu lint fmt tiny-model sample-data clean

help:  ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(STAMP): setup.cfg setup.py
	$(PYTHON_BOOT) -m venv $(VENV)
	$(PYTHON) -m pip install -q --upgrade pip
	$(PYTHON) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install the package with its dev tools

$(TINY_MODEL)/config.json: | $(STAMP)
	$(PYTHON) -m vlm_ocr make-tiny-model $(TINY_MODEL)

$(SAMPLE_DATA)/.complete: | $(STAMP)
	$(PYTHON) -m vlm_ocr make-sample-data $(SAMPLE_DATA)
	touch $@

tiny-model: $(TINY_MODEL)/config.json  ## write the tiny random Qwen2.5-VL (no download)
sample-data: $(SAMPLE_DATA)/.complete  ## write the generated sample pairs

demo: install tiny-model sample-data  ## fit the embedded default (tiny model, sample pages, CPU)
	$(PYTHON) -m vlm_ocr fit --config $(CONFIG)

test: install  ## the test suite (not slow, not gpu)
	$(PYTHON) -m pytest $(PYTEST_ARGS)

test-slow: install  ## the slow tests
	$(PYTHON) -m pytest -m slow $(PYTEST_ARGS)

test-all: install  ## every CPU test, slow ones included
	$(PYTHON) -m pytest -m "not gpu" $(PYTEST_ARGS)

test-gpu: install  ## the GPU tests (needs CUDA)
	$(PYTHON) -m pytest -m gpu $(PYTEST_ARGS)

lint: install  ## ruff check + format check
	$(VENV)/bin/ruff check vlm_ocr data_tools tests benchmarks
	$(VENV)/bin/ruff format --check vlm_ocr data_tools tests benchmarks

fmt: install  ## ruff fix + format
	$(VENV)/bin/ruff check --fix vlm_ocr data_tools tests benchmarks
	$(VENV)/bin/ruff format vlm_ocr data_tools tests benchmarks

clean:  ## remove runs and generated artifacts (keeps .venv)
	rm -rf runs artifacts
