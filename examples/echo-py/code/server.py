#!/usr/bin/env python3
"""echo-py: a function that tells you what it received (an FC custom runtime).

Python standard library only. It listens on FC_SERVER_PORT and answers:

  POST /invoke      the body back, with x-echo-* headers describing the request
  POST /initialize  200 once the (optionally slow, ECHO_INIT_MS) initialization is done
  GET  /pre-stop    200
  anything else     (HTTP trigger requests keep their method and path) a JSON document:
                    {method, path, query, headers, rawHeaders, body, bodyEncoding,
                     bodyLength, instance, functionName, initialized, count, sleptMs}

When the request carries `x-fc-control-path`, that decides the kind of request
(`/invoke`, `/initialize`, `/pre-stop`, `/http-invoke` for trigger requests), as in FC;
without it the method and path do.

Behaviour switches (environment variables), for tests and benchmarks:

  ECHO_SLEEP_MS=N      sleep N ms in every /invoke and trigger request
  ECHO_SLEEP_MIX=SPEC  "80:10,20:200": per request, 10 ms with weight 80, 200 ms with
                       weight 20 (weights need not add up to 100); overrides ECHO_SLEEP_MS
  ECHO_FAIL_AFTER=N    exit with code 3 right after answering the N-th request
                       (/invoke and trigger requests; not /initialize or /pre-stop)
  ECHO_INIT_MS=N       /initialize takes N ms
  ECHO_ACCESS_LOG=1    log every request (off by default: benchmarks send many)

A request header `x-echo-sleep-ms: N` overrides the sleep for that request.
"""
import base64
import http.server
import json
import os
import random
import signal
import sys
import threading
import time

PORT = int(os.environ.get("FC_SERVER_PORT") or os.environ.get("FC_CUSTOM_LISTEN_PORT") or "9000")
INSTANCE = os.environ.get("FC_INSTANCE_ID", "")
FUNCTION = os.environ.get("FC_FUNCTION_NAME", "")
FAIL_EXIT_CODE = 3

# x-fc-* request headers copied to the /invoke answer as x-echo-<rest>. A fixed list, not
# every x-fc-* header: on Alibaba Cloud FC those include the invocation's temporary
# credentials (x-fc-access-key-secret, x-fc-security-token), which must not be echoed.
ECHOED_FC_HEADERS = (
    "x-fc-request-id",
    "x-fc-function-name",
    "x-fc-control-path",
    "x-fc-instance-id",
    "x-fc-function-handler",
    "x-fc-function-initializer",
    "x-fc-initialization-timeout",
    "x-fc-function-memory",
    "x-fc-function-timeout",
    "x-fc-qualifier",
    "x-fc-version-id",
    "x-fc-region",
    "x-fc-account-id",
)
# Shown as "<redacted>" in the trigger answer, for the same reason.
SECRET_HEADERS = {"authorization", "x-fc-access-key-id", "x-fc-access-key-secret",
                  "x-fc-security-token"}


def log(msg):
    sys.stdout.write("echo-py[%d]: %s\n" % (os.getpid(), msg))
    sys.stdout.flush()


def env_int(name, default=0):
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        sys.exit("echo-py: %s=%r is not an integer" % (name, text))


def parse_sleep_mix(text):
    """"80:10,20:200" -> ([80, 20], [10, 200]); exits on a malformed spec, since a
    benchmark silently running with no delay would measure the wrong thing."""
    weights, delays = [], []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            w, ms = part.split(":")
            weights.append(float(w))
            delays.append(int(ms))
        except ValueError:
            sys.exit("echo-py: ECHO_SLEEP_MIX=%r: expected WEIGHT:MS[,WEIGHT:MS...]" % text)
    if not weights or sum(weights) <= 0 or min(weights) < 0 or min(delays) < 0:
        sys.exit("echo-py: ECHO_SLEEP_MIX=%r: needs positive weights and delays" % text)
    return weights, delays


