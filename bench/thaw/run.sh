#!/usr/bin/env bash
# bench/thaw: latency of a request to a frozen (idle-mode) provisioned instance vs a warm one,
# measured in the same run on the same instance, and Frost's own thaw overhead.
#
#   frozen  bench-thaw (bench/upstream, a simulated 1 GB GPU slice, provisioned target 1,
#           alwaysAllocateGPU false): wait until ListInstances shows the instance frozen
#           (checkpointed and cgroup-frozen), then time one InvokeFunction
#   warm    one more InvokeFunction right after it, on the now running instance (the peer)
# Frost's thaw overhead is the wake-up time the scheduler records (cgroup thaw, GPU restore,
# bookkeeping: ListInstances freezer.lastWakeUs) minus the modelled GPU copy
# (freezer.lastWakeGpuCopyUs: slice bytes / gpu.sim_bandwidth). The request-level view,
# frozen - warm - copy, is printed beside it.
#
# usage: bench/thaw/run.sh [path/to/frost] [rounds]
#   env: GPU_MB (1024), FREEZE_DELAY (20ms), BENCH_PIN (1)
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

FROST=${1:-build/frost}
N=${2:-${N:-50}}
GPU_MB=${GPU_MB:-1024}
FREEZE_DELAY=${FREEZE_DELAY:-20ms}
HERE=$(cd "$(dirname "$0")" && pwd)

bench_init thaw
bench_require curl python3 make
build_tools
RES="$BENCH_WORK/results"
mkdir -p "$RES"

frost_start "$FROST" --gpus sim:1x24GB --set "sched.freeze_delay=$FREEZE_DELAY"
dir="$BENCH_WORK/fn-thaw"
mkdir -p "$dir/code"
cp "$UPSTREAM" "$dir/code/upstream"
cat >"$dir/s.yaml" <<YAML
edition: 3.0.0
name: bench-thaw
access: default
resources:
  thaw:
    component: fc3
    props:
      functionName: bench-thaw
      runtime: custom.debian12
      code: ./code
      customRuntimeConfig:
        command: [./upstream, --quiet]
        port: 9000
      cpu: 0.5
      memorySize: 512
      timeout: 30
      instanceConcurrency: 1
      gpuConfig:
        gpuMemorySize: $GPU_MB
        gpuType: fc.gpu.tesla.1
YAML
frost_deploy "$dir/s.yaml"
FROST_ENDPOINT="http://$FROST_ADDR" "$FROST_BIN" provision put bench-thaw --target 1 \
  --always-allocate-gpu=false --wait >"$BENCH_WORK/provision.out" 2>&1 ||
  { cat "$BENCH_WORK/provision.out" >&2; bench_die "provision put failed"; }

bench_log "$N rounds (frozen request, then a warm one); $PIN_NOTE"
"${PIN_CLIENT[@]}" python3 "$HERE/thaw.py" "$FROST_ADDR" bench-thaw "$N" >"$RES/frost.jsonl"

python3 - "$RES" "$N" "$GPU_MB" <<'PY'
import json, math, sys
res, n, gpu_mb = sys.argv[1], sys.argv[2], sys.argv[3]
s = [json.loads(l) for l in open(res + "/frost.jsonl")]
def pct(v, p):
    v = sorted(v)
    return v[max(0, math.ceil(p / 100 * len(v)) - 1)]
ms = lambda us: "%.3f" % (us / 1000)
bad = sum(1 for x in s if x["status"] != 200 or x["warm_status"] != 200)
print("bench/thaw: %s rounds, %s MB simulated GPU slice, %d non-200" % (n, gpu_mb, bad))
print("%-34s %9s %9s %9s" % ("", "p50(ms)", "p99(ms)", "max(ms)"))
rows = [
    ("request to a frozen instance", [x["frozen_us"] for x in s]),
    ("request to a warm instance (peer)", [x["warm_us"] for x in s]),
    ("wake-up (thaw + restore)", [x["wake_us"] for x in s]),
    ("  of which modelled GPU copy", [x["copy_us"] for x in s]),
    ("frost thaw overhead (wake - copy)", [x["wake_us"] - x["copy_us"] for x in s]),
    ("frozen - warm - copy", [x["frozen_us"] - x["warm_us"] - x["copy_us"] for x in s]),
]
for name, v in rows:
    print("%-34s %9s %9s %9s" % (name, ms(pct(v, 50)), ms(pct(v, 99)), ms(max(v))))
f = [x["frozen_us"] for x in s]
w = [x["warm_us"] for x in s]
o = [x["wake_us"] - x["copy_us"] for x in s]
print("ratio frozen/warm: p50 %.2fx, p99 %.2fx; frost thaw overhead p50 %s ms, p99 %s ms "
      "(goal p50 <= 1 ms)" % (pct(f, 50) / pct(w, 50), pct(f, 99) / pct(w, 99),
                              ms(pct(o, 50)), ms(pct(o, 99))))
PY
