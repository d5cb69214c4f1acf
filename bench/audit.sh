#!/usr/bin/env bash
# The hub's disclosure check per report: exact audit vs the fast verdict (shared/examples/audit_speed.rs),
# on the 200 `dangan` reports the intake benchmark sends.
#
#   bench/audit.sh [ROUNDS]   (default 5)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
cargo build --release -q -p bangfu-shared --example audit_speed --manifest-path "$ROOT/Cargo.toml"
if pgrep -x rustc >/dev/null; then BUSY="yes: the figures below are noisy"; else BUSY=no; fi
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) before the run, rustc running: $BUSY"
"$TARGET/release/examples/audit_speed" --rounds "${1:-5}"
