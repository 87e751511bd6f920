#!/usr/bin/env bash
# Every test: formatting and lints, native tests, the same fixtures in headless chromium
# (wasm-pack test), the package build, its TypeScript types, and the browser end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n\033[1;34m== %s\033[0m\n' "$*"; }

step "setup"
scripts/setup.sh --for-tests
step "cargo fmt --check"
cargo fmt --check
step "cargo clippy (native and wasm32)"
cargo clippy --all-targets -- -D warnings
cargo clippy --target wasm32-unknown-unknown --lib --tests -- -D warnings
step "native tests"
cargo test
step "browser tests of the core (wasm-pack test --headless --chrome)"
wasm-pack --log-level warn test --headless --chrome -- --test web
step "package build"
scripts/build.sh
step "TypeScript types of pkg/"
npx tsc -p tsconfig.json
step "browser end-to-end tests (playwright-core + Debian chromium)"
node --test tests/browser/
