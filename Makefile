# vlm_ocr: `make demo` trains the embedded default, `make test` runs the tests. `make help` lists the rest.
PYTHON_BOOT ?= python3
VENV ?= .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TINY_MODEL ?= artifacts/tiny-qwen2.5-vl
SAMPLE_DATA ?= artifacts/sample-data
CONFIG ?= experiments/tiny.yaml
PYTEST_ARGS ?=
DEMO_CKPT ?= runs/tiny/checkpoints/last.ckpt
DEMO_EVAL ?= sample_eval,sample_train

.PHONY: help install demo test test-all test-slow test-gpu lint typecheck fmt tiny-model sample-data clean

help:  ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(STAMP): setup.cfg setup.py
	$(PYTHON_BOOT) -m venv $(VENV)
	$(PYTHON) -m pip install -q --upgrade pip
	$(PYTHON) -m pip install -q -e '.[dev]'
	# the original, for the parity suite (tests/parity): its code only, none of its GPU/vllm dependencies
	$(PYTHON) -m pip install -q --no-deps olmocr==0.4.27 || echo "olmocr 0.4.27 not installed (needs Python 3.11+): tests/parity will skip"
	# TRL, the reference of the GRPO losses (tests/parity), and what importing it and olmocr's grpo_train needs
	$(PYTHON) -m pip install -q trl==1.16.0 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install the package with its dev tools

$(TINY_MODEL)/config.json: | $(STAMP)
	$(PYTHON) -m vlm_ocr make-tiny-model $(TINY_MODEL)

$(SAMPLE_DATA)/.complete: | $(STAMP)
	$(PYTHON) -m vlm_ocr make-sample-data $(SAMPLE_DATA)
	touch $@

tiny-model: $(TINY_MODEL)/config.json  ## write the tiny random Qwen2.5-VL (no download)
sample-data: $(SAMPLE_DATA)/.complete  ## write the generated sample pairs

demo: install tiny-model sample-data  ## fit the embedded default (tiny model, sample pages, CPU), predict its eval pages
	$(PYTHON) -m vlm_ocr fit --config $(CONFIG)
	$(PYTHON) -m vlm_ocr predict --config $(CONFIG) --ckpt_path $(DEMO_CKPT) \
		--data.predict_paths '[]' --data.predict_eval_datasets '[$(DEMO_EVAL)]'
	@echo "explore them: jupyter lab notebooks/explore_predictions.ipynb"

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

typecheck: install  ## mypy on the declared seams of the data side (the files in setup.cfg's [mypy])
	$(VENV)/bin/mypy --config-file setup.cfg

fmt: install  ## ruff fix + format
	$(VENV)/bin/ruff check --fix vlm_ocr data_tools tests benchmarks
	$(VENV)/bin/ruff format vlm_ocr data_tools tests benchmarks

clean:  ## remove runs and generated artifacts (keeps .venv)
	rm -rf runs artifacts

# ---- data tools (docs/data_tools.md has an example for each) ----
WORKERS ?= 4
MIX ?= allenai/olmOCR-mix-1025
SUBSET ?= 00_documents
SPLIT ?= train
SAMPLE_DOCS ?= 5000
MAX_GB ?= 25
LOC_CSV ?=
NARA_JSONL ?=
WORKSPACE ?=
PDF_GLOB ?=
BATCH_DIR ?=
RESULTS ?= $(BATCH_DIR)_done
PDF_ROOT ?=
MODEL ?=
BASE_URL ?=
SYNTH_PAGES ?=
OUT ?=
need = $(if $(strip $($(1))),,$(error $(1) is required, e.g. make $@ $(1)=...))

.PHONY: prep-loc prep-nara prep-mix prep-workspace prep-synth silver run-batch process-batch

prep-loc: install  ## LoC "By the People" CSVs -> pairs (LOC_CSV=dir|s3://|url OUT=dir)
	$(call need,LOC_CSV)$(call need,OUT)
	$(PYTHON) -m data_tools prepare_loc_transcripts --input_dir "$(LOC_CSV)" --output_dir "$(OUT)" --run.workers $(WORKERS)

prep-nara: install  ## NARA catalog JSONL -> pairs (NARA_JSONL=dir OUT=dir)
	$(call need,NARA_JSONL)$(call need,OUT)
	$(PYTHON) -m data_tools prepare_national_archive_transcripts --input_dir "$(NARA_JSONL)" --output_dir "$(OUT)" --run.workers $(WORKERS)

prep-mix: install  ## HF olmOCR-mix -> pair tree (MIX=hub-id|dir SUBSET= SPLIT= OUT=dir)
	$(call need,OUT)
	$(PYTHON) -m data_tools prepare_olmocrmix --dataset_path "$(MIX)" --subset "$(SUBSET)" --split "$(SPLIT)" --destination "$(OUT)" --run.workers $(WORKERS)

prep-workspace: install  ## pipeline workspace -> one pair per page (WORKSPACE=dir|s3:// OUT=dir)
	$(call need,WORKSPACE)$(call need,OUT)
	$(PYTHON) -m data_tools prepare_workspace "$(WORKSPACE)" "$(OUT)" --run.workers $(WORKERS)

prep-synth: install  ## PDFs -> synthetic bench pages with unit tests (PDF_GLOB='dir/**/*.pdf' OUT=dir MODEL=name)
	$(call need,PDF_GLOB)$(call need,OUT)$(call need,MODEL)
	$(PYTHON) -m data_tools mine_html_pages --pdfs "$(PDF_GLOB)" --out "$(OUT)" --model "$(MODEL)" \
		$(if $(BASE_URL),--base-url "$(BASE_URL)") $(if $(SYNTH_PAGES),--max-pages $(SYNTH_PAGES)) \
		--pairs "$(OUT)_pairs" --run.workers $(WORKERS)

silver: install  ## sample PDF pages -> batch requests (PDF_GLOB='dir/**/*.pdf' OUT=dir SAMPLE_DOCS=n)
	$(call need,PDF_GLOB)$(call need,OUT)
	$(PYTHON) -m data_tools buildsilver --glob_path "$(PDF_GLOB)" --output "$(OUT)" --num_sample_docs $(SAMPLE_DOCS) --run.workers $(WORKERS)

run-batch: install  ## upload/poll/download OpenAI batches, resumable (BATCH_DIR=dir MAX_GB=25)
	$(call need,BATCH_DIR)
	$(PYTHON) -m data_tools runopenaibatch "$(BATCH_DIR)" --max_gb $(MAX_GB)

process-batch: install  ## batch results -> pairs (RESULTS=dir_done PDF_ROOT=dir|s3:// OUT=dir)
	$(call need,RESULTS)$(call need,PDF_ROOT)$(call need,OUT)
	$(PYTHON) -m data_tools process_openai_batch_results "$(RESULTS)" "$(PDF_ROOT)" "$(OUT)" --run.workers $(WORKERS)
