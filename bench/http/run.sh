#!/usr/bin/env bash
# bench/http: GET /healthz on frost vs nginx's `return 200`, one worker each,
# loopback, the same wrk load in the same run. Prints requests/s, p50 and p99
# for both and frost/nginx ratios. Both servers write an access log line per
# request to a file, so neither is spared work the other does.
#
# usage: bench/http/run.sh [path/to/frost] [duration-seconds] [connections]
set -euo pipefail
FROST=${1:-build/frost}
DUR=${2:-10}
CONNS=${3:-50}
ROUNDS=${ROUNDS:-3}

for tool in wrk nginx; do
  command -v "$tool" >/dev/null || { echo "bench/http: $tool not found (run scripts/install-deps.sh)"; exit 1; }
done

work=$(mktemp -d)
cleanup() {
  [ -n "${FROST_PID:-}" ] && kill "$FROST_PID" 2>/dev/null || true
  [ -n "${NGINX_PID:-}" ] && kill "$NGINX_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

NGINX_PORT=$(free_port)
mkdir -p "$work/nginx"
cat > "$work/nginx/nginx.conf" <<NGX
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log $work/nginx/access.log;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location = /healthz {
      default_type application/json;
      return 200 '{"status":"ok"}';
    }
  }
}
NGX
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
NGINX_PID=$!

"$FROST" serve --listen 127.0.0.1:0 --data-dir "$work/frost" --log-file "$work/frost.log" &
FROST_PID=$!

deadline=$((SECONDS + 10))
until [ -s "$work/frost/frost.addr" ] && curl -sf "http://127.0.0.1:$NGINX_PORT/healthz" >/dev/null; do
  [ $SECONDS -lt $deadline ] || { echo "bench/http: servers did not start"; exit 1; }
  sleep 0.1
done
FROST_ADDR=$(cat "$work/frost/frost.addr")

# run URL -> "rps p50_us p99_us"
run() {
  wrk -t1 -c"$CONNS" -d"${DUR}s" --latency "$1" | awk '
    function us(v) { if (v ~ /us$/) return v+0; if (v ~ /ms$/) return (v+0)*1000; if (v ~ /s$/) return (v+0)*1000000; return v }
    /Requests\/sec/ { rps=$2 }
    /^ +50%/ { p50=us($2) }
    /^ +99%/ { p99=us($2) }
    END { printf "%.0f %.0f %.0f\n", rps, p50, p99 }'
}

# warm both
wrk -t1 -c"$CONNS" -d1s "http://$FROST_ADDR/healthz" >/dev/null
wrk -t1 -c"$CONNS" -d1s "http://127.0.0.1:$NGINX_PORT/healthz" >/dev/null

printf "bench/http: GET /healthz, wrk -t1 -c%s -d%ss, %s alternating rounds, one server worker each\n" "$CONNS" "$DUR" "$ROUNDS"
printf "%-6s %-6s %12s %10s %10s\n" round server "req/s" "p50(us)" "p99(us)"
fr=0; nr=0; fp50=0; np50=0; fp99=0; np99=0
for i in $(seq 1 "$ROUNDS"); do
  read -r a b c < <(run "http://$FROST_ADDR/healthz")
  printf "%-6s %-6s %12s %10s %10s\n" "$i" frost "$a" "$b" "$c"
  fr=$((fr + a)); fp50=$((fp50 + b)); fp99=$((fp99 + c))
  read -r a b c < <(run "http://127.0.0.1:$NGINX_PORT/healthz")
  printf "%-6s %-6s %12s %10s %10s\n" "$i" nginx "$a" "$b" "$c"
  nr=$((nr + a)); np50=$((np50 + b)); np99=$((np99 + c))
done
awk -v fr="$fr" -v nr="$nr" -v fp50="$fp50" -v np50="$np50" -v fp99="$fp99" -v np99="$np99" -v n="$ROUNDS" 'BEGIN {
  printf "mean   frost  %12.0f %10.0f %10.0f\n", fr/n, fp50/n, fp99/n
  printf "mean   nginx  %12.0f %10.0f %10.0f\n", nr/n, np50/n, np99/n
  printf "ratio frost/nginx: throughput %.2fx (goal >= 0.80x), p50 latency %.2fx, p99 latency %.2fx (lower is better)\n", fr/nr, fp50/np50, fp99/np99
}'
