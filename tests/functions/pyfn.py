#!/usr/bin/env python3
"""A test function: an FC custom-runtime web server driven by environment variables.

It listens on FC_SERVER_PORT (the port Frost hands out) and answers:
  POST /invoke       -> echoes the body, with what it knows about itself in headers
  POST /initialize   -> status INIT_STATUS (default 200) after INIT_SLEEP seconds
  GET  /pre-stop     -> 200 after PRESTOP_SLEEP seconds; writes PRESTOP_MARK if set
  GET  /healthz      -> 200, or HEALTH_STATUS
  GET  /env          -> the environment as JSON
  GET  /whoami       -> uid, gid, pid, cwd, and whether DATA_DIR_PROBE is readable
  POST /alloc?mb=N   -> allocates and touches N MiB (to trigger the OOM killer)
  POST /exit?code=N  -> exits at once with code N
  POST /invoke with the body __exit__ -> exits at once with code 3 (a crash mid-request)
  PUT, PATCH, DELETE, OPTIONS, HEAD  -> like the default GET/POST answers (HTTP triggers)
Per-request switches (request headers; honoured by the default answers, i.e. POST /invoke,
any other POST path, and any path but the special GET ones above):
  x-pyfn-gate: DIR   write DIR/started.TAG (JSON: pid, instance, seq, tag), then wait until
                     DIR/open exists (at most GATE_TIMEOUT seconds, default 60) before answering
  x-pyfn-tag: TAG    names the started file (default: the x-fc-request-id)
  x-pyfn-sleep-ms: N sleep N ms before answering
  x-pyfn-spin-ms: N  burn CPU for N ms before answering (CPUUtilization tests)
  x-pyfn-log: TEXT   print TEXT to stdout (the instance log)
  x-pyfn-env: NAME   answer with header x-pyfn-env-value: the value of NAME (or "")
  x-pyfn-status: N   answer with status N
  x-pyfn-header: K: V  add the response header K: V
  x-pyfn-echo: 1     answer JSON {method, path, headers: [[k, v]...], body (latin-1)}
Every default answer carries x-pyfn-pid, x-pyfn-request-id, x-pyfn-instance (FC_INSTANCE_ID),
x-pyfn-seq (this process's request counter), x-pyfn-max-inflight (the most default answers
this process has ever had in progress at once, this one included).
Behaviour switches:
  LISTEN_DELAY=S     sleep S seconds before listening (readiness tests)
  NEVER_LISTEN=1     never listen
  IGNORE_SIGTERM=1   ignore SIGTERM (the runtime must SIGKILL)
  FORK_CHILDREN=N    fork N children that sleep forever (must not survive a stop)
  CHILDREN_FILE=P    write the children's pids there, one per line
Everything is standard library, so it runs on any Debian python3.
"""
import http.server
import json
import os
import signal
import sys
import threading
import time

PORT = int(os.environ.get("FC_SERVER_PORT", "9000"))
GATE_TIMEOUT = float(os.environ.get("GATE_TIMEOUT", "60"))

_lock = threading.Lock()
_stats = {"inflight": 0, "max_inflight": 0, "seq": 0}


