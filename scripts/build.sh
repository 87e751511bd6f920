#!/usr/bin/env bash
# Builds the npm package into pkg/: wasm-pack with the installed wasm-bindgen, no wasm-opt
# download, the size budget checked (scripts/size-budget.mjs), then the custom sections stripped
# (see scripts/strip-wasm.mjs).
set -euo pipefail
cd "$(dirname "$0")/.."
wasm-pack --log-level warn build --target web --release
# Before stripping: the breakdown by crate needs the name section. Fails over the budget.
node scripts/size-budget.mjs pkg/wasm_predict_bg.wasm
node scripts/strip-wasm.mjs pkg/wasm_predict_bg.wasm
node scripts/package-shell.mjs
# The dashboard's chart library, from npm, served with the page (never from a CDN).
mkdir -p www/vendor
cp node_modules/chart.js/dist/chart.umd.min.js www/vendor/chart.umd.min.js
