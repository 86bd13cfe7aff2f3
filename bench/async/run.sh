#!/usr/bin/env bash
# bench/async: durable async submissions and the drain rate of async tasks.
#
# 1. submit, group commit: wrk (closed loop, CONNS connections) POSTs InvokeFunction with
#    x-fc-invocation-type: Async to a function whose reservedConcurrency is 0, so nothing
#    runs and every request is one durable submission: Frost answers 202 only once the task
#    is committed (synchronous=FULL, fsync). Concurrent submissions share commits.
# 2. submit, one transaction per task: the same with one connection, so every commit holds
#    exactly one task (the client waits for each 202 before the next), on the same SQLite file.
# 3. peer: one transaction per task straight into the same SQLite file with Python's sqlite3
#    (WAL, synchronous=FULL, the two rows Frost writes per task, same sizes), Frost stopped:
#    what a submit path that commits each task alone costs without any HTTP around it.
# 4. drain: wrk submits for DRAIN_SECS to a no-op function (bench/upstream, instanceConcurrency
#    64), then the script waits until every task has Succeeded: tasks / (last done - first
#    submit), and the submit rate of that phase for comparison.
# 5. backlog: tasks submitted while their function may not run are drained after a restart
#    (recovery from the store, then dispatch): tasks / (last done - restart).
# Prints the rates and ratios group/per-task (higher is better). The store's own counters
# (commits, batches) from Frost's log show the group sizes.
#
# usage: bench/async/run.sh [path/to/frost] [seconds]
#   env: CONNS (64), DRAIN_SECS (2), PAYLOAD (bytes of each task's payload, 256),
#        PEER_N (tasks in the sqlite peer, 300), BENCH_PIN (1), BENCH_KEEP
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

FROST=${1:-build/frost}
DUR=${2:-${DUR:-5}}
CONNS=${CONNS:-64}
DRAIN_SECS=${DRAIN_SECS:-2}
PAYLOAD=${PAYLOAD:-256}
PEER_N=${PEER_N:-300}

bench_init async
bench_require wrk curl python3 make
build_tools

FN_DIR="$BENCH_WORK/fn"
mkdir -p "$FN_DIR/code"
cp "$UPSTREAM" "$FN_DIR/code/upstream"
fn_yaml() { # NAME COMMAND EXTRA...
  local name=$1 cmd=$2
  shift 2
  cat <<YAML
  $name:
    component: fc3
    props:
      functionName: $name
      runtime: custom.debian12
      code: ./code
      cpu: 0.25
      memorySize: 256
      timeout: 60
      customRuntimeConfig: {command: $cmd, port: 9000}
YAML
  local line
  for line in "$@"; do echo "      $line"; done
}
{
  printf 'edition: 3.0.0\nname: bench-async\naccess: default\nresources:\n'
  fn_yaml hold-a '[./upstream, --quiet]' 'concurrencyConfig: {reservedConcurrency: 0}'
  fn_yaml hold-b '[./upstream, --quiet]' 'concurrencyConfig: {reservedConcurrency: 0}'
  fn_yaml noop '[./upstream, --quiet, --concurrency, "64"]' 'instanceConcurrency: 64'
  fn_yaml backlog '[./upstream, --quiet, --concurrency, "64"]' 'instanceConcurrency: 64' \
    'concurrencyConfig: {reservedConcurrency: 0}'
} >"$FN_DIR/s.yaml"

# The wrk script: async POSTs with a fixed payload; task ids are the request ids.
python3 -c "import sys; sys.stdout.write('x' * int(sys.argv[1]))" "$PAYLOAD" >"$BENCH_WORK/payload"
cat >"$BENCH_WORK/async.lua" <<'LUA'
local f = io.open(os.getenv("PAYLOAD_FILE"), "rb")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["x-fc-invocation-type"] = "Async"
wrk.headers["Content-Type"] = "application/octet-stream"
done = function(summary, latency, requests)
  local bad = summary.errors.status + summary.errors.connect + summary.errors.read +
              summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT %d %d %.6f %.3f %.3f\n", summary.requests, bad,
    summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
LUA

