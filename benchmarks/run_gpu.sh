#!/usr/bin/env bash
# The GPU checks in one run, from the repository root of a GPU machine:
#   bash benchmarks/run_gpu.sh [OUT_DIR]
# Runs the CUDA tests, the packed-attention benchmark, the 7B-shape training benchmark (random weights, no
# download) and the data benchmark: at most 10 minutes on one H200, each step under its own timeout so that a
# failing step leaves the others' figures. On a machine without the project's pure-Python dependencies, put
# their wheels in .whl/ first (see benchmarks/RESULTS.md); they go into a scratch folder, not the system.
set -euo pipefail
OUT_DIR=${1:-benchmarks/out}
mkdir -p "$OUT_DIR"
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/vlm_ocr_site .whl/*.whl
  export PYTHONPATH=/tmp/vlm_ocr_site:$PWD
else
  export PYTHONPATH=$PWD
fi
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT_DIR/gpu.txt"
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)" \
  | tee -a "$OUT_DIR/gpu.txt"
timeout 150 python3 -m pytest -m gpu tests/test_gpu.py -q -p no:cacheprovider -o addopts="" 2>&1 \
  | tee "$OUT_DIR/gpu_tests.log" || echo "gpu tests failed (see gpu_tests.log)"
timeout 45 python3 benchmarks/attention_throughput.py --device cuda --dtype bfloat16 --length 8192 --pages 4 \
  --heads 28 --kv-heads 4 --repeats 10 2>&1 | tee "$OUT_DIR/attention_gpu.log" || echo "attention benchmark failed"
timeout 330 python3 benchmarks/train_throughput.py --mode gpu --json "$OUT_DIR/train_gpu.json" 2>&1 \
  | tee "$OUT_DIR/train_gpu.log" || echo "training benchmark failed (see train_gpu.log)"
timeout 60 python3 benchmarks/data_throughput.py --pages 24 2>&1 | tee "$OUT_DIR/data.log" || echo "data benchmark failed"
