#!/usr/bin/env python3
"""Samples for bench/thaw/run.sh: N rounds of (wait until FN's provisioned instance is
frozen, time one InvokeFunction, time one more right after it), with the wake-up figures
the scheduler recorded. Prints one JSON object per line:
  {"frozen_us", "warm_us", "status", "warm_status", "wake_us", "copy_us"}
usage: thaw.py ADDR FN N
"""
import http.client
import json
import sys
import time


def now_us():
    return time.perf_counter_ns() // 1000


def main():
    addr, fn, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    host, port = addr.rsplit(":", 1)
    api = http.client.HTTPConnection(host, int(port), timeout=60)
    inv = http.client.HTTPConnection(host, int(port), timeout=60)

    def get(path):
        api.request("GET", path)
        r = api.getresponse()
        return json.loads(r.read())

    def instance():
        insts = get("/2023-03-30/functions/%s/instances" % fn)["instances"]
        live = [i for i in insts if i.get("kind", "").startswith("provisioned")
                and i.get("status") == "Running"]
        return live[0] if live else None

    def invoke():
        t = now_us()
        inv.request("POST", "/2023-03-30/functions/%s/invocations" % fn, body=b"x")
        r = inv.getresponse()
        r.read()
        return now_us() - t, r.status

    # One warm-up round: the connection pools and the instance's first request.
    invoke()
    for _ in range(n):
        deadline = time.monotonic() + 30
        while True:
            i = instance()
            if i and i.get("state") == "frozen":
                break
            if time.monotonic() > deadline:
                sys.exit("the instance did not freeze: %r" % i)
            time.sleep(0.002)
        frozen_us, st = invoke()
        warm_us, wst = invoke()
        fz = instance()["freezer"]
        print(json.dumps({"frozen_us": frozen_us, "warm_us": warm_us, "status": st,
                          "warm_status": wst, "wake_us": fz.get("lastWakeUs", 0),
                          "copy_us": fz.get("lastWakeGpuCopyUs", 0)}), flush=True)


main()
