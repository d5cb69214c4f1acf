#!/usr/bin/env bash
# Import through the office UI vs the command line (issue 17 "must reach": the page within 1.5x the
# CLI's time). Generates N synthetic households as .xlsx, imports them with `bangfu-node import` into
# one fresh node, and through `POST /import` of `bangfu-node serve --ui` into another (login, upload,
# polling the job's progress JSON until it is done: the time a clerk waits). Prints both and the ratio.
#
#   bench/office_import.sh [N]   (default 100,000; uses a release build unless BIN is given)
set -euo pipefail
N=${1:-100000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${BENCH_DIR:-$ROOT/bench/out-office}
rm -rf "$OUT" && mkdir -p "$OUT"
if [ -z "${BIN:-}" ]; then
  cargo build --release -q -p bangfu-node --manifest-path "$ROOT/Cargo.toml"
  BIN=$ROOT/target/release/bangfu-node
fi
if pgrep -x rustc >/dev/null; then BUSY="yes: the figures below are noisy"; else BUSY=no; fi
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) before the run, rustc running: $BUSY"

# A prefecture-level org: a county's 职工编号 has room for only 99,999 households.
"$BIN" gen --org H --households "$N" --seed 42 --format xlsx --out "$OUT/gen" >/dev/null
FILE=$OUT/gen/households.xlsx
"$BIN" init --data "$OUT/cli" --org H --name 基准测试 >/dev/null
"$BIN" init --data "$OUT/ui" --org H --name 基准测试 >/dev/null
printf '%s\n' 'bench password 2026' | "$BIN" user add --data "$OUT/ui" --username bench --role clerk --password-stdin >/dev/null

sync
START=$(date +%s.%N)
"$BIN" import --data "$OUT/cli" --json "$FILE" >"$OUT/cli.json"
CLI=$(echo "$(date +%s.%N) - $START" | bc)

"$BIN" serve --data "$OUT/ui" --ui 127.0.0.1:0 --interval 3600 >"$OUT/serve.log" 2>&1 &
SERVE=$!
trap 'kill $SERVE 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do grep -q "office UI on" "$OUT/serve.log" && break; sleep 0.1; done
BASE=$(grep -o "office UI on http://[0-9.:]*" "$OUT/serve.log" | cut -d' ' -f4)
JAR=$OUT/cookies
token() { grep -o 'name="csrf" value="[0-9a-f]*"' | head -1 | cut -d'"' -f4; }
T=$(curl -s -c "$JAR" -b "$JAR" "$BASE/login" | token)
curl -s -o /dev/null -c "$JAR" -b "$JAR" --data-urlencode username=bench \
  --data-urlencode 'password=bench password 2026' --data-urlencode "csrf=$T" "$BASE/login"
T=$(curl -s -c "$JAR" -b "$JAR" "$BASE/import" | token)

sync
START=$(date +%s.%N)
JOB=$(curl -s -o /dev/null -w '%{redirect_url}' -b "$JAR" -F "csrf=$T" -F "file=@$FILE" "$BASE/import")
while :; do
  P=$(curl -s -b "$JAR" -H 'Accept: application/json' "${JOB}/progress")
  case "$P" in *'"state":"done"'*|*'"state":"failed"'*) break ;; esac
  sleep 0.2
done
UI=$(echo "$(date +%s.%N) - $START" | bc)
echo "$P" >"$OUT/ui.json"

python3 - "$N" "$CLI" "$UI" "$OUT/cli.json" "$OUT/ui.json" <<'PY'
import json, sys
n, cli, ui = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
c = json.load(open(sys.argv[4]))["streams"][0]
u = json.load(open(sys.argv[5]))
assert u["state"] == "done", u
u = u["outcome"]["streams"][0]
assert (c["rows_new"], c["rows_rejected"]) == (u["rows_new"], u["rows_rejected"]), (c, u)
print(f"households: {n:,} (.xlsx), new {u['rows_new']:,}, rejected {u['rows_rejected']:,}")
print(f"bangfu-node import: {cli:.2f} s")
print(f"POST /import + progress until done: {ui:.2f} s")
print(f"ratio page / CLI: {ui/cli:.2f}x (goal: at most 1.5x)")
PY