SLEEP_MS = env_int("ECHO_SLEEP_MS")
SLEEP_MIX = None  # or (weights, delays)
if os.environ.get("ECHO_SLEEP_MIX"):
    SLEEP_MIX = parse_sleep_mix(os.environ["ECHO_SLEEP_MIX"])
FAIL_AFTER = env_int("ECHO_FAIL_AFTER")
INIT_MS = env_int("ECHO_INIT_MS")
ACCESS_LOG = os.environ.get("ECHO_ACCESS_LOG", "") not in ("", "0")


class State:
    """What the instance has seen; handlers run on many threads at once."""

    def __init__(self):
        self.lock = threading.Lock()
        self.initialized = False
        self.init_count = 0
        self.count = 0  # /invoke and trigger requests started
        self.done = 0  # ... and answered

    def start_request(self):
        with self.lock:
            self.count += 1
            return self.count

    def finish_request(self):
        with self.lock:
            self.done += 1
            return self.done


STATE = State()


class BadRequest(Exception):
    pass


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every answer has a Content-Length

    # ------------------------------------------------------------ plumbing

    def version_string(self):
        return "echo-py"

    def log_message(self, fmt, *args):
        if ACCESS_LOG:
            log(fmt % args)

    def log_error(self, fmt, *args):
        log(fmt % args)

    def reply(self, status, body, ctype, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def reply_json(self, status, doc, headers=()):
        body = (json.dumps(doc, ensure_ascii=False) + "\n").encode()
        self.reply(status, body, "application/json", headers)

    def read_body(self):
        """The request body, Content-Length or chunked (a trigger request may arrive
        either way); raises BadRequest when it is malformed."""
        te = (self.headers.get("Transfer-Encoding") or "").strip().lower()
        if te:
            if te != "chunked":
                raise BadRequest("unsupported Transfer-Encoding %r" % te)
            return self.read_chunked()
        cl = self.headers.get_all("Content-Length") or []
        if not cl:
            return b""
        if len(set(v.strip() for v in cl)) != 1 or not cl[0].strip().isdigit():
            raise BadRequest("bad Content-Length %r" % cl)
        n = int(cl[0])
        data = self.rfile.read(n)
        if len(data) != n:
            raise BadRequest("body ended after %d of %d bytes" % (len(data), n))
        return data

    def read_chunked(self):
        parts = []
        while True:
            line = self.rfile.readline(1024)
            if not line.endswith(b"\n"):
                raise BadRequest("bad chunk size line")
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise BadRequest("bad chunk size %r" % line[:40])
            if size == 0:
                break
            data = self.rfile.read(size)
            if len(data) != size or self.rfile.readline(3).strip():
                raise BadRequest("truncated chunk")
            parts.append(data)
        while True:  # trailers, up to the empty line
            line = self.rfile.readline(8192)
            if not line:
                raise BadRequest("truncated trailers")
            if line in (b"\r\n", b"\n"):
                break
        return b"".join(parts)

    # ------------------------------------------------------------ dispatch

    def handle_any(self):
        try:
            body = self.read_body()
        except BadRequest as e:
            # The connection's framing is lost: answer and close it.
            self.close_connection = True
            self.reply_json(400, {"error": str(e)})
            return
        path, _, query = self.path.partition("?")
        control = (self.headers.get("x-fc-control-path") or "").strip()
        if not control:  # not from Frost or FC: the method and path tell
            control = {("POST", "/initialize"): "/initialize", ("GET", "/pre-stop"): "/pre-stop",
                       ("POST", "/invoke"): "/invoke"}.get((self.command, path), "/http-invoke")
        if control == "/initialize":
            self.initialize()
        elif control == "/pre-stop":
            log("pre-stop after %d requests" % STATE.count)
            self.reply_json(200, {"instance": INSTANCE, "count": STATE.count})
        elif control == "/invoke":
            self.counted(self.invoke, path, query, body)
        else:
            self.counted(self.trigger, path, query, body)

    def counted(self, handler, path, query, body):
        n = STATE.start_request()
        slept = self.pause()
        handler(path, query, body, n, slept)
        if STATE.finish_request() == FAIL_AFTER:
            # os._exit, not sys.exit: this is a handler thread, and the point is to die
            # like a crashing function would, with requests still in flight.
            log("ECHO_FAIL_AFTER=%d reached: exiting with code %d" % (FAIL_AFTER, FAIL_EXIT_CODE))
            os._exit(FAIL_EXIT_CODE)

    def pause(self):
        """Sleeps as configured; returns the milliseconds chosen."""
        override = self.headers.get("x-echo-sleep-ms")
        if override is not None and override.strip().isdigit():
            ms = int(override)
        elif SLEEP_MIX:
            ms = random.choices(SLEEP_MIX[1], weights=SLEEP_MIX[0])[0]
        else:
            ms = SLEEP_MS
        if ms > 0:
            time.sleep(ms / 1000.0)
        return ms

    # ------------------------------------------------------------ handlers

    def initialize(self):
        t0 = time.monotonic()
        if INIT_MS > 0:
            time.sleep(INIT_MS / 1000.0)
        with STATE.lock:
            STATE.initialized = True
            STATE.init_count += 1
            calls = STATE.init_count
        log("initialized (call %d, request %s)" % (calls, self.headers.get("x-fc-request-id", "-")))
        self.reply_json(200, {"initialized": True, "instance": INSTANCE, "calls": calls,
                              "ms": round((time.monotonic() - t0) * 1000, 1)})

    def invoke(self, path, query, body, n, slept):
        hs = [
            ("x-echo-method", self.command),
            ("x-echo-path", path),
            ("x-echo-query", query),
            ("x-echo-instance", INSTANCE),
            ("x-echo-initialized", "true" if STATE.initialized else "false"),
            ("x-echo-count", str(n)),
            ("x-echo-sleep-ms", str(slept)),
            ("x-echo-body-length", str(len(body))),
        ]
        for name in ECHOED_FC_HEADERS:
            v = self.headers.get(name)
            if v is not None:
                hs.append(("x-echo-" + name[len("x-fc-"):], v))
        ctype = self.headers.get("Content-Type") or "application/octet-stream"
        self.reply(200, body, ctype, hs)

    def trigger(self, path, query, body, n, slept):
        raw = [[k, "<redacted>" if k.lower() in SECRET_HEADERS else v]
               for k, v in self.headers.items()]
        merged = {}
        for k, v in raw:  # repeated headers joined as RFC 9110 allows
            k = k.lower()
            merged[k] = merged[k] + ", " + v if k in merged else v
        try:
            text, encoding = body.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            text, encoding = base64.b64encode(body).decode(), "base64"
        self.reply_json(200, {
            "method": self.command,
            "path": path,
            "query": query,
            "headers": merged,
            "rawHeaders": raw,
            "body": text,
            "bodyEncoding": encoding,
            "bodyLength": len(body),
            "instance": INSTANCE,
            "functionName": FUNCTION,
            "initialized": STATE.initialized,
            "count": n,
            "sleptMs": slept,
        })


# The HTTP trigger lets any of these through, so answer them all the same way.
for _method in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
    setattr(Handler, "do_" + _method, Handler.handle_any)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True  # a stop must not wait for idle keep-alive connections
    request_queue_size = 512  # the default 5 drops connections under benchmark bursts


def main():
    # A clean exit status on Frost's SIGTERM (after /pre-stop), rather than "killed by
    # signal 15" in the instance's record.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    srv = Server(("0.0.0.0", PORT), Handler)
    log("listening on %d (instance %s, sleep %s, fail after %s)" % (
        PORT, INSTANCE or "-", os.environ.get("ECHO_SLEEP_MIX") or "%d ms" % SLEEP_MS,
        FAIL_AFTER or "never"))
    try:
        srv.serve_forever()
    finally:
        srv.server_close()


if __name__ == "__main__":
    main()
