#!/usr/bin/env bash
# The joint audit's cost (issue 11): `bangfu-node report` for all four templates over 100,000
# households, with an empty publication ledger and with 40 earlier publications in it
# (node/examples/joint_bench.rs: 10 rounds of a one-household correction and four new versions).
#
#   bench/joint.sh [HOUSEHOLDS] [ROUNDS] [REPEATS]   (defaults 100000 10 3)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
N=${1:-100000}
ROUNDS=${2:-10}
REPEATS=${3:-3}
cargo build --release -q -p bangfu-node --bin bangfu-node --example joint_bench --manifest-path "$ROOT/Cargo.toml"
B="$TARGET/release/bangfu-node"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
# The prefecture code H: a county's staff numbers hold at most 99,999 households (as bench/import.sh).
"$B" gen --org H --households "$N" --seed 11 --invalid 0 --format csv --out "$T/gen" >/dev/null
"$B" init --data "$T/node" --org H --name 基准县总工会 >/dev/null
for kind in households members aid; do "$B" import --data "$T/node" "$T/gen/$kind.csv" >/dev/null; done
for t in songnuan bangfu_center dajiancha dangan; do
  "$B" campaign add --data "$T/node" --id "b-$t" --template "$t" --title "$t" --start 2025-01-01 --end 2025-12-31 >/dev/null
done
if pgrep -x rustc >/dev/null; then BUSY="yes: the figures below are noisy"; else BUSY=no; fi
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) before the run, rustc running: $BUSY"
echo "archive: $N households (bangfu-node gen --seed 11)"
"$TARGET/release/examples/joint_bench" "$T/node" "$ROUNDS" "$REPEATS"
