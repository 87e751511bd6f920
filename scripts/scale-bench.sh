#!/usr/bin/env bash
# Reports at scale, for the README: fills SQLite and a throwaway PostgreSQL with EVENTS synthetic
# events through the store's own insert (rollups included, examples/fill_store.rs), then serves
# each and times every report the dashboard asks for, reads the collector's peak memory, and runs
# the HTTP load test against the full store for ingest throughput. Writes bench/results/scale.json.
# Usage: scripts/scale-bench.sh [events] [load-test seconds] [database...]
# Named databases (a postgres:// URL or a SQLite file filled before) are measured as they are,
# not filled: a run on a quiet machine of stores filled beside other work.
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-10000000} seconds=${2:-30}
given=("${@:3}")
cargo build --quiet --profile server -p wasm-predict-cli
cargo build --quiet --profile server -p wasm-predict-collector --example fill_store
target="${CARGO_TARGET_DIR:-target}/server"
work=$(mktemp -d /tmp/wasm-predict-scale.XXXXXX)
chmod 755 "$work"   # the PostgreSQL server runs as the postgres user
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
cleanup() { kill "${server:-}" 2>/dev/null || true; scripts/postgres.sh stop "$work/pg" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
if [ ${#given[@]} -eq 0 ]; then
  databases=("$(scripts/postgres.sh start "$work/pg" "$(free_port)")" "$work/events.db")
else
  databases=("${given[@]}")
fi
results="["
for db in "${databases[@]}"; do
  store=${db%%:*}; [ "$store" = postgres ] || store=sqlite
  if [ ${#given[@]} -eq 0 ]; then
    echo "== $store: filling with $events events" >&2
    fill=$("$target/examples/fill_store" "$db" "$events" 7 4)
    echo "   $fill" >&2
  else
    echo "== $store: measuring $db as it is" >&2
    fill=null
  fi
  # After a bulk load the planner's statistics are stale until autovacuum comes by.
  if [ "$store" = postgres ]; then psql "$db" -qc "ANALYZE"; fi
  port=$(free_port)
  # serve first joins the outcomes left waiting while nothing read the store (the fill).
  started=$(date +%s.%N)
  "$target/wasm-predict" serve --db "$db" --addr "127.0.0.1:$port" --admin-token scale --rate-limit 0 >"$work/serve.log" 2>&1 &
  server=$!
  for _ in $(seq 3000); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  start_seconds=$(python3 -c "import time; print(round(time.time() - $started, 2))")
  echo "   serve answers after ${start_seconds} s" >&2
  timings="{"
  for path in ab "timeline?minutes=1" drift now-test review "ab?hours=24" "timeline?minutes=1&hours=24" "drift?hours=24" "now-test?hours=1"; do
    worst=0
    for _ in 1 2 3; do
      t=$(curl -sf -o /dev/null -w '%{time_total}' -H "authorization: Bearer scale" "http://127.0.0.1:$port/v1/reports/$path")
      worst=$(python3 -c "print(max($worst, $t))")
    done
    echo "   GET /v1/reports/$path: worst of 3 ${worst} s" >&2
    timings+="\"$path\": $worst, "
  done
  counted=$(curl -sf -H "authorization: Bearer scale" "http://127.0.0.1:$port/v1/reports/ab" | python3 -c "import json, sys; print(json.load(sys.stdin)['events'])")
  echo "   the A/B report counts $counted events" >&2
  [ "$counted" -gt 0 ] || { echo "the reports read nothing" >&2; exit 1; }
  start=$(date +%s.%N)
  "$target/wasm-predict" report ab --db "$db" --json >/dev/null
  cli=$(python3 -c "import time; print(round(time.time() - $start, 3))")
  echo "   wasm-predict report ab (a whole process): $cli s" >&2
  load=$("$target/wasm-predict" load-test --url "http://127.0.0.1:$port" --clients 100 --seconds "$seconds" --json)
  echo "   ingest on the full store: $load" >&2
  peak_kb=$(awk '/VmHWM/ {print $2}' "/proc/$server/status")
  echo "   collector peak memory: $((peak_kb / 1024)) MB" >&2
  kill "$server"; wait "$server" 2>/dev/null || true
  if [ "$store" = postgres ]; then
    size=$(psql "$db" -Atc "SELECT pg_database_size(current_database())")
  else
    size=$(stat -c %s "$db")
  fi
  results+="{\"store\": \"$store\", \"fill\": $fill, \"reports_seconds\": ${timings%, }}, \"ab_events_counted\": $counted, \"cli_report_ab_seconds\": $cli, \"serve_start_seconds\": $start_seconds, \"ingest_on_full_store\": $load, \"collector_peak_mb\": $((peak_kb / 1024)), \"database_bytes\": $size},"
  if [ "$store" = sqlite ] && [ ${#given[@]} -eq 0 ]; then rm -f "$db" "$db-wal" "$db-shm"; fi
done
results="${results%,}]"
mkdir -p bench/results
python3 -c "import json, sys; json.dump({'machine': open('/proc/cpuinfo').read().split('model name')[1].split('\n')[0].strip(': \t'), 'events': $events, 'stores': json.loads(sys.argv[1])}, open('bench/results/scale.json', 'w'), indent=1)" "$results"
echo "wrote bench/results/scale.json" >&2
