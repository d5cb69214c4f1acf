#!/usr/bin/env bash
# Report signatures: sign and verify a 20 KB report (client/examples/sign_bench.rs), verified with
# the chain cache (the hub intake's case) and without it.
#
#   bench/sign.sh [ROUNDS]   (default 4000 operations per case)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
cargo build --release -q -p bangfu-client --example sign_bench --manifest-path "$ROOT/Cargo.toml"
if pgrep -x rustc >/dev/null; then BUSY="yes: the figures below are noisy"; else BUSY=no; fi
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) before the run, rustc running: $BUSY"
"$TARGET/release/examples/sign_bench" --rounds "${1:-4000}"
