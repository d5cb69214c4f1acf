#!/usr/bin/env bash
# Perimeter benchmark (issue 13): genuine counties push over mutual TLS while an attacker without a
# certificate holds ATTACKERS idle or slow connections open from 127.0.0.2 (hub/examples/perimeter_bench.rs).
#
#   bench/perimeter.sh [SECONDS] [ATTACKERS] [COUNTIES] [PROFILE]   (default 20 2000 20 release)
set -euo pipefail
SECONDS_RUN=${1:-20}
ATTACKERS=${2:-2000}
COUNTIES=${3:-20}
PROFILE=${4:-release}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
ulimit -n "$(ulimit -Hn)"
if [[ $PROFILE == release ]]; then
  cargo build --release -q -p bangfu-hub --example perimeter_bench --manifest-path "$ROOT/Cargo.toml"
  DIR=release
else
  cargo build -q -p bangfu-hub --example perimeter_bench --manifest-path "$ROOT/Cargo.toml"
  DIR=debug
fi
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) before the run, profile $PROFILE"
"$TARGET/$DIR/examples/perimeter_bench" --seconds "$SECONDS_RUN" --attackers "$ATTACKERS" --counties "$COUNTIES"
