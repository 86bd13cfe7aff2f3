#!/usr/bin/env python3
"""Cold-start samples for bench/coldstart/run.sh. Prints one JSON object per line.

  coldstart.py baseline UPSTREAM N [CPU]
      N times: spawn UPSTREAM on a free port (pinned to CPU), connect until it accepts
      (polling every 1 ms), send one GET and read the answer, then stop it. The floor: what
      starting the same process and serving its first request costs with no platform at all.
      {"cold_us": .., "warm_us": .., "listen_us": ..}

  coldstart.py frost ADDR FN N [ZERO_TIMEOUT_S]
      N times: wait until FN has no live instance (ListInstances), then time one
      POST /2023-03-30/functions/FN/invocations (a scale from zero), then one more right after
      it (warm), and read the new instance's coldStartPhases.
      {"cold_us": .., "warm_us": .., "status": .., "phases": {...}, "waited_s": ..}
"""
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time


def now_us():
    return time.perf_counter_ns() // 1000


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def request(host, port, method, path, headers=None):
    """One request on a new connection; returns (status, body)."""
    c = http.client.HTTPConnection(host, port, timeout=60)
    try:
        c.request(method, path, body=b"" if method == "POST" else None, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def baseline(binary, n, cpu):
    def pin():
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})

    for _ in range(n):
        port = free_port()
        t0 = now_us()
        p = subprocess.Popen([binary, "--port", str(port), "--quiet"], preexec_fn=pin,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if p.poll() is not None:
                        sys.exit("coldstart: %s exited with %s" % (binary, p.returncode))
                    time.sleep(0.001)
            t_listen = now_us()
            status, _ = request("127.0.0.1", port, "GET", "/")
            t1 = now_us()
            request("127.0.0.1", port, "GET", "/")
            t2 = now_us()
        finally:
            p.send_signal(signal.SIGTERM)
            p.wait()
        print(json.dumps({"cold_us": t1 - t0, "warm_us": t2 - t1, "listen_us": t_listen - t0,
                          "status": status}), flush=True)


def instances(host, port, fn):
    status, body = request(host, port, "GET", "/2023-03-30/functions/%s/instances" % fn)
    if status != 200:
        return None
    return json.loads(body).get("instances", [])


def live(insts):
    return [i for i in insts
            if i.get("state", i.get("status", "")).lower() not in ("stopped", "failed")]


def frost(addr, fn, n, zero_timeout):
    host, port = addr.rsplit(":", 1)
    port = int(port)
    path = "/2023-03-30/functions/%s/invocations" % fn
    seen = set()
    for _ in range(n):
        t_wait = time.monotonic()
        while True:
            insts = instances(host, port, fn)
            if insts is None:
                sys.exit("coldstart: ListInstances failed")
            seen.update(i["instanceId"] for i in insts)
            if not live(insts):
                break
            if time.monotonic() - t_wait > zero_timeout:
                sys.exit("coldstart: %s still has %d live instance(s) after %ss: is its keep-alive "
                         "short?" % (fn, len(live(insts)), zero_timeout))
            time.sleep(0.05)
        waited = time.monotonic() - t_wait
        t0 = now_us()
        status, body = request(host, port, "POST", path)
        t1 = now_us()
        request(host, port, "POST", path)
        t2 = now_us()
        new = [i for i in instances(host, port, fn) if i["instanceId"] not in seen]
        phases = new[0].get("coldStartPhases", {}) if new else {}
        if new:
            phases = dict(phases, coldStartMs=new[0].get("coldStartMs"))
        sample = {"cold_us": t1 - t0, "warm_us": t2 - t1, "status": status, "phases": phases,
                  "waited_s": round(waited, 3)}
        if status != 200:
            sample["error"] = body[:300].decode(errors="replace")
        print(json.dumps(sample), flush=True)


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "baseline":
        cpu = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[4] != "" else None
        baseline(sys.argv[2], int(sys.argv[3]), cpu)
    elif len(sys.argv) >= 5 and sys.argv[1] == "frost":
        frost(sys.argv[2], sys.argv[3], int(sys.argv[4]),
              float(sys.argv[5]) if len(sys.argv) > 5 else 60)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
