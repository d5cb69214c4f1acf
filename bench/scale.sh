#!/usr/bin/env bash
# Scale benchmark: a province of 200 counties under 10 prefectures (real release hubs over mutual TLS,
# SQLite stores), each county posting a real `dangan` report of HOUSEHOLDS households. Measures the time
# from the counties' pushes to a complete province rollup, and every hub's peak memory (VmHWM).
#
#   bench/scale.sh [HOUSEHOLDS] [ARCHIVES] [COUNTIES_PER_PREFECTURE]   (default 5000 4 20)
#
# Generating and importing 200 archives of 5,000 households would take longer than the rollup itself,
# so ARCHIVES real archives are generated (`bangfu-node gen`), imported into real nodes, and their
# campaign reports (`bangfu-node report`) reused under the 200 county codes (only "org" differs).
# Counties post with curl (the county's own certificate from `bangfu-hub pki`), 8 at a time.
# The province total must equal the sum of the 200 reports' totals.
set -euo pipefail
HOUSEHOLDS=${1:-5000}
ARCHIVES=${2:-4}
PER=${3:-20}
PARALLEL=8
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [[ -n ${BANGFU_BIN_DIR:-} ]]; then
  BIN=$BANGFU_BIN_DIR
else
  cargo build --release -q -p bangfu-hub -p bangfu-node --manifest-path "$ROOT/Cargo.toml"
  BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
fi
HUB=$BIN/bangfu-hub NODE=$BIN/bangfu-node
W=$(mktemp -d -t bangfu-scale.XXXXXX)
CAMPAIGN=scale-dangan
PREFS=(A B C D E F G H J K)

PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$W"
}
trap cleanup EXIT

if pgrep -x rustc >/dev/null; then BUSY="yes: the figures below are noisy"; else BUSY=no; fi
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) before the run, rustc running: $BUSY"

# serve ORG: starts a hub on a free port; sets URL_ORG.
declare -A URL PID
serve() {
  local org=$1
  : >"$W/hub-$org.out"
  RUST_LOG=warn "$HUB" serve --data "$W/hub-$org" --listen 127.0.0.1:0 --sync-interval 1 >"$W/hub-$org.out" 2>"$W/hub-$org.log" &
  PIDS+=($!) PID[$org]=$!
  until grep -q '^listening on ' "$W/hub-$org.out"; do kill -0 "${PID[$org]}" || { cat "$W/hub-$org.log"; exit 1; }; sleep 0.05; done
  URL[$org]=$(sed -n 's/^listening on //p' "$W/hub-$org.out")
}

t=$SECONDS
"$HUB" pki init --dir "$W/pki" --org HB --name 湖北省总工会 >/dev/null
issue() { "$HUB" pki issue --dir "$W/pki" --org "$1" --name 单位 "${@:2}" --out "$W/tls-$1" >/dev/null; }
issue HB --host 127.0.0.1
"$HUB" init --data "$W/hub-HB" --org HB --name 湖北省总工会 --level province --tls "$W/tls-HB" >/dev/null
TODAY=$(TZ=Asia/Shanghai date +%F)
"$HUB" campaign create --data "$W/hub-HB" --id $CAMPAIGN --template dangan --title 档案 --start "${TODAY:0:4}-01-01" --end "$TODAY" \
  --due county=2099-12-31 --due prefecture=2099-12-31 >/dev/null
serve HB
COUNTIES=()
for p in "${PREFS[@]}"; do
  issue "$p" --host 127.0.0.1
  "$HUB" org add --data "$W/hub-HB" --code "$p" --name 市总工会 >/dev/null
  "$HUB" init --data "$W/hub-$p" --org "$p" --name 市总工会 --level prefecture --tls "$W/tls-$p" --parent "${URL[HB]}" >/dev/null
  for ((i = 1; i <= PER; i++)); do
    c=$(printf '%s%02d' "$p" "$i")
    issue "$c"
    "$HUB" org add --data "$W/hub-$p" --code "$c" --name 县总工会 >/dev/null
    COUNTIES+=("$c")
  done
  serve "$p"
done
for p in "${PREFS[@]}"; do
  until "$HUB" rollup --data "$W/hub-$p" --campaign $CAMPAIGN >/dev/null 2>&1; do sleep 0.2; done
done
echo "set up: 1 province, ${#PREFS[@]} prefectures, ${#COUNTIES[@]} counties (certificates, registrations) in $((SECONDS - t)) s"

