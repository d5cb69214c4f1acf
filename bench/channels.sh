#!/usr/bin/env bash
# Reminder channels: one reminder round for 1,000 overdue children, each with its own WeCom,
# DingTalk (加签), Feishu (签名) robot or mailbox (STARTTLS), on local servers that behave like the
# real ones and keep their published rate limits (hub/examples/channels_bench.rs).
#
#   bench/channels.sh [CHILDREN]   (default 1000; BANGFU_BENCH_DATABASE_URL=postgres://… for PostgreSQL)
#
# The dev profile (dependencies at opt-level 2, as the tests build them): the figure is an upper bound
# of what a release build does.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cargo build -q -p bangfu-hub --example channels_bench --manifest-path "$ROOT/Cargo.toml"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
if pgrep -x rustc >/dev/null; then BUSY="yes: the figures below are noisy"; else BUSY=no; fi
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) before the run, rustc running: $BUSY"
"$TARGET/debug/examples/channels_bench" --children "${1:-1000}"
