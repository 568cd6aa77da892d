#!/usr/bin/env bash
# lbdsl on a GPU machine, as one short script (docs/performance.md, "On a GPU"):
#   1. the GPU extra (cupy-cuda12x) into a fresh venv, with the test extra;
#   2. the backend-parametrised test subset on CuPy;
#   3. bench/gpu.py: experiment 1, a 64-problem batch, a 4096 -> 8192 perceptron, one epoch of
#      the 784-wide DAE, on CuPy against NumPy (and PyTorch CUDA if the installed torch has it).
# Usage: bash bench/gpu.sh [OUT_DIR]      (OUT_DIR defaults to $OUT, else ./gpu-out)
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-${OUT:-gpu-out}}"
mkdir -p "$out"
{
  echo "== machine"; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
  python3 --version
  rm -rf .gpu-venv && python3 -m venv .gpu-venv
  .gpu-venv/bin/pip install -q -e '.[gpu,test]' 2>&1 | grep -v WARNING | tail -3
  .gpu-venv/bin/python -c "import cupy, torch; print('cupy', cupy.__version__, 'torch', torch.__version__, 'torch cuda', torch.cuda.is_available())"
  echo "== tests on cupy"
  LBDSL_BACKENDS=cupy timeout 240 .gpu-venv/bin/pytest -q -p no:cacheprovider -k cupy \
      tests/ops tests/prox tests/regularisers tests/lift tests/solvers tests/training 2>&1 | tail -15
  echo "== bench"
  timeout 240 .gpu-venv/bin/python bench/gpu.py --backend cupy --out "$out/gpu.json"
} 2>&1 | tee "$out/gpu.log"
