#!/usr/bin/env bash
# The main job on the embedded default: installs what is missing, builds the package, then the
# collector serves the demo (an int8-vs-QDQ experiment on the digits model), the bundles, the
# ingest API and the dashboard on loopback, with events in target/wasm-predict.db (SQLite).
# Usage: scripts/demo.sh [port]    (the admin token is printed, or set WASM_PREDICT_ADMIN_TOKEN)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
exec cargo run --quiet --profile server -p wasm-predict-cli -- serve --addr "127.0.0.1:${1:-8080}" --db target/wasm-predict.db
