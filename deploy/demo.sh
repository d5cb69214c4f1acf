#!/usr/bin/env bash
# bangfu's main job, the whole tree on one machine: a province hub HB (湖北省总工会), two prefecture
# hubs H (荆门市) and J (黄冈市) under it, four county nodes (H01 H02 J01 J02) and one 市直 node H08
# beside H's hub. One CA issues every certificate; every county generates a synthetic archive (never
# real people) and imports it; the province creates a `dangan` campaign, which flows down; the nodes'
# `serve` pushes their reports up over mutual TLS; the script waits until the province's rollup is
# complete, prints it with every process's address and data folder, and keeps running until Ctrl-C,
# which stops every process it started.
#
#   deploy/demo.sh [--households N] [--dir DIR] [--fresh] [--once] [--port BASE]
#
#   --households N  households per node (default 5000)
#   --dir DIR       where everything is kept (default: a fresh temp dir). Run again with the same DIR
#                   to restart the same tree; --fresh deletes it first (only a folder this script made).
#   --once          stop everything after printing (tests, CI)
#   --port BASE     the province listens on BASE, H on BASE+1, J on BASE+2 (default 18443), on 127.0.0.1;
#                   the province's dashboard (plain HTTP, for a browser) on BASE+3
#
# BANGFU_BIN_DIR=DIR uses the bangfu-node and bangfu-hub in DIR instead of building release binaries.
set -euo pipefail
command -v jq >/dev/null || { echo "demo.sh needs jq (apt-get install jq) / 需要 jq" >&2; exit 1; }

HOUSEHOLDS=5000 DIR="" FRESH=0 ONCE=0 PORT=18443
die() { echo "错误 / error: $*" >&2; exit 2; }
while (($#)); do
  case $1 in
    --households) HOUSEHOLDS=${2:?--households needs a number}; shift 2 ;;
    --dir) DIR=${2:?--dir needs a folder}; shift 2 ;;
    --fresh) FRESH=1; shift ;;
    --once) ONCE=1; shift ;;
    --port) PORT=${2:?--port needs a number}; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 / 未知参数 (see --help)" ;;
  esac
done
[[ $HOUSEHOLDS =~ ^[0-9]+$ && $HOUSEHOLDS -gt 0 ]] || die "--households $HOUSEHOLDS: not a positive number / 户数应为正整数"
[[ $PORT =~ ^[0-9]+$ && $PORT -gt 0 && $PORT -lt 65532 ]] || die "--port $PORT: not a port number / 端口号无效"

ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [[ -n ${BANGFU_BIN_DIR:-} ]]; then
  BIN=$(cd "$BANGFU_BIN_DIR" && pwd)
else
  echo "== building release binaries (cargo build --release -p bangfu-node -p bangfu-hub)"
  cargo build --release -q --manifest-path "$ROOT/Cargo.toml" -p bangfu-node -p bangfu-hub
  BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
fi
NODE=$BIN/bangfu-node HUB=$BIN/bangfu-hub
[[ -x $NODE && -x $HUB ]] || die "no bangfu-node / bangfu-hub in $BIN / 找不到可执行文件"

# The folder: a marker says this script made it, so --fresh never deletes anything else.
MARK=.bangfu-demo
if [[ -z $DIR ]]; then
  DIR=$(mktemp -d -t bangfu-demo.XXXXXX)
elif [[ -e $DIR && ! -f $DIR/$MARK && -n $(ls -A "$DIR" 2>/dev/null) ]]; then
  die "--dir $DIR holds files this script did not make; not touching it / 目录非空且不是演示目录"
elif ((FRESH)) && [[ -f $DIR/$MARK ]]; then
  rm -rf "$DIR"
fi
mkdir -p "$DIR/logs"
DIR=$(cd "$DIR" && pwd)
touch "$DIR/$MARK"

CAMPAIGN=demo-dangan
TODAY=$(TZ=Asia/Shanghai date +%F)
HOST=127.0.0.1
# org  parent  name  (hubs first, then nodes; the 市直 node H08 follows seed 002: 市直H08)
HUBS=("HB||湖北省总工会" "H|HB|荆门市总工会" "J|HB|黄冈市总工会")
NODES=("H01|H|京山县总工会" "H02|H|沙洋县总工会" "H08|H|荆门市直属单位工会（市直）" "J01|J|黄州区总工会" "J02|J|团风县总工会")
declare -A URL=([HB]="https://$HOST:$PORT" [H]="https://$HOST:$((PORT + 1))" [J]="https://$HOST:$((PORT + 2))")
declare -A SEED=([H01]=101 [H02]=102 [H08]=108 [J01]=201 [J02]=202)

