# shellcheck shell=bash disable=SC2034
# bench/lib.sh: shared helpers for the benchmark scripts (sourced, not run).
#
# Each script: `source "$(dirname "$0")/../lib.sh"`, then `bench_init NAME` (a work dir in
# $BENCH_WORK, an EXIT trap that stops every process started with bench_bg and removes the
# work dir), then bench_bg/free_port/wait_http... Processes are stopped by pid only.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LOADGEN="$BENCH_DIR/loadgen/loadgen"
UPSTREAM="$BENCH_DIR/upstream/upstream"

BENCH_PIDS=()
BENCH_NAME=bench
BENCH_WORK=

bench_log() { echo "$BENCH_NAME: $*" >&2; }
bench_die() { bench_log "$*"; exit 1; }

bench_require() {
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null || bench_die "$t not found (run scripts/install-deps.sh)"
  done
}

# Stops what bench_bg started, newest first: SIGTERM, then SIGKILL after a grace period
# (frost drains and stops its instances on SIGTERM, so it gets longer).
bench_cleanup() {
  local rc=$? i pid deadline
  trap - EXIT INT TERM
  for ((i = ${#BENCH_PIDS[@]} - 1; i >= 0; i--)); do
    kill -TERM "${BENCH_PIDS[i]}" 2>/dev/null || true
  done
  deadline=$((SECONDS + 20))
  for pid in "${BENCH_PIDS[@]}"; do
    while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.05; done
    if kill -0 "$pid" 2>/dev/null; then
      bench_log "pid $pid did not stop on SIGTERM; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  [ -n "$BENCH_WORK" ] && [ -z "${BENCH_KEEP:-}" ] && rm -rf "$BENCH_WORK"
  [ -n "${BENCH_KEEP:-}" ] && [ -n "$BENCH_WORK" ] && bench_log "kept work dir $BENCH_WORK"
  exit "$rc"
}

bench_init() {
  BENCH_NAME=$1
  BENCH_WORK=$(mktemp -d "${TMPDIR:-/tmp}/frost-$1.XXXXXX")
  chmod 755 "$BENCH_WORK"
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  bench_pinning
}

# bench_bg LOGFILE CMD...: start CMD in the background, remember its pid in BG_PID.
bench_bg() {
  local log=$1
  shift
  "$@" >"$log" 2>&1 &
  BG_PID=$!
  BENCH_PIDS+=("$BG_PID")
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_http URL [seconds] [pid]: until URL answers anything (any status); fails if pid dies.
wait_http() {
  local url=$1 deadline=$((SECONDS + ${2:-10})) pid=${3:-}
  until curl -s -o /dev/null --max-time 1 "$url"; do
    [ -z "$pid" ] || kill -0 "$pid" 2>/dev/null || bench_die "process $pid exited before $url answered"
    [ $SECONDS -lt $deadline ] || bench_die "$url did not answer"
    sleep 0.05
  done
}

# CPU pinning. With 2+ CPUs the load generator gets CPU 0 and every server the others, so
# the client does not steal the servers' CPU (and the other way round): PIN_CLIENT and
# PIN_SERVER are command prefixes (arrays). BENCH_PIN=0 turns it off.
bench_pinning() {
  local n
  n=$(nproc 2>/dev/null || echo 1)
  PIN_CLIENT=()
  PIN_SERVER=()
  PIN_NOTE="not pinned"
  if [ "${BENCH_PIN:-1}" != 0 ] && [ "$n" -ge 2 ] && command -v taskset >/dev/null; then
    PIN_CLIENT=(taskset -c 0)
    if [ "$n" -eq 2 ]; then PIN_SERVER=(taskset -c 1); else PIN_SERVER=(taskset -c "1-$((n - 1))"); fi
    PIN_NOTE="load generator on CPU 0, servers on CPU ${PIN_SERVER[2]}"
  fi
}

build_tools() {
  make -s -C "$BENCH_DIR/loadgen" >&2 || bench_die "building loadgen failed (needs libuv1-dev, libhttp-parser-dev)"
  make -s -C "$BENCH_DIR/upstream" >&2 || bench_die "building upstream failed"
}

# json_get FILE EXPR: a value from a JSON file, EXPR in Python (`j` is the document).
json_get() {
  python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# ---- Frost ---------------------------------------------------------------------------------

# frost_start FROST [serve args...]: starts frost serve on a free loopback port with a data
# dir in the work dir, pinned with the servers. Sets FROST_ADDR, FROST_PID, FROST_DATA and
# FROST_BIN. It runs a copy of FROST: Frost starts its instances through its own binary
# (`frost __exec`), so a rebuild of build/frost during the run would make starts fail.
frost_start() {
  local frost=$1
  shift
  [ -x "$frost" ] || bench_die "$frost not found or not executable (make build)"
  FROST_BIN="$BENCH_WORK/frost"
  cp "$frost" "$FROST_BIN"
  chmod 755 "$FROST_BIN"
  # Its exec helper goes along: instances start through it when it is beside frost.
  if [ -x "$(dirname "$frost")/frost-exec" ]; then
    cp "$(dirname "$frost")/frost-exec" "$BENCH_WORK/frost-exec"
  fi
  FROST_DATA="$BENCH_WORK/frost-data"
  bench_bg "$BENCH_WORK/frost.out" "${PIN_SERVER[@]}" "$FROST_BIN" serve --listen 127.0.0.1:0 \
    --data-dir "$FROST_DATA" --log-file "$BENCH_WORK/frost.log" "$@"
  FROST_PID=$BG_PID
  local deadline=$((SECONDS + 15))
  until [ -s "$FROST_DATA/frost.addr" ]; do
    kill -0 "$FROST_PID" 2>/dev/null || { cat "$BENCH_WORK/frost.out" >&2; bench_die "frost serve exited"; }
    [ $SECONDS -lt $deadline ] || bench_die "frost serve did not start listening"
    sleep 0.05
  done
  FROST_ADDR=$(cat "$FROST_DATA/frost.addr")
}

# frost_invocations_available: true when the server has the invocation route. Today
# `POST /2023-03-30/functions/x/invocations` answers 404 with Code "NotFound" (no such
# route); once invocations land it answers FunctionNotFound (x does not exist) instead.
frost_invocations_available() {
  local body code
  body="$BENCH_WORK/probe.json"
  code=$(curl -s -o "$body" -w '%{http_code}' -X POST \
    "http://$FROST_ADDR/2023-03-30/functions/x/invocations" || echo 000)
  if [ "$code" = 404 ] && grep -Eq '"Code" *: *"NotFound"' "$body"; then
    return 1
  fi
  [ "$code" != 000 ]
}

FROST_SKIP_MSG="frost invocations not available yet"

# frost_deploy S_YAML: deploy with the frost CLI (unsigned: no keys on loopback).
frost_deploy() {
  FROST_ENDPOINT="http://$FROST_ADDR" "$FROST_BIN" deploy -t "$1" >"$BENCH_WORK/deploy.out" 2>&1 ||
    { cat "$BENCH_WORK/deploy.out" >&2; bench_die "frost deploy $1 failed"; }
}

# frost_ready_instances FN: how many instances of FN ListInstances reports ready (0 when the
# route is missing).
frost_ready_instances() {
  curl -s "http://$FROST_ADDR/2023-03-30/functions/$1/instances" | python3 -c '
import json, sys
try:
    j = json.load(sys.stdin)
except ValueError:
    print(0); sys.exit()
print(sum(1 for i in j.get("instances", []) if i.get("state", i.get("status", "")).lower() in ("ready", "running")))'
}

# frost_live_instances FN: instances of FN not yet stopped (scale-to-zero reached when 0).
frost_live_instances() {
  curl -s "http://$FROST_ADDR/2023-03-30/functions/$1/instances" | python3 -c '
import json, sys
try:
    j = json.load(sys.stdin)
except ValueError:
    print(-1); sys.exit()
if "instances" not in j:
    print(-1); sys.exit()
print(sum(1 for i in j["instances"] if i.get("state", i.get("status", "")).lower() not in ("stopped", "failed", "destroyed")))'
}

# frost_stop: stop the frost serve of frost_start now (the EXIT trap would do it at the end).
frost_stop() {
  [ -n "${FROST_PID:-}" ] || return 0
  kill -TERM "$FROST_PID" 2>/dev/null || true
  local deadline=$((SECONDS + 20))
  while kill -0 "$FROST_PID" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.05; done
  kill -KILL "$FROST_PID" 2>/dev/null || true
  wait "$FROST_PID" 2>/dev/null || true
  FROST_PID=
}
