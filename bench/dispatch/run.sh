#!/usr/bin/env bash
# bench/dispatch: request dispatch to concurrency-1 instances under open-loop load.
#
# Four bench/upstream instances (each serves one request at a time). bench/loadgen sends
# Poisson arrivals; each request carries x-sleep-ms chosen per request from MIX (default
# 80 % 10 ms / 20 % 200 ms), so the service time is set by the client and is the same for
# every peer (same --seed: the same arrival times and the same service times).
# Capacity = instances / mean service time (4 / 48 ms = 83.3 req/s); the load points are
# LOADS percent of it. Peers, all haproxy with one thread:
#   roundrobin  balance roundrobin, no maxconn: requests queue at the instance they were
#               sent to (blind dispatch, a short request can wait behind a 200 ms one)
#   leastconn   balance leastconn, maxconn 1 per server: requests queue in haproxy and go to
#               the first free instance (one central FIFO queue: the best a peer does here)
#   frost       POST /2023-03-30/functions/bench-echo/invocations on a function of 4
#               instances with instanceConcurrency 1 (see run_frost; skipped until
#               invocations exist)
# Prints p50/p99/p99.9 per peer and load, and the ratios to leastconn (lower is better).
#
# usage: bench/dispatch/run.sh [path/to/frost] [seconds-per-point]
#   env: WARMUP (s, 5), LOADS ("50 70 90"), MIX, SEED (1), INSTANCES (4), BENCH_PIN (1),
#        OUT_DIR (keep the loadgen JSON there), FROST_DISPATCH_PATH (invoke|trigger)
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

FROST=${1:-build/frost}
DUR=${2:-${DUR:-60}}
WARMUP=${WARMUP:-5}
LOADS=${LOADS:-"50 70 90"}
MIX=${MIX:-x-sleep-ms:80:10,20:200}
SEED=${SEED:-1}
INSTANCES=${INSTANCES:-4}
TIMEOUT=${TIMEOUT:-30}

bench_init dispatch
bench_require haproxy curl python3 make
build_tools
RES="$BENCH_WORK/results"
mkdir -p "$RES"

