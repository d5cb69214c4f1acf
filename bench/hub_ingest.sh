#!/usr/bin/env bash
# Hub intake benchmark: a real `bangfu-hub serve` (release) in a temp dir, 200 county identities,
# each posting new versions of its `dangan` report over mutual TLS for SECONDS. Prints posts,
# failures, reports/s and client-side latency (hub/examples/ingest_bench.rs).
#
#   bench/hub_ingest.sh [SECONDS] [sqlite|postgres|both]   (default 20 sqlite)
#
# postgres: creates a fresh database on postgres://postgres@127.0.0.1:5432 with psql (PGURL to
# change the server) and drops it afterwards.
set -euo pipefail
SECONDS_RUN=${1:-20}
WHICH=${2:-sqlite}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}

cargo build --release -q -p bangfu-hub --bin bangfu-hub --example ingest_bench --manifest-path "$ROOT/Cargo.toml"
BENCH=$TARGET/release/examples/ingest_bench
export BANGFU_HUB=$TARGET/release/bangfu-hub

if pgrep -x rustc >/dev/null; then BUSY="yes: the figures below are noisy"; else BUSY=no; fi
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) before the run, rustc running: $BUSY"

if [[ $WHICH == sqlite || $WHICH == both ]]; then
  "$BENCH" --seconds "$SECONDS_RUN"
fi
if [[ $WHICH == postgres || $WHICH == both ]]; then
  PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432}
  DB=bangfu_bench_$$
  psql "$PGURL/postgres" -q -c "CREATE DATABASE $DB"
  trap 'psql "$PGURL/postgres" -q -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"' EXIT
  "$BENCH" --seconds "$SECONDS_RUN" --database-url "$PGURL/$DB"
fi
