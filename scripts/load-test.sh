#!/usr/bin/env bash
# The collector's load figures for the README: an optimized build, then 100 concurrent clients
# for 30 s against SQLite and against a throwaway PostgreSQL server, all on loopback; every
# acknowledged id is checked in the database afterwards.
# Usage: scripts/load-test.sh [seconds] [clients]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30} clients=${2:-100}
cargo build --quiet --profile server -p wasm-predict-cli
bin="${CARGO_TARGET_DIR:-target}/server/wasm-predict"
work=$(mktemp -d /tmp/wasm-predict-load.XXXXXX)
chmod 755 "$work"   # the PostgreSQL server runs as the postgres user
pg_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cleanup() { kill "${server:-}" 2>/dev/null || true; scripts/postgres.sh stop "$work/pg" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
pg_url=$(scripts/postgres.sh start "$work/pg" "$pg_port")
for db in "$work/events.db" "$pg_url"; do
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$bin" serve --db "$db" --addr "127.0.0.1:$port" --admin-token load --rate-limit 0 >"$work/serve.log" 2>&1 &
  server=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  echo "== ${db%%:*} (${db##*/})"
  "$bin" load-test --url "http://127.0.0.1:$port" --clients "$clients" --seconds "$seconds" --acked-file "$work/acked.txt" --json
  kill "$server"; wait "$server" 2>/dev/null || true
  acked=$(sort -u "$work/acked.txt" | wc -l)
  if [ "${db%%:*}" = postgres ]; then
    stored=$(psql "$db" -Atc "SELECT count(*) FROM events WHERE experiment = 'load-test'")
  else
    stored=$(python3 -c "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute(\"SELECT count(*) FROM events WHERE experiment = 'load-test'\").fetchone()[0])" "$db")
  fi
  echo "acknowledged ids: $acked, stored: $stored"
  [ "$acked" = "$stored" ] || { echo "LOST EVENTS" >&2; exit 1; }
  rm -f "$work/acked.txt"
done