def log(msg):
    sys.stdout.write("pyfn[%d]: %s\n" % (os.getpid(), msg))
    sys.stdout.flush()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        log(fmt % args)

    def reply(self, status, body=b"", ctype="application/octet-stream", headers=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            out = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(out)
                out.append(self.rfile.read(size))
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def default(self, status, body, ctype, headers=None):
        """The default answer with the per-request switches (see the top)."""
        with _lock:
            _stats["inflight"] += 1
            _stats["seq"] += 1
            seq = _stats["seq"]
            _stats["max_inflight"] = max(_stats["max_inflight"], _stats["inflight"])
        try:
            h = self.headers
            if h.get("x-pyfn-log"):
                log(h.get("x-pyfn-log"))
            gate = h.get("x-pyfn-gate")
            if gate:
                tag = h.get("x-pyfn-tag") or h.get("x-fc-request-id") or str(seq)
                info = {"pid": os.getpid(), "instance": os.environ.get("FC_INSTANCE_ID", ""),
                        "seq": seq, "tag": tag}
                tmp = os.path.join(gate, ".tmp.%d.%d" % (os.getpid(), seq))
                with open(tmp, "w") as f:
                    f.write(json.dumps(info))
                os.rename(tmp, os.path.join(gate, "started." + tag))
                deadline = time.monotonic() + GATE_TIMEOUT
                while not os.path.exists(os.path.join(gate, "open")) and time.monotonic() < deadline:
                    time.sleep(0.005)
            if h.get("x-pyfn-sleep-ms"):
                time.sleep(int(h.get("x-pyfn-sleep-ms")) / 1000.0)
            if h.get("x-pyfn-spin-ms"):
                end = time.monotonic() + int(h.get("x-pyfn-spin-ms")) / 1000.0
                while time.monotonic() < end:
                    pass
            if h.get("x-pyfn-status"):
                status = int(h.get("x-pyfn-status"))
            out = dict(headers or {})
            if h.get("x-pyfn-env"):
                out["x-pyfn-env-value"] = os.environ.get(h.get("x-pyfn-env"), "")
            if h.get("x-pyfn-header"):
                k, _, v = h.get("x-pyfn-header").partition(":")
                out[k.strip()] = v.strip()
            if h.get("x-pyfn-echo") == "1":
                body = json.dumps({"method": self.command, "path": self.path,
                                   "headers": [[k, v] for k, v in h.items()],
                                   "body": body.decode("latin-1") if isinstance(body, bytes) else body})
                body, ctype = body.encode(), "application/json"
            with _lock:
                mx = _stats["max_inflight"]
            out.update({"x-pyfn-pid": str(os.getpid()),
                        "x-pyfn-request-id": h.get("x-fc-request-id", ""),
                        "x-pyfn-instance": os.environ.get("FC_INSTANCE_ID", ""),
                        "x-pyfn-seq": str(seq),
                        "x-pyfn-max-inflight": str(mx)})
            self.reply(status, body, ctype, out)
        finally:
            with _lock:
                _stats["inflight"] -= 1

    def query(self):
        q = {}
        if "?" in self.path:
            for part in self.path.split("?", 1)[1].split("&"):
                if "=" in part:
                    k, v = part.split("=", 1)
                    q[k] = v
        return q

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/pre-stop":
            time.sleep(float(os.environ.get("PRESTOP_SLEEP", "0")))
            mark = os.environ.get("PRESTOP_MARK")
            if mark:
                with open(mark, "w") as f:
                    f.write(self.headers.get("x-fc-request-id", "") + "\n")
            self.reply(200, b"bye")
        elif path == "/healthz":
            self.reply(int(os.environ.get("HEALTH_STATUS", "200")), b"ok")
        elif path == "/env":
            self.reply(200, json.dumps(dict(os.environ)).encode(), "application/json")
        elif path == "/whoami":
            probe = os.environ.get("DATA_DIR_PROBE", "")
            readable = False
            if probe:
                try:
                    os.listdir(probe)
                    readable = True
                except OSError:
                    readable = False
            me = {"uid": os.getuid(), "gid": os.getgid(), "pid": os.getpid(), "cwd": os.getcwd(),
                  "data_dir_readable": readable}
            self.reply(200, json.dumps(me).encode(), "application/json")
        else:
            self.default(200, ("%s %s" % (self.command, self.path)).encode(), "text/plain")

    def do_HEAD(self):
        self.do_GET()

    def other(self):
        data = self.body()
        self.default(200, data, self.headers.get("Content-Type", "application/octet-stream"))

    do_PUT = do_PATCH = do_DELETE = do_OPTIONS = other

    def do_POST(self):
        path = self.path.split("?", 1)[0]
        data = self.body()
        if path == "/initialize":
            time.sleep(float(os.environ.get("INIT_SLEEP", "0")))
            status = int(os.environ.get("INIT_STATUS", "200"))
            init_mark = os.environ.get("INIT_MARK")
            if init_mark:
                with open(init_mark, "a") as f:
                    f.write(self.headers.get("x-fc-request-id", "") + "\n")
            self.reply(status, b"initialized" if status == 200 else b"init failed")
        elif path == "/alloc":
            mb = int(self.query().get("mb", "64"))
            block = bytearray(mb * 1024 * 1024)
            for i in range(0, len(block), 4096):
                block[i] = 1
            self.reply(200, b"allocated %d MiB" % mb)
        elif path == "/exit":
            code = int(self.query().get("code", "3"))
            log("exiting with %d" % code)
            os._exit(code)
        elif path == "/invoke" and data == b"__exit__":
            log("exiting with 3 (__exit__)")
            os._exit(3)
        else:
            self.default(200, data, self.headers.get("Content-Type", "application/octet-stream"))


def main():
    if os.environ.get("IGNORE_SIGTERM") == "1":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, lambda *_: (log("SIGTERM"), os._exit(0)))
    kids = []
    for _ in range(int(os.environ.get("FORK_CHILDREN", "0"))):
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            while True:
                time.sleep(3600)
        kids.append(pid)
    if kids and os.environ.get("CHILDREN_FILE"):
        with open(os.environ["CHILDREN_FILE"], "w") as f:
            f.write("".join("%d\n" % k for k in kids))
    if os.environ.get("NEVER_LISTEN") == "1":
        log("never listening")
        while True:
            time.sleep(3600)
    time.sleep(float(os.environ.get("LISTEN_DELAY", "0")))
    srv = http.server.ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
    log("listening on %d" % PORT)
    srv.serve_forever()


if __name__ == "__main__":
    main()
