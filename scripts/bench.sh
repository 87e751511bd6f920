#!/usr/bin/env bash
# The browser benchmark: builds pkg/, then measures wasm-predict and onnxruntime-web side by side
# in headless chromium (bench/run.mjs). Prints a Markdown table; writes bench/results/latest.json.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --for-tests
scripts/build.sh
node bench/run.mjs
