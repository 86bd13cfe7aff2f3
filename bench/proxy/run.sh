#!/usr/bin/env bash
# bench/proxy: what a proxy hop costs, closed loop. The upstream is nginx `return 200` with one
# worker (bench/proxy/nginx-instance.sh, the same script Frost runs as the function), and wrk
# (-t1 -c32, keep-alive) measures, alternating, ROUNDS rounds each:
#   direct          wrk -> nginx
#   haproxy         wrk -> haproxy (nbthread 1, keep-alive both sides, a log line per request)
#                   -> nginx
#   frost-proxy     wrk -> frost /_test/proxy/nginx/ -> nginx: Frost's HTTP proxy and upstream
#                   pool alone (frost serve --test-routes --test-upstream), no dispatch
#   frost-trigger   wrk -> frost GET /fn/bench-nginx/ -> a function instance running
#                   nginx-instance.sh (HTTP trigger path: dispatch + proxy)
#   frost-invoke    wrk -> frost POST /2023-03-30/functions/bench-nginx/invocations -> the same
# The two function rows need Frost's invocations (skipped with a note until they exist).
# Frost and haproxy both write an access log line per request, as bench/http does.
# Prints req/s, p50 and p99 per target, then for each frost row: throughput frost/haproxy
# (higher is better) and added latency (frost p50 - direct p50) / (haproxy p50 - direct p50)
# (lower is better; 1.00 = Frost adds what haproxy adds).
#
# usage: bench/proxy/run.sh [path/to/frost] [seconds] [connections]
#   env: ROUNDS (3), BENCH_PIN (1)
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

FROST=${1:-build/frost}
DUR=${2:-${DUR:-10}}
CONNS=${3:-${CONNS:-32}}
ROUNDS=${ROUNDS:-3}
HERE=$(cd "$(dirname "$0")" && pwd)

bench_init proxy
bench_require wrk nginx haproxy curl python3

# ---- nginx, the upstream -------------------------------------------------------------------
NGINX_PORT=$(free_port)
TMPDIR="$BENCH_WORK" FC_SERVER_PORT=$NGINX_PORT bench_bg "$BENCH_WORK/nginx.out" \
  "${PIN_SERVER[@]}" "$HERE/nginx-instance.sh"
wait_http "http://127.0.0.1:$NGINX_PORT/" 10 "$BG_PID"

# ---- haproxy, one thread -------------------------------------------------------------------
HAPROXY_PORT=$(free_port)
cat >"$BENCH_WORK/haproxy.cfg" <<CFG
global
  nbthread 1
  maxconn 8000
  log stdout format raw local0
defaults
  mode http
  log global
  option httplog
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend fe
  bind 127.0.0.1:$HAPROXY_PORT
  default_backend nginx
backend nginx
  server nginx 127.0.0.1:$NGINX_PORT
CFG
haproxy -c -q -f "$BENCH_WORK/haproxy.cfg" || bench_die "bad haproxy config"
bench_bg "$BENCH_WORK/haproxy.log" "${PIN_SERVER[@]}" haproxy -db -f "$BENCH_WORK/haproxy.cfg"
wait_http "http://127.0.0.1:$HAPROXY_PORT/" 10 "$BG_PID"

TARGETS=(direct haproxy)
declare -A URL SCRIPT
URL[direct]="http://127.0.0.1:$NGINX_PORT/"
URL[haproxy]="http://127.0.0.1:$HAPROXY_PORT/"
SKIPPED=()

# ==== Frost ====================================================================================
# frost-proxy works today; frost_function_setup switches the two function rows on when
# invocations exist (else they are listed as skipped).
frost_setup() {
  if [ ! -x "$FROST" ]; then
    SKIPPED+=("frost: $FROST not built")
    return 0
  fi
  frost_start "$FROST" --test-routes --test-upstream "nginx=127.0.0.1:$NGINX_PORT"
  URL[frost-proxy]="http://$FROST_ADDR/_test/proxy/nginx/"
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "${URL[frost-proxy]}" || true)
  if [ "$code" = 200 ]; then
    TARGETS+=(frost-proxy)
  else
    SKIPPED+=("frost-proxy: /_test/proxy/nginx/ answered $code")
  fi
  if ! frost_invocations_available; then
    SKIPPED+=("frost-trigger, frost-invoke: $FROST_SKIP_MSG")
    return 0
  fi
  frost_function_setup
}