# Mean service time (ms) of the mix: sum(weight * value) / sum(weight).
MEAN_MS=$(python3 -c '
import sys
name, rest = sys.argv[1].split(":", 1)
pairs = [e.split(":", 1) for e in rest.split(",")]
print(sum(float(w) * float(v) for w, v in pairs) / sum(float(w) for w, _ in pairs))' "$MIX")
CAPACITY=$(python3 -c "print($INSTANCES * 1000.0 / $MEAN_MS)")

# ---- the instances -------------------------------------------------------------------------
UP_PORTS=()
for i in $(seq 1 "$INSTANCES"); do
  p=$(free_port)
  bench_bg "$BENCH_WORK/upstream-$i.log" "${PIN_SERVER[@]}" "$UPSTREAM" --port "$p" --concurrency 1
  UP_PORTS+=("$p")
done
for p in "${UP_PORTS[@]}"; do wait_http "http://127.0.0.1:$p/" 5; done

# Waits until every instance has finished what it was sent (its FIFO queue is empty), so a
# point does not start with the previous point's backlog.
drain_instances() {
  local p pids=()
  for p in "${UP_PORTS[@]}"; do
    curl -s -o /dev/null --max-time 120 -H 'x-sleep-ms: 0' "http://127.0.0.1:$p/" &
    pids+=($!)
  done
  wait "${pids[@]}" || true
}

# ---- haproxy: both policies in one process, one thread -------------------------------------
RR_PORT=$(free_port)
LC_PORT=$(free_port)
{
  cat <<CFG
global
  nbthread 1
  maxconn 8000
defaults
  mode http
  timeout connect 5s
  timeout client 120s
  timeout server 120s
  timeout queue 120s
frontend roundrobin
  bind 127.0.0.1:$RR_PORT
  default_backend roundrobin
frontend leastconn
  bind 127.0.0.1:$LC_PORT
  default_backend leastconn
backend roundrobin
  balance roundrobin
CFG
  for i in "${!UP_PORTS[@]}"; do echo "  server s$i 127.0.0.1:${UP_PORTS[i]}"; done
  echo "backend leastconn"
  echo "  balance leastconn"
  for i in "${!UP_PORTS[@]}"; do echo "  server s$i 127.0.0.1:${UP_PORTS[i]} maxconn 1"; done
} >"$BENCH_WORK/haproxy.cfg"
haproxy -c -q -f "$BENCH_WORK/haproxy.cfg" || bench_die "bad haproxy config"
bench_bg "$BENCH_WORK/haproxy.log" "${PIN_SERVER[@]}" haproxy -db -f "$BENCH_WORK/haproxy.cfg"
HAPROXY_PID=$BG_PID
wait_http "http://127.0.0.1:$RR_PORT/" 5 "$HAPROXY_PID"
wait_http "http://127.0.0.1:$LC_PORT/" 5 "$HAPROXY_PID"

# run_point NAME URL RATE OUT [extra loadgen args]: one open-loop run.
run_point() {
  local name=$1 url=$2 rate=$3 out=$4
  shift 4
  drain_instances
  "${PIN_CLIENT[@]}" "$LOADGEN" --url "$url" --rate "$rate" --duration "$DUR" --warmup "$WARMUP" \
    --seed "$SEED" --timeout "$TIMEOUT" --mix "$MIX" --out "$out" "$@" 2>"$out.txt" ||
    bench_die "loadgen failed against $name: $(cat "$out.txt")"
  sed "s/^loadgen:/  $name:/" "$out.txt" >&2
}

# ==== Frost (switch on when invocations land) ================================================
# frost_setup: starts frost, deploys bench-echo (INSTANCES instances of bench/upstream, each
# instanceConcurrency 1, provisioned and capped at INSTANCES by reservedConcurrency so Frost has
# the same instances as the peers), warms them, and sets FROST_URL. cpu 0.25 so that the
# instances fit the node's default capacity (sched.node_cpus = this machine's CPUs): the
# instances only sleep, and 4 x 1 CPU would not fit on 2 cores. Returns 1 (and sets FROST_SKIP) when Frost
# cannot be measured yet.
FROST_URL=
FROST_SKIP=
frost_setup() {
  if [ ! -x "$FROST" ]; then
    FROST_SKIP="$FROST not built"
    return 1
  fi
  frost_start "$FROST"
  if ! frost_invocations_available; then
    FROST_SKIP=$FROST_SKIP_MSG
    return 1
  fi
  local fn=bench-echo dir="$BENCH_WORK/fn-echo"
  mkdir -p "$dir/code"
  cp "$UPSTREAM" "$dir/code/upstream"
  cat >"$dir/s.yaml" <<YAML
edition: 3.0.0
name: bench-dispatch
access: default
resources:
  echo:
    component: fc3
    props:
      functionName: $fn
      runtime: custom.debian12
      code: ./code
      customRuntimeConfig:
        command: [./upstream, --quiet]
        port: 9000
      cpu: 0.25
      memorySize: 256
      timeout: 120
      instanceConcurrency: 1
      triggers:
        - triggerName: http
          triggerType: http
          triggerConfig:
            authType: anonymous
            methods: [GET, POST]
      provisionConfig:
        defaultTarget: $INSTANCES
        alwaysAllocateCPU: true
      concurrencyConfig:
        reservedConcurrency: $INSTANCES
YAML
  frost_deploy "$dir/s.yaml"
  case "${FROST_DISPATCH_PATH:-invoke}" in
    invoke) FROST_URL="http://$FROST_ADDR/2023-03-30/functions/$fn/invocations"; FROST_METHOD=POST ;;
    trigger) FROST_URL="http://$FROST_ADDR/fn/$fn/"; FROST_METHOD=GET ;;
    *) bench_die "FROST_DISPATCH_PATH: invoke or trigger" ;;
  esac
  # Warm: provisioned instances come up by themselves; if they do not (on-demand only), 2x
  # INSTANCES concurrent 1 s requests make the scheduler start INSTANCES instances.
  local deadline=$((SECONDS + 30)) n pids
  n=$(frost_ready_instances "$fn")
  while [ "$n" -lt "$INSTANCES" ] && [ $SECONDS -lt $deadline ]; do
    pids=()
    for _ in $(seq 1 $((2 * INSTANCES))); do
      curl -s -o /dev/null --max-time 60 -X "$FROST_METHOD" -H 'x-sleep-ms: 1000' "$FROST_URL" &
      pids+=($!)
    done
    wait "${pids[@]}" || true
    n=$(frost_ready_instances "$fn")
  done
  bench_log "frost: $n instance(s) of $fn ready (want $INSTANCES)"
  # The mix only works if x-sleep-ms reaches the instance on this path.
  local t
  t=$(curl -s -o /dev/null -w '%{time_total}' -X "$FROST_METHOD" -H 'x-sleep-ms: 300' "$FROST_URL")
  if python3 -c "import sys; sys.exit(0 if $t >= 0.29 else 1)"; then :; else
    bench_log "warning: x-sleep-ms: 300 took ${t}s through $FROST_URL: the header does not reach"
    bench_log "the instance on this path, so MIX has no effect (try FROST_DISPATCH_PATH=trigger)"
  fi
}