# ---- processes: started here, all stopped on exit (Ctrl-C, error or --once) ----
PIDS=() NAMES=() SIGS=()
stop_all() {
  local i pid deadline left
  # Stopping must go on even if printing fails (stdout closed by `| head`, terminal gone).
  set +e
  trap - INT TERM HUP EXIT
  ((${#PIDS[@]})) || return 0
  echo
  echo "== stopping / 正在停止"
  # Newest first: the nodes, then the prefectures, then the province, so nothing pushes into a closed hub.
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    kill -"${SIGS[i]}" "${PIDS[i]}" 2>/dev/null || true
  done
  deadline=$((SECONDS + 15))
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    pid=${PIDS[i]}
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "  ${NAMES[i]} (pid $pid) did not stop on SIG${SIGS[i]} within 15 s: killed / 未能正常停止，已强制结束"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null && left=0 || left=$?
    echo "  ${NAMES[i]} (pid $pid) stopped, exit status $left"
  done
  PIDS=()
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
# A closed stdout (`demo.sh | head`) must not kill the script before it stops its processes: without
# this, SIGPIPE ends bash at once and the EXIT trap never runs.
trap '' PIPE

# start NAME SIGNAL LOG CMD... : runs CMD in the background, remembers how to stop it.
start() {
  local name=$1 sig=$2 log=$3
  shift 3
  "$@" >>"$log" 2>&1 &
  PIDS+=($!) NAMES+=("$name") SIGS+=("$sig")
}

# Waits until a hub's log says it listens (it prints the line once bound), or gives up.
wait_listening() {
  local org=$1 log=$2 pid=$3 from=$4 deadline=$((SECONDS + 30))
  until tail -c +"$from" "$log" | grep -q "listening on ${URL[$org]}"; do
    kill -0 "$pid" 2>/dev/null || die "hub $org exited at start-up / 上级平台启动失败: $(tail -n 3 "$log" | tr '\n' ' ')"
    ((SECONDS < deadline)) || die "hub $org did not start listening in 30 s; see $log / 启动超时"
    sleep 0.1
  done
}

# ---- set up, once per folder ----
if [[ ! -f $DIR/setup-done ]]; then
  [[ ! -e $DIR/pki ]] || die "$DIR holds a set-up that did not finish; run again with --fresh / 上次初始化未完成，请加 --fresh"
  echo "== 1. The province's certificate authority, and a certificate for every unit ($DIR/pki)"
  "$HUB" pki init --dir "$DIR/pki" --org HB --name 湖北省总工会 >/dev/null
  for h in "${HUBS[@]}"; do
    IFS='|' read -r org _ name <<<"$h"
    "$HUB" pki issue --dir "$DIR/pki" --org "$org" --name "$name" --host $HOST --host localhost --out "$DIR/tls-$org" >/dev/null
  done
  for n in "${NODES[@]}"; do
    IFS='|' read -r org _ name <<<"$n"
    "$HUB" pki issue --dir "$DIR/pki" --org "$org" --name "$name" --out "$DIR/tls-$org" >/dev/null
  done
  "$HUB" pki list --dir "$DIR/pki" | sed 's/^/   /'

  echo "== 2. The hubs: province HB with its prefectures H and J, each with its counties registered"
  for h in "${HUBS[@]}"; do
    IFS='|' read -r org parent name <<<"$h"
    level=prefecture
    [[ -n $parent ]] || level=province
    "$HUB" init --data "$DIR/hub-$org" --org "$org" --name "$name" --level $level --tls "$DIR/tls-$org" --pki "$DIR/pki" \
      ${parent:+--parent "${URL[$parent]}"} >/dev/null
    if [[ -n $parent ]]; then "$HUB" org add --data "$DIR/hub-$parent" --code "$org" --name "$name" >/dev/null; fi
  done
  for n in "${NODES[@]}"; do
    IFS='|' read -r org parent name <<<"$n"
    "$HUB" org add --data "$DIR/hub-$parent" --code "$org" --name "$name" >/dev/null
  done

  echo "== 3. The province's campaign $CAMPAIGN: the archive (dangan) as of $TODAY; counties due in 7 days, prefectures in 14"
  "$HUB" campaign create --data "$DIR/hub-HB" --id $CAMPAIGN --template dangan --title "困难职工档案统计（演示）" \
    --start "${TODAY:0:4}-01-01" --end "$TODAY" --due county="$(date -d "$TODAY + 7 days" +%F)" \
    --due prefecture="$(date -d "$TODAY + 14 days" +%F)" --due province="$(date -d "$TODAY + 21 days" +%F)" | sed 's/^/   /'

  echo "== 4. Every node: a synthetic archive of $HOUSEHOLDS households (bangfu-node gen), imported with validation"
  for n in "${NODES[@]}"; do
    IFS='|' read -r org parent name <<<"$n"
    "$NODE" gen --org "$org" --households "$HOUSEHOLDS" --seed "${SEED[$org]}" --out "$DIR/gen-$org" >/dev/null
    "$NODE" init --data "$DIR/node-$org" --org "$org" --name "$name" --parent "${URL[$parent]}" --tls "$DIR/tls-$org" >/dev/null
    "$NODE" import --data "$DIR/node-$org" "$DIR/gen-$org/households.csv" "$DIR/gen-$org/members.csv" "$DIR/gen-$org/aid.csv" \
      >"$DIR/logs/import-$org.log"
    echo "   $org $name"
    grep '读取 read' "$DIR/logs/import-$org.log" | sed 's/^ */     /'
    "$NODE" check --data "$DIR/node-$org" --limit 0 | tail -n 1 | sed 's/^ */     /' || true
  done
  touch "$DIR/setup-done"
else
  echo "== $DIR is set up already: restarting its tree (--fresh to start over)"
fi

# ---- run ----
echo "== 5. Starting the hubs (province first, so the prefectures find their campaign) and the nodes"
for h in "${HUBS[@]}"; do
  IFS='|' read -r org _ _ <<<"$h"
  log=$DIR/logs/hub-$org.log
  from=$(($(stat -c %s "$log" 2>/dev/null || echo 0) + 1))
  # bangfu-hub serve stops cleanly on SIGINT (Ctrl-C); SIGTERM is not handled by it.
  dashboard=()
  [[ $org == HB ]] && dashboard=(--http "$HOST:$((PORT + 3))")
  start "hub $org" INT "$log" "$HUB" serve --data "$DIR/hub-$org" --listen "${URL[$org]#https://}" --sync-interval 1 "${dashboard[@]}"
  wait_listening "$org" "$log" "${PIDS[-1]}" "$from"
done
for n in "${NODES[@]}"; do
  IFS='|' read -r org _ _ <<<"$n"
  start "node $org" TERM "$DIR/logs/node-$org.log" "$NODE" serve --data "$DIR/node-$org" --interval 2
done

echo "== 6. Waiting for the province's rollup to be complete (every prefecture in, with every county inside)"
# A prefecture's report embeds its counties' reports, so "complete" is: every prefecture in, and
# every node inside one of them.
complete=".completeness.missing == [] and .completeness.received == .completeness.expected
  and ([.children[].children[]] | length) == ${#NODES[@]}"
deadline=$((SECONDS + 180))
until "$HUB" rollup --data "$DIR/hub-HB" --campaign $CAMPAIGN >"$DIR/rollup-HB.json" 2>/dev/null && jq -e "$complete" "$DIR/rollup-HB.json" >/dev/null; do
  for i in "${!PIDS[@]}"; do
    kill -0 "${PIDS[i]}" 2>/dev/null || die "${NAMES[i]} stopped unexpectedly; see $DIR/logs / 进程意外退出"
  done
  ((SECONDS < deadline)) || die "the province's rollup is not complete after 180 s; see $DIR/logs and $DIR/rollup-HB.json / 汇总超时"
  sleep 0.5
done

cell() { jq -r "$1 | if .value != null then .value else \"[\(.lower), \(.upper)]\" end" "$DIR/rollup-HB.json"; }
echo
echo "== The province's rollup (full JSON: $DIR/rollup-HB.json)"
jq -r '"campaign \(.campaign), \(.org) \(.name), version \(.version)",
  "completeness / 完整性: expected \(.completeness.expected), received \(.completeness.received), on time \(.completeness.on_time), late \(.completeness.late), missing \(.completeness.missing)"' \
  "$DIR/rollup-HB.json"
declare -A NAME
for u in "${HUBS[@]}" "${NODES[@]}"; do IFS='|' read -r org _ name <<<"$u"; NAME[$org]=$name; done
while IFS=$'\t' read -r depth org total version; do
  printf '%*s%s %s: total %s, version %s\n' $((depth * 2)) '' "$org" "${NAME[$org]}" "$total" "$version"
done < <(jq -r 'def v: if .value != null then .value else "[\(.lower), \(.upper)]" end;
  .children[] | "1\t\(.org)\t\(.cells.total | v)\t\(.version)", (.children[] | "2\t\(.org)\t\(.cells.total | v)\t\(.version)")' "$DIR/rollup-HB.json")
echo "province total / 全省合计: $(cell .cells.total)"
echo "by category / 按困难类别: 低保户 $(cell '.cells["category.低保户"]'), 低保边缘户 $(cell '.cells["category.低保边缘户"]'), 意外致困户 $(cell '.cells["category.意外致困户"]')"
if "$HUB" status --help >/dev/null 2>&1; then
  echo
  "$HUB" status --data "$DIR/hub-HB" --campaign $CAMPAIGN || true
fi

echo
echo "== Processes / 进程 (logs in $DIR/logs)"
for i in "${!PIDS[@]}"; do
  org=${NAMES[i]#* }
  if [[ ${NAMES[i]} == hub* ]]; then
    printf '  %-9s pid %-7s %-24s data %s\n' "${NAMES[i]}" "${PIDS[i]}" "${URL[$org]}" "$DIR/hub-$org"
  else
    printf '  %-9s pid %-7s %-24s data %s\n' "${NAMES[i]}" "${PIDS[i]}" "(pushes, no listener)" "$DIR/node-$org"
  fi
done
echo "  CA: $DIR/pki   synthetic archives: $DIR/gen-*"
DASHBOARD=http://$HOST:$((PORT + 3))/campaigns/$CAMPAIGN
# The dashboard shows nothing before login: one demo account (a reviewer) with a fresh password.
DEMO_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 16)
if ! "$HUB" user list --data "$DIR/hub-HB" 2>/dev/null | grep -q '^demo\b'; then
  printf '%s\n' "$DEMO_PASSWORD" | "$HUB" user add --data "$DIR/hub-HB" --username demo --role reviewer --password-stdin >/dev/null
else
  printf '%s\n' "$DEMO_PASSWORD" | "$HUB" user passwd --data "$DIR/hub-HB" --username demo --password-stdin >/dev/null
fi
echo "  dashboard / 看板 (the province's live rollup, open in a browser): $DASHBOARD"
echo "    log in as demo / 登录：用户名 demo，密码 $DEMO_PASSWORD"
if command -v curl >/dev/null; then
  # Without a session a data path answers 401 and the style is public: the dashboard is up.
  [[ $(curl -sS -o /dev/null -w '%{http_code}' "http://$HOST:$((PORT + 3))/campaigns/$CAMPAIGN/tree") == 401 ]] &&
    curl -fsS -o /dev/null "http://$HOST:$((PORT + 3))/static/style.css" ||
    die "the province's dashboard does not answer at $DASHBOARD; see $DIR/logs/hub-HB.log / 看板无响应"
fi

if ((ONCE)); then
  exit 0
fi
echo
echo "Running. Ctrl-C stops every process above. / 运行中，按 Ctrl-C 停止全部进程。"
echo "Try: $HUB rollup --data $DIR/hub-H --campaign $CAMPAIGN"
while true; do
  for i in "${!PIDS[@]}"; do
    if ! kill -0 "${PIDS[i]}" 2>/dev/null; then
      # Ctrl-C reaches the children too, and one may be gone before bash runs its INT trap: give
      # the trap its turn, so an interrupt is not reported as a crash.
      sleep 0.5
      echo "${NAMES[i]} stopped unexpectedly; see $DIR/logs / 进程意外退出" >&2
      exit 1
    fi
  done
  sleep 1 &
  wait $! || true
done
