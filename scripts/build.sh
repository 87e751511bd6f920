#!/usr/bin/env bash
# Builds the npm package into pkg/: wasm-pack with the installed wasm-bindgen, no wasm-opt
# download, twice: the default entry (pkg/, without the `onnx` feature: compiled plans only) and
# the full entry (pkg/full/, with the ONNX importer). Each is checked against its size budget
# (scripts/size-budget.mjs), then stripped of its custom sections (scripts/strip-wasm.mjs).
set -euo pipefail
cd "$(dirname "$0")/.."
wasm-pack --log-level warn build --target web --release --out-dir pkg -- --no-default-features
# Before stripping: the breakdown by crate needs the name section. Fails over the budget.
node scripts/size-budget.mjs default pkg/wasm_predict_bg.wasm
node scripts/strip-wasm.mjs pkg/wasm_predict_bg.wasm
wasm-pack --log-level warn build --target web --release --out-dir target/pkg-full
node scripts/size-budget.mjs full target/pkg-full/wasm_predict_bg.wasm
node scripts/strip-wasm.mjs target/pkg-full/wasm_predict_bg.wasm
# The full entry is a folder of the package, not a package of its own: its module and types only.
rm -rf pkg/full
mkdir -p pkg/full
cp target/pkg-full/wasm_predict.js target/pkg-full/wasm_predict.d.ts target/pkg-full/wasm_predict_bg.wasm pkg/full/
node scripts/package-shell.mjs
# The dashboard's chart library, from npm, served with the page (never from a CDN).
mkdir -p www/vendor
cp node_modules/chart.js/dist/chart.umd.min.js www/vendor/chart.umd.min.js
