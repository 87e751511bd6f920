#!/usr/bin/env bash
# The benchmark: builds pkg/, times wasm-predict natively (the `server` profile) and onnxruntime's
# Python package on the same corpus models, then wasm-predict and onnxruntime-web side by side in
# headless chromium (bench/run.mjs). Prints Markdown tables; writes bench/results/latest.json.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --for-tests
ORT_VERSION=1.23.2   # as models/requirements.txt
if ! target/bench-venv/bin/python -c "import onnxruntime, sys; sys.exit(onnxruntime.__version__ != '$ORT_VERSION')" 2>/dev/null; then
  python3 -m venv target/bench-venv
  target/bench-venv/bin/pip install -q --disable-pip-version-check "onnxruntime==$ORT_VERSION" "numpy==2.3.5"
fi
scripts/build.sh
node bench/run.mjs