# One instance of nginx-instance.sh; instanceConcurrency 200 so wrk's connections all share it
# (as they share the one nginx behind haproxy), cpu 1 so its cgroup quota does not throttle it.
frost_function_setup() {
  local fn=bench-nginx dir="$BENCH_WORK/fn-nginx" code
  mkdir -p "$dir/code" "$dir/tmp"
  chmod 1777 "$dir/tmp" # the instance's temp dir: inside the work dir, removed with it
  cp "$HERE/nginx-instance.sh" "$dir/code/"
  cat >"$dir/s.yaml" <<YAML
edition: 3.0.0
name: bench-proxy
access: default
resources:
  nginx:
    component: fc3
    props:
      functionName: $fn
      runtime: custom.debian12
      code: ./code
      customRuntimeConfig:
        command: [./nginx-instance.sh]
        port: 9000
      cpu: 1
      memorySize: 1024
      timeout: 60
      instanceConcurrency: 200
      environmentVariables:
        TMPDIR: $dir/tmp
      triggers:
        - triggerName: http
          triggerType: http
          triggerConfig:
            authType: anonymous
            methods: [GET, POST]
YAML
  frost_deploy "$dir/s.yaml"
  URL[frost-trigger]="http://$FROST_ADDR/fn/$fn/"
  URL[frost-invoke]="http://$FROST_ADDR/2023-03-30/functions/$fn/invocations"
  printf 'wrk.method = "POST"\n' >"$BENCH_WORK/post.lua"
  SCRIPT[frost-invoke]="$BENCH_WORK/post.lua"
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 60 "${URL[frost-trigger]}")
  [ "$code" = 200 ] || bench_die "frost-trigger: first request answered $code (see $BENCH_WORK/frost.log)"
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 60 -X POST "${URL[frost-invoke]}")
  [ "$code" = 200 ] || bench_die "frost-invoke: first request answered $code"
  TARGETS+=(frost-trigger frost-invoke)
}
# ==============================================================================================
frost_setup

# run TARGET -> "rps p50_us p99_us errors"
run() {
  local args=(-t1 -c"$CONNS" -d"${DUR}s" --latency)
  [ -z "${SCRIPT[$1]:-}" ] || args+=(-s "${SCRIPT[$1]}")
  "${PIN_CLIENT[@]}" wrk "${args[@]}" "${URL[$1]}" | awk '
    function us(v) { if (v ~ /us$/) return v+0; if (v ~ /ms$/) return (v+0)*1000; if (v ~ /s$/) return (v+0)*1000000; return v }
    /Requests\/sec/ { rps=$2 }
    /^ +50%/ { p50=us($2) }
    /^ +99%/ { p99=us($2) }
    /Non-2xx/ { err+=$NF }
    /Socket errors/ { gsub(/,/, ""); err+=$4+$6+$8+$10 }
    END { printf "%.0f %.0f %.0f %d\n", rps, p50, p99, err }'
}

for t in "${TARGETS[@]}"; do # warm every path (connections, pools, caches)
  "${PIN_CLIENT[@]}" wrk -t1 -c"$CONNS" -d1s ${SCRIPT[$t]:+-s "${SCRIPT[$t]}"} "${URL[$t]}" >/dev/null
done

bench_log "wrk -t1 -c$CONNS -d${DUR}s, $ROUNDS alternating rounds; nginx one worker, haproxy nbthread 1; $PIN_NOTE"
RES="$BENCH_WORK/results.txt"
: >"$RES"
printf "%-6s %-14s %10s %9s %9s %7s\n" round target "req/s" "p50(us)" "p99(us)" errors
for i in $(seq 1 "$ROUNDS"); do
  for t in "${TARGETS[@]}"; do
    read -r rps p50 p99 err < <(run "$t")
    printf "%-6s %-14s %10s %9s %9s %7s\n" "$i" "$t" "$rps" "$p50" "$p99" "$err"
    echo "$t $rps $p50 $p99 $err" >>"$RES"
  done
done
python3 - "$RES" "${SKIPPED[@]}" <<'PY'
import sys
rows, skipped = {}, sys.argv[2:]
order = []
for line in open(sys.argv[1]):
    t, rps, p50, p99, err = line.split()
    if t not in rows:
        rows[t] = []
        order.append(t)
    rows[t].append((float(rps), float(p50), float(p99), int(err)))
mean = {t: [sum(r[k] for r in v) / len(v) for k in range(4)] for t, v in rows.items()}
for t in order:
    m = mean[t]
    print("%-6s %-14s %10.0f %9.0f %9.0f %7d" % ("mean", t, m[0], m[1], m[2], m[3]))
for s in skipped:
    print("%-6s %s" % ("skip", s))
d, h = mean["direct"], mean["haproxy"]
print("haproxy adds %.0f us at p50 over direct (%.0f -> %.0f), throughput haproxy/direct %.2fx" %
      (h[1] - d[1], d[1], h[1], h[0] / d[0]))
for t in order:
    if not t.startswith("frost"):
        continue
    f = mean[t]
    added = "%.2fx" % ((f[1] - d[1]) / (h[1] - d[1])) if h[1] > d[1] else "n/a (haproxy adds nothing)"
    print("ratio %s/haproxy: throughput %.2fx (higher is better), added p50 latency %s "
          "(frost %+.0f us vs haproxy %+.0f us over direct; lower is better), p99 %.2fx" %
          (t, f[0] / h[0], added, f[1] - d[1], h[1] - d[1], f[2] / h[2]))
PY
