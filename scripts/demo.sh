#!/usr/bin/env bash
# The main job: builds pkg/ and serves the demo page, which runs the embedded default model.
# Usage: scripts/demo.sh [port]   (default 8080)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
exec node scripts/serve.mjs "${1:-8080}"
