#!/usr/bin/env bash
# Import benchmark (issue: county node archive). Generates N synthetic households, imports them into
# a fresh node with validation, and, as the floor to compare with, imports the same file into a
# plain table with sqlite3's own `.import`. Prints rows/s, peak memory and the ratio.
#
#   bench/import.sh [N]        (default 1,000,000; uses a release build)
set -euo pipefail
N=${1:-1000000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${BENCH_DIR:-$ROOT/bench/out}
rm -rf "$OUT" && mkdir -p "$OUT"

cargo build --release -q -p bangfu-node --manifest-path "$ROOT/Cargo.toml"
BIN=$ROOT/target/release/bangfu-node
command -v sqlite3 >/dev/null || { echo "sqlite3 is needed for the floor: apt-get install sqlite3" >&2; exit 1; }

# A prefecture-level org: a county's 职工编号 has room for only 99,999 households.
"$BIN" gen --org H --households "$N" --seed 42 --out "$OUT/gen" >/dev/null
FILE=$OUT/gen/households.csv
SIZE=$(du -m "$FILE" | cut -f1)

"$BIN" init --data "$OUT/node" --org H --name 基准测试 >/dev/null
sync
/usr/bin/time -f "%e %M" -o "$OUT/time.txt" "$BIN" import --data "$OUT/node" "$FILE" >"$OUT/import.txt"
read -r SECS KB <"$OUT/time.txt"

# The floor: sqlite3's .import of the same CSV into a plain table (no validation, no indexes),
# in WAL mode and one transaction like bangfu's import.
tail -c +4 "$FILE" >"$OUT/nobom.csv"   # sqlite3 3.40 keeps a BOM in the first column name
sync
/usr/bin/time -f "%e %M" -o "$OUT/time-sqlite.txt" sqlite3 "$OUT/floor.db" \
  "PRAGMA journal_mode=WAL;" "PRAGMA synchronous=NORMAL;" ".mode csv" ".import $OUT/nobom.csv households" >/dev/null
read -r FSECS FKB <"$OUT/time-sqlite.txt"
STORED=$(sqlite3 "$OUT/floor.db" "select count(*) from households")

python3 - "$N" "$SECS" "$KB" "$FSECS" "$FKB" "$SIZE" "$STORED" <<'PY'
import sys
n, secs, kb, fsecs, fkb, size, stored = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), sys.argv[6], sys.argv[7]
print(f"households: {n:,} ({size} MiB CSV)")
print(f"bangfu-node import: {secs:.2f} s, {n/secs:,.0f} rows/s, peak RSS {kb/1024:.0f} MiB")
print(f"sqlite3 .import floor: {fsecs:.2f} s, {n/fsecs:,.0f} rows/s, peak RSS {fkb/1024:.0f} MiB ({stored} rows)")
print(f"ratio bangfu / floor (time): {secs/fsecs:.2f}x")
PY
cat "$OUT/import.txt" | tail -2