t=$SECONDS
for ((k = 0; k < ARCHIVES; k++)); do
  "$NODE" gen --org H01 --households "$HOUSEHOLDS" --seed $((500 + k)) --out "$W/gen-$k" >/dev/null
  "$NODE" init --data "$W/node-$k" --org H01 --name 县总工会 >/dev/null
  "$NODE" import --data "$W/node-$k" "$W/gen-$k/households.csv" "$W/gen-$k/members.csv" "$W/gen-$k/aid.csv" >/dev/null
  "$NODE" campaign add --data "$W/node-$k" --id $CAMPAIGN --template dangan --title 档案 --start "${TODAY:0:4}-01-01" --end "$TODAY" >/dev/null
  "$NODE" report --data "$W/node-$k" --campaign $CAMPAIGN >"$W/report-$k.json"
done
mkdir "$W/post"
SUM=0
for i in "${!COUNTIES[@]}"; do
  c=${COUNTIES[i]}
  jq -c --arg org "$c" '.org = $org' "$W/report-$((i % ARCHIVES)).json" >"$W/post/$c.json"
  SUM=$((SUM + $(jq '.cells.total.value' "$W/post/$c.json")))
  echo "$c ${URL[${c:0:1}]}" >>"$W/post/list"
done
echo "reports: $ARCHIVES archives of $HOUSEHOLDS households generated, imported and reported in $((SECONDS - t)) s; ${#COUNTIES[@]} reports of $(stat -c %s "$W/post/${COUNTIES[0]}.json") bytes each; sum of totals $SUM"

declare -A BEFORE
for org in HB "${PREFS[@]}"; do BEFORE[$org]=$(awk '/VmHWM/ {print $2}' "/proc/${PID[$org]}/status"); done

post() {
  local c=$1 url=$2 code
  code=$(curl -sS -o "$W/post/$c.ack" -w '%{http_code}' --cacert "$W/tls-$c/ca.pem" --cert "$W/tls-$c/cert.pem" --key "$W/tls-$c/key.pem" \
    -H 'content-type: application/json' --data-binary "@$W/post/$c.json" "$url/api/v1/reports")
  [[ $code == 201 ]] || { echo "$c: HTTP $code $(cat "$W/post/$c.ack")" >&2; return 1; }
}
export -f post
export W
complete=".completeness.received == .completeness.expected and .completeness.missing == []
  and ([.children[].children[]] | length) == ${#COUNTIES[@]}"
T0=$(date +%s.%N)
xargs -P $PARALLEL -L 1 bash -c 'post "$@"' _ <"$W/post/list"
T1=$(date +%s.%N)
POLLS=0
until curl -sS --cacert "$W/tls-HB/ca.pem" --cert "$W/tls-HB/cert.pem" --key "$W/tls-HB/key.pem" \
    "${URL[HB]}/api/v1/campaigns/$CAMPAIGN/rollup" -o "$W/rollup.json" && jq -e "$complete and .cells.total.value == $SUM" "$W/rollup.json" >/dev/null; do
  POLLS=$((POLLS + 1))
  (( $(date +%s) - ${T0%.*} < 600 )) || { echo "not complete after 600 s:"; jq -c '.completeness, .cells.total' "$W/rollup.json"; exit 1; }
  sleep 0.1
done
T2=$(date +%s.%N)
printf 'pushes: %d reports posted in %.2f s (%d at a time)\n' "${#COUNTIES[@]}" "$(echo "$T1 - $T0" | bc)" $PARALLEL
printf 'complete province rollup %.2f s after the first push (%d polls of the province rollup, 0.1 s apart)\n' "$(echo "$T2 - $T0" | bc)" "$POLLS"
echo "province total $(jq '.cells.total.value' "$W/rollup.json") = sum of the county reports $SUM; province rollup JSON $(stat -c %s "$W/rollup.json") bytes; $(jq '[.children[].children[]] | length' "$W/rollup.json") counties inside"
echo "peak memory (VmHWM) per hub, before the pushes → after:"
for org in HB "${PREFS[@]}"; do
  printf '  %-3s %6d MiB → %6d MiB\n' "$org" $((BEFORE[$org] / 1024)) $(($(awk '/VmHWM/ {print $2}' "/proc/${PID[$org]}/status") / 1024))
done