# run_wrk FN CONNS SECS -> "requests errors seconds p50ms p99ms"
run_wrk() {
  local out="$BENCH_WORK/wrk-$1-$2.out"
  PAYLOAD_FILE="$BENCH_WORK/payload" "${PIN_CLIENT[@]}" wrk -t1 -c"$2" -d"$3"s --latency \
    -s "$BENCH_WORK/async.lua" "http://$FROST_ADDR/2023-03-30/functions/$1/invocations" >"$out" 2>&1 ||
    { cat "$out" >&2; bench_die "wrk failed"; }
  grep '^RESULT' "$out" | sed 's/^RESULT //'
}

# store_counters: "commits batches" from the store_closed line of the last stopped frost.
store_counters() {
  grep 'event=store_closed' "$BENCH_WORK/frost.log" | tail -1 |
    sed -E 's/.*commits=([0-9]+) batches=([0-9]+).*/\1 \2/'
}

task_counts() {
  curl -s "http://$FROST_ADDR/2023-03-30/functions/$1/async-task-stats" | python3 -c '
import json, sys
c = json.load(sys.stdin)["counts"]
print(sum(c.values()), c["Succeeded"], c["Failed"] + c["Invalid"] + c["Expired"])'
}

rate() { python3 -c "print('%.0f' % ($1 / $2))"; }

# ---- 1 + 2: durable submissions --------------------------------------------------------------
frost_start "$FROST"
frost_invocations_available || bench_die "$FROST_SKIP_MSG"
frost_deploy "$FN_DIR/s.yaml"
bench_log "submit: $CONNS connections for ${DUR}s (group commit)"
read -r G_N G_ERR G_SECS G_P50 G_P99 <<<"$(run_wrk hold-a "$CONNS" "$DUR")"
frost_stop
read -r G_COMMITS G_BATCHES <<<"$(store_counters)"

frost_start "$FROST"
bench_log "submit: 1 connection for ${DUR}s (one transaction per task)"
read -r S_N S_ERR S_SECS S_P50 S_P99 <<<"$(run_wrk hold-b 1 "$DUR")"
frost_stop
read -r S_COMMITS S_BATCHES <<<"$(store_counters)"

# ---- 3: the peer, straight into the same file -----------------------------------------------
bench_log "peer: $PEER_N tasks, one sqlite transaction each, into the same file"
P_RATE=$(python3 - "$FROST_DATA/frost.db" "$PEER_N" "$PAYLOAD" <<'PY'
import json, sqlite3, sys, time
path, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
db = sqlite3.connect(path, isolation_level=None)
db.execute("PRAGMA journal_mode=WAL")
db.execute("PRAGMA synchronous=FULL")
# The two documents Frost writes per submission, with the same shapes and sizes.
doc = json.dumps({"v": 1, "fn": "peer", "id": "1-6b000000-00000000-000000000000",
                  "requestId": "1-6b000000-00000000-000000000000", "status": "Enqueued",
                  "created": 1795329423985, "end": 0, "nextRun": 0, "durationMs": 0,
                  "retried": 0, "depth": 0, "instanceId": "", "fnStatus": 0, "errorType": "",
                  "dest": "", "events": [{"id": 1, "s": "Enqueued", "t": 1795329423985,
                                          "d": "accepted"}]}, separators=(",", ":"))
payload = json.dumps({"p": "x" * size}, separators=(",", ":"))
t0 = time.monotonic()
for i in range(n):
    key = "peer/t%06d" % i
    db.execute("BEGIN IMMEDIATE")
    db.execute("INSERT INTO documents (collection, key, json, updated_ms) VALUES (?,?,?,0)",
               ("bench_peer_tasks", key, doc))
    db.execute("INSERT INTO documents (collection, key, json, updated_ms) VALUES (?,?,?,0)",
               ("bench_peer_payloads", key, payload))
    db.execute("COMMIT")
dt = time.monotonic() - t0
db.execute("DELETE FROM documents WHERE collection IN ('bench_peer_tasks', 'bench_peer_payloads')")
db.close()
print("%.1f" % (n / dt))
PY
)

# ---- 4: drain ---------------------------------------------------------------------------------
frost_start "$FROST"
# Warm one instance so the drain is not a cold start.
curl -s -o /dev/null -X POST "http://$FROST_ADDR/2023-03-30/functions/noop/invocations" -d warm
bench_log "drain: $CONNS connections submit to noop for ${DRAIN_SECS}s, then wait for all"
T0=$(python3 -c 'import time; print(time.monotonic())')
read -r D_N D_ERR D_SECS _ _ <<<"$(run_wrk noop "$CONNS" "$DRAIN_SECS")"
deadline=$((SECONDS + 600))
while :; do
  read -r total ok bad <<<"$(task_counts noop)"
  [ "$((ok + bad))" -ge "$total" ] && break
  [ $SECONDS -lt $deadline ] || bench_die "the drain did not finish within 600 s ($ok of $total)"
  sleep 0.05
