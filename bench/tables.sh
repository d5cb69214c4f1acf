#!/usr/bin/env bash
# Tables benchmark (issue: statistic tables with disclosure control): all four built-in templates with
# disclosure control over the 1,000,000-household archive that bench/import.sh built, and DuckDB
# computing the `dangan` counts from the same CSV as the anchor.
#
#   bench/import.sh && bench/tables.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${BENCH_DIR:-$ROOT/bench/out}
[ -f "$OUT/node/archive.db" ] || { echo "run bench/import.sh first" >&2; exit 1; }
AS_OF=$(TZ=Asia/Shanghai date +%F)

cargo run --release -q -p bangfu-node --example report_bench --manifest-path "$ROOT/Cargo.toml" -- "$OUT/node" "$AS_OF"
/usr/bin/time -f "bangfu-node report --template dangan (whole command, load included): %e s, peak RSS %M KB" \
  "$ROOT/target/release/bangfu-node" report --data "$OUT/node" --template dangan --as-of "$AS_OF" >/dev/null

python3 -c "import duckdb" 2>/dev/null || pip install --quiet duckdb
python3 "$ROOT/bench/duckdb_dangan.py" "$OUT/gen/households.csv" "$AS_OF"
