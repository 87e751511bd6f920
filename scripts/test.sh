#!/usr/bin/env bash
# Every test: formatting and lints, the package build (first: the native `bench` test opens it in
# chromium), native tests (the collector's against SQLite and a throwaway PostgreSQL server on
# loopback), the same fixtures in headless chromium (wasm-pack test), the package's TypeScript
# types, and the browser end-to-end tests.
# A failing test step does not stop the run: every step runs, every failing test is reported
# (`cargo test --no-fail-fast`), and the run fails at the end, naming the steps that failed.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n\033[1;34m== %s\033[0m\n' "$*"; }
failed=()
# Runs a test step, timed; a failure is recorded and the run goes on.
check() {
  local name=$1 start=$SECONDS
  shift
  step "$name"
  if "$@"; then
    printf '\033[1;32m-- %s: passed (%ds)\033[0m\n' "$name" $((SECONDS - start))
  else
    printf '\033[1;31m-- %s: FAILED (%ds)\033[0m\n' "$name" $((SECONDS - start))
    failed+=("$name")
  fi
}

step "setup"
scripts/setup.sh --for-tests
step "cargo fmt --check"
cargo fmt --check
step "cargo clippy (native and wasm32)"
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy --target wasm32-unknown-unknown --lib --tests -- -D warnings
cargo clippy --target wasm32-unknown-unknown -p wasm-predict-kernels -- -D warnings
# The package's default entry: the crate without its `onnx` feature (no tract).
cargo clippy --no-default-features --lib -- -D warnings
cargo clippy --target wasm32-unknown-unknown --no-default-features --lib -- -D warnings
step "PostgreSQL on loopback for the collector's tests"
pg_dir=$(mktemp -d /tmp/wasm-predict-pg.XXXXXX)
pg_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
trap 'scripts/postgres.sh stop "$pg_dir" 2>/dev/null || true; rm -rf "$pg_dir"' EXIT
WASM_PREDICT_TEST_PG=$(scripts/postgres.sh start "$pg_dir" "$pg_port")
export WASM_PREDICT_TEST_PG WASM_PREDICT_REQUIRE_PG=1
echo "$WASM_PREDICT_TEST_PG"
step "package build (pkg/, which the bench test opens in chromium)"
scripts/build.sh

check "generated types match their JSON Schemas (scripts/gen-types.mjs --check)" node scripts/gen-types.mjs --check
check "the collector and the bundle format build without the model engine (no tract)" \
  bash -c '! cargo tree -e normal --prefix none -p wasm-predict-collector -p wasm-predict-manifest | grep "^tract"'
check "the package's default entry builds without the model importer (no tract)" \
  bash -c '! cargo tree -e normal --prefix none --no-default-features -p wasm-predict --target wasm32-unknown-unknown | grep "^tract"'
check "native tests" cargo test --workspace --no-fail-fast
check "verify every committed bundle (the models' regression test)" \
  cargo run --quiet -p wasm-predict-cli -- verify models
# The runner gives the whole suite 20 s by default, and its polls of the page wait on tests that
# run on the page's one thread: a loaded machine (or a slower CPU) timed it out mid-suite.
export WASM_BINDGEN_TEST_TIMEOUT=${WASM_BINDGEN_TEST_TIMEOUT:-900}
check "browser tests of the core (wasm-pack test --headless --chrome)" \
  wasm-pack --log-level warn test --headless --chrome -- --test web
check "TypeScript types of pkg/" npx tsc -p tsconfig.json
check "browser end-to-end tests (playwright-core + Debian chromium)" node --test tests/browser/

if [ ${#failed[@]} -gt 0 ]; then
  printf '\n\033[1;31mFAILED (%d step(s)):\033[0m\n' ${#failed[@]}
  printf '  %s\n' "${failed[@]}"
  exit 1
fi
printf '\n\033[1;32mall tests passed (%d s)\033[0m\n' "$SECONDS"
