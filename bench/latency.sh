#!/usr/bin/env bash
# Latency benchmark: a county's new report version → its appearance in the province's rollup through
# a prefecture hub; p50/p99 over SAMPLES versions, hubs only (posted with the client library) and
# through a real node's `bangfu-node push` (hub/examples/latency_bench.rs). Release build.
#
#   bench/latency.sh [SAMPLES] [HOUSEHOLDS]   (default 200 2000)
set -euo pipefail
SAMPLES=${1:-200}
HOUSEHOLDS=${2:-2000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}

# BANGFU_BIN_DIR=DIR: binaries (and examples/latency_bench) already built there, e.g. target/debug.
if [[ -n ${BANGFU_BIN_DIR:-} ]]; then
  BIN=$(cd "$BANGFU_BIN_DIR" && pwd)
else
  cargo build --release -q -p bangfu-hub -p bangfu-node --bins --example latency_bench --manifest-path "$ROOT/Cargo.toml"
  BIN=$TARGET/release
fi
if pgrep -x rustc >/dev/null; then BUSY="yes: the figures below are noisy"; else BUSY=no; fi
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) before the run, rustc running: $BUSY"
BANGFU_BIN_DIR=$BIN "$BIN/examples/latency_bench" --samples "$SAMPLES" --households "$HOUSEHOLDS"
