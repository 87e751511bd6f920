#!/usr/bin/env bash
# Every test: formatting and lints, the package build (first: the native `bench` test opens it in
# chromium), native tests (the collector's against SQLite and a throwaway PostgreSQL server on
# loopback), the same fixtures in headless chromium (wasm-pack test), the package's TypeScript
# types, and the browser end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n\033[1;34m== %s\033[0m\n' "$*"; }

step "setup"
scripts/setup.sh --for-tests
step "cargo fmt --check"
cargo fmt --check
step "cargo clippy (native and wasm32)"
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy --target wasm32-unknown-unknown --lib --tests -- -D warnings
cargo clippy --target wasm32-unknown-unknown -p wasm-predict-kernels -- -D warnings
step "PostgreSQL on loopback for the collector's tests"
pg_dir=$(mktemp -d /tmp/wasm-predict-pg.XXXXXX)
pg_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
trap 'scripts/postgres.sh stop "$pg_dir" 2>/dev/null || true; rm -rf "$pg_dir"' EXIT
WASM_PREDICT_TEST_PG=$(scripts/postgres.sh start "$pg_dir" "$pg_port")
export WASM_PREDICT_TEST_PG WASM_PREDICT_REQUIRE_PG=1
echo "$WASM_PREDICT_TEST_PG"
step "package build (pkg/, which the bench test opens in chromium)"
scripts/build.sh
step "native tests"
cargo test --workspace
step "verify every committed bundle (the models' regression test)"
cargo run --quiet -p wasm-predict-server -- verify models
step "browser tests of the core (wasm-pack test --headless --chrome)"
wasm-pack --log-level warn test --headless --chrome -- --test web
step "TypeScript types of pkg/"
npx tsc -p tsconfig.json
step "browser end-to-end tests (playwright-core + Debian chromium)"
node --test tests/browser/
