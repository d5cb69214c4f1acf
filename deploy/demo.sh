#!/usr/bin/env bash
# bangfu's main job, on one machine: a county node generates a synthetic archive (never real people),
# imports it with validation, and prints what it holds, the eligibility warnings and the statistic
# table it would report.
#
#   bash deploy/demo.sh [HOUSEHOLDS]      (default 5,000)
set -euo pipefail
N=${1:-5000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${BANGFU_DEMO_DIR:-$(mktemp -d -t bangfu-demo.XXXXXX)}

cargo build --release -q --manifest-path "$ROOT/Cargo.toml" -p bangfu-node
NODE=$ROOT/target/release/bangfu-node

echo "== 1. A synthetic archive for 京山县 (H01): $N households, 2% deliberately broken rows"
"$NODE" gen --org H01 --households "$N" --seed 2016 --invalid 0.02 --out "$WORK/files"

echo "== 2. A county node, 低保 line 400 元/month, edge band 1.2"
"$NODE" init --data "$WORK/node" --org H01 --name 京山县总工会 --dibao-line 400 --edge-ratio 1.2

echo "== 3. Import households, then their family members and aid records"
"$NODE" import --data "$WORK/node" "$WORK/files/households.csv" "$WORK/files/members.csv" "$WORK/files/aid.csv"

echo "== 4. Eligibility (精准识别) warnings"
"$NODE" check --data "$WORK/node" --limit 10

echo "== 5. The archive table (dangan) as it would leave the county: small counts withheld as <3"
"$NODE" report --data "$WORK/node" --template dangan --as-of "$(TZ=Asia/Shanghai date +%F)" --format table | head -40

echo
echo "The node's state is in $WORK/node; the refused rows are in $WORK/files/*.rejects.csv"
