#!/usr/bin/env bash
# bench/coldstart: N (50) requests that each scale a function from zero.
#   baseline  the same process (bench/upstream) spawned by hand, connected to until it
#             accepts (1 ms polling), one GET: the cost of starting it with no platform
#   frost     bench-cold (bench/upstream, instanceConcurrency 1, idleTimeout 1 s): wait until
#             ListInstances shows no live instance, then time one InvokeFunction (cold), and one
#             more right after it (warm); the new instance's coldStartPhases are read back
# Prints p50/p90/p99/max of cold and warm latency for both, Frost's phase medians, and the
# ratio frost/baseline and Frost's added cold-start time (lower is better).
#
# usage: bench/coldstart/run.sh [path/to/frost] [requests]
#   env: IDLE_TIMEOUT (s, 1: the function's keep-alive), FN_CPU (0.25) and FN_MEMORY (MB, 256):
#        the function's cpu and memorySize, BENCH_PIN (1)
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

FROST=${1:-build/frost}
N=${2:-${N:-50}}
IDLE_TIMEOUT=${IDLE_TIMEOUT:-1}
FN_CPU=${FN_CPU:-0.25}
FN_MEMORY=${FN_MEMORY:-256}
HERE=$(cd "$(dirname "$0")" && pwd)

bench_init coldstart
bench_require curl python3 make
build_tools
RES="$BENCH_WORK/results"
mkdir -p "$RES"
SERVER_CPU=
[ ${#PIN_SERVER[@]} -eq 0 ] || SERVER_CPU=${PIN_SERVER[2]%%-*}

bench_log "$N cold starts each; $PIN_NOTE"
"${PIN_CLIENT[@]}" python3 "$HERE/coldstart.py" baseline "$UPSTREAM" "$N" "$SERVER_CPU" \
  >"$RES/baseline.jsonl"

# ==== Frost ====================================================================================
# frost_setup: starts frost and deploys bench-cold with a short keep-alive (the function's
# idleTimeout, so the instance stops IDLE_TIMEOUT s after its last request). Returns 1 (and sets
# FROST_SKIP) when invocations do not exist yet.
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
  local dir="$BENCH_WORK/fn-cold"
  mkdir -p "$dir/code"
  cp "$UPSTREAM" "$dir/code/upstream"
  cat >"$dir/s.yaml" <<YAML
edition: 3.0.0
name: bench-coldstart
access: default
resources:
  cold:
    component: fc3
    props:
      functionName: bench-cold
      runtime: custom.debian12
      code: ./code
      customRuntimeConfig:
        command: [./upstream, --quiet]
        port: 9000
      cpu: $FN_CPU
      memorySize: $FN_MEMORY
      timeout: 30
      instanceConcurrency: 1
      idleTimeout: $IDLE_TIMEOUT
YAML
  frost_deploy "$dir/s.yaml"
}

# run_frost: the N scale-from-zero requests.
run_frost() {
  "${PIN_CLIENT[@]}" python3 "$HERE/coldstart.py" frost "$FROST_ADDR" bench-cold "$N" \
    $((IDLE_TIMEOUT + 60)) >"$RES/frost.jsonl"
}
# ==============================================================================================

if frost_setup; then
  run_frost
else
  bench_log "frost: skipped ($FROST_SKIP)"
fi

python3 - "$RES" "$N" "${FROST_SKIP:-}" <<'PY'
import json, math, os, sys
res, n, skip = sys.argv[1], sys.argv[2], sys.argv[3]
def samples(name):
    p = os.path.join(res, name + ".jsonl")
    return [json.loads(l) for l in open(p)] if os.path.exists(p) else None
def pct(v, p):
    v = sorted(v)
    return v[max(0, math.ceil(p / 100 * len(v)) - 1)]
ms = lambda us: "%.2f" % (us / 1000)
print("bench/coldstart: %s scale-from-zero requests each" % n)
print("%-9s %-5s %5s %8s %8s %8s %8s %6s" % ("target", "kind", "n", "p50(ms)", "p90(ms)",
                                            "p99(ms)", "max(ms)", "non200"))
data = {}
for name in ("baseline", "frost"):
    s = samples(name)
    if s is None:
        print("%-9s skipped (%s)" % (name, skip))
        continue
    data[name] = s
    bad = sum(1 for x in s if x.get("status") != 200)
    for kind in ("cold", "warm"):
        v = [x[kind + "_us"] for x in s]
        print("%-9s %-5s %5d %8s %8s %8s %8s %6d" % (name, kind, len(v), ms(pct(v, 50)),
              ms(pct(v, 90)), ms(pct(v, 99)), ms(max(v)), bad))
if "frost" in data:
    ph = [x["phases"] for x in data["frost"] if x.get("phases")]
    if ph:
        keys = [k for k in ("spawnUs", "listenUs", "initializeUs") if k in ph[0]]
        print("frost cold-start phases (median of %d, from ListInstances): %s" % (len(ph), ", ".join(
            "%s %s ms" % (k[:-2], ms(pct([p[k] for p in ph], 50))) for k in keys)))
    b = [x["cold_us"] for x in data["baseline"]]
    f = [x["cold_us"] for x in data["frost"]]
    print("ratio frost/baseline cold: p50 %.2fx, p99 %.2fx; frost adds %s ms at p50 "
          "(lower is better)" % (pct(f, 50) / pct(b, 50), pct(f, 99) / pct(b, 99),
                                 ms(pct(f, 50) - pct(b, 50))))
else:
    print("ratio frost/baseline cold: skipped (%s)" % skip)
PY