# run_frost RATE OUT: one load point against Frost.
run_frost() {
  run_point frost "$FROST_URL" "$1" "$2" --method "$FROST_METHOD"
}
# ==============================================================================================

if ! frost_setup; then
  bench_log "frost: skipped ($FROST_SKIP)"
  frost_stop
fi

bench_log "$INSTANCES instances (concurrency 1), mix $MIX: mean service ${MEAN_MS} ms, capacity $(printf %.1f "$CAPACITY") req/s; ${DUR}s per point after ${WARMUP}s warmup; $PIN_NOTE"
for load in $LOADS; do
  rate=$(python3 -c "print(round($CAPACITY * $load / 100.0, 3))")
  bench_log "load $load% = $rate req/s"
  run_point roundrobin "http://127.0.0.1:$RR_PORT/" "$rate" "$RES/roundrobin-$load.json"
  run_point leastconn "http://127.0.0.1:$LC_PORT/" "$rate" "$RES/leastconn-$load.json"
  if [ -n "$FROST_URL" ]; then
    run_frost "$rate" "$RES/frost-$load.json"
  fi
done

[ -z "${OUT_DIR:-}" ] || { mkdir -p "$OUT_DIR" && cp "$RES"/*.json "$OUT_DIR"/; }

python3 - "$RES" "$CAPACITY" "$MEAN_MS" "$DUR" "$SEED" "$INSTANCES" "$MIX" "${FROST_SKIP:-}" $LOADS <<'PY'
import json, os, sys
res, cap, mean, dur, seed, inst, mix, skip = sys.argv[1:9]
loads = sys.argv[9:]
peers = ["roundrobin", "leastconn", "frost"]
def load(peer, l):
    p = os.path.join(res, "%s-%s.json" % (peer, l))
    return json.load(open(p)) if os.path.exists(p) else None
ms = lambda us: "%.1f" % (us / 1000.0)
print("bench/dispatch: %s instances x concurrency 1, mix %s (mean %.1f ms), capacity %.1f req/s, "
      "%s s per point, seed %s" % (inst, mix, float(mean), float(cap), dur, seed))
classes = None
head = "%-5s %7s  %-10s %7s %6s %8s %8s %9s %8s" % (
    "load", "rate/s", "peer", "ok/s", "errors", "p50(ms)", "p99(ms)", "p99.9(ms)", "max(ms)")
rows = []
for l in loads:
    for peer in peers:
        j = load(peer, l)
        if j is None:
            if peer == "frost":
                rows.append("%-5s %7s  %-10s %s" % (l + "%", "", peer, "skipped (%s)" % skip))
            continue
        lat = j["latency_us"]
        by = {v["value"]: v["latency_us"]["p99"] for v in j.get("mix", {}).get("values", [])}
        if classes is None:
            classes = list(by)
        extra = "".join(" %9s" % ms(by[c]) for c in classes)
        rows.append("%-5s %7.1f  %-10s %7.1f %6d %8s %8s %9s %8s%s" % (
            l + "%", j["rate"], peer, j["achieved_rate"], j["errors"]["total"], ms(lat["p50"]),
            ms(lat["p99"]), ms(lat["p999"]), ms(lat["max"]), extra))
if classes:
    head += "".join(" %9s" % ("p99[%s]" % c) for c in classes)
print(head)
print("\n".join(rows))
print("ratios to leastconn+maxconn1 (the best peer; lower is better, 1.00 = as good):")
print("%-5s  %-22s %6s %6s %6s" % ("load", "peer/leastconn", "p50", "p99", "p99.9"))
for l in loads:
    base = load("leastconn", l)
    for peer in ("frost", "roundrobin"):
        j = load(peer, l)
        if j is None or base is None:
            if peer == "frost":
                print("%-5s  %-22s %s" % (l + "%", "frost/leastconn", "skipped (%s)" % skip))
            continue
        r = lambda k: "%.2f" % (j["latency_us"][k] / max(base["latency_us"][k], 1))
        print("%-5s  %-22s %6s %6s %6s" % (l + "%", peer + "/leastconn", r("p50"), r("p99"), r("p999")))
PY