done
T1=$(python3 -c 'import time; print(time.monotonic())')
D_TOTAL=$total
D_ELAPSED=$(python3 -c "print('%.3f' % ($T1 - $T0))")
frost_stop

# ---- 5: drain of a backlog -----------------------------------------------------------------------
# Tasks pile up while the function may not run (reservedConcurrency 0); its cap is lifted and
# Frost restarted: it loads the backlog and drains it. Timed from the restart (start-up, the
# first instance's cold start included) to the last Succeeded.
frost_start "$FROST"
bench_log "backlog: $CONNS connections submit to a function that may not run, for ${DRAIN_SECS}s"
run_wrk backlog "$CONNS" "$DRAIN_SECS" >/dev/null
curl -s -o /dev/null -X PUT -H 'Content-Type: application/json' -d '{"reservedConcurrency": 1000}' \
  "http://$FROST_ADDR/2023-03-30/functions/backlog/concurrency"
frost_stop
T0=$(python3 -c 'import time; print(time.monotonic())')
frost_start "$FROST"
deadline=$((SECONDS + 600))
while :; do
  read -r total ok bad <<<"$(task_counts backlog)"
  [ "$((ok + bad))" -ge "$total" ] && break
  [ $SECONDS -lt $deadline ] || bench_die "the backlog did not drain within 600 s ($ok of $total)"
  sleep 0.05
done
T1=$(python3 -c 'import time; print(time.monotonic())')
B_TOTAL=$total
B_BAD=$bad
B_ELAPSED=$(python3 -c "print('%.3f' % ($T1 - $T0))")
frost_stop

# ---- report ---------------------------------------------------------------------------------
G_RATE=$(rate "$G_N" "$G_SECS")
S_RATE=$(rate "$S_N" "$S_SECS")
D_SUB=$(rate "$D_N" "$D_SECS")
D_RATE=$(rate "$D_TOTAL" "$D_ELAPSED")
cat <<EOF

bench/async  ($(nproc) CPUs, $PIN_NOTE; payload $PAYLOAD B; data dir on $(df -P "$BENCH_WORK" | awk 'NR==2 {print $1}'))

durable submits (202 after the commit is on disk)
  group commit, $CONNS conns     $(printf '%7s' "$G_RATE")/s   p50 ${G_P50} ms  p99 ${G_P99} ms   errors $G_ERR   tasks/commit $(python3 -c "print('%.1f' % ($G_BATCHES / max(1, $G_COMMITS)))")
  one txn per task, 1 conn   $(printf '%7s' "$S_RATE")/s   p50 ${S_P50} ms  p99 ${S_P99} ms   errors $S_ERR   tasks/commit $(python3 -c "print('%.1f' % ($S_BATCHES / max(1, $S_COMMITS)))")
  peer: sqlite3, 1 txn/task  $(printf '%7s' "$P_RATE")/s   (no HTTP; the same file)
  ratio group / one-per-task (HTTP)   $(python3 -c "print('%.1fx' % ($G_RATE / max(1e-9, $S_RATE)))")
  ratio group / peer (sqlite)         $(python3 -c "print('%.1fx' % ($G_RATE / max(1e-9, $P_RATE)))")
  goal: >= 5000 durable submits/s     $(python3 -c "print('met' if $G_RATE >= 5000 else 'NOT met')")

drain (no-op function, instanceConcurrency 64)
  submitted $D_TOTAL tasks in ${D_SECS}s ($D_SUB/s), all finished ${D_ELAPSED}s after the first submit
  drain rate                 $(printf '%7s' "$D_RATE") tasks/s (submit to Succeeded, end to end)
  backlog of $B_TOTAL tasks drained ${B_ELAPSED}s after a restart ($B_BAD not Succeeded)
  backlog drain rate         $(printf '%7s' "$(rate "$B_TOTAL" "$B_ELAPSED")") tasks/s (start-up and cold start included)
EOF
