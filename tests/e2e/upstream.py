"""A small threaded HTTP/1.1 upstream for the proxy tests (stdlib only).

Endpoints (any method):
  /echo...            JSON: method, path, query, headers ([[name, value], ...]),
                      body_len, body_sha256 of the request
  /big?bytes=N        N bytes of pattern(), with Content-Length, streamed
  /chunked?bytes=N&chunk=M   N bytes of pattern(), Transfer-Encoding: chunked
  /close?bytes=N      HTTP/1.0-style: no length, the body ends when the
                      connection closes
  /sleep?ms=N         answers {"slept": N} after N ms
  /sha256             reads the whole request body, answers its length and sha256
  /hold-sha256        like /sha256 but waits for Upstream.release before reading
  /hop                answer with hop-by-hop headers (Connection: X-Bar, X-Bar,
                      Keep-Alive, Proxy-Foo) and an end-to-end one (X-End)
  /truncate?bytes=N&send=M   promises Content-Length N, sends M < N, closes
  /status?code=N      an empty answer with that status
  /interim            a 100 and a 103 before the final 200 "final"
  /drop               reads the request and closes without answering (counts drops)
  /garbage            answers with something that is not HTTP
  /bighead            answers with an ~80 KB header block

Counters: connections (TCP connections accepted), requests, big_sent (bytes of
/big bodies written so far), last_requests (recent request records).
"""

import hashlib
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

BLOCK = 64 * 1024
_BASE = hashlib.sha256(b"frost-e2e").digest() * (BLOCK // 32)


def pattern_block(i):
    """Block i of the test pattern: its 8-byte index, then fixed filler."""
    return i.to_bytes(8, "big") + _BASE[8:]


def pattern(n):
    """Yields the first n bytes of the pattern, block by block."""
    i = 0
    while n > 0:
        b = pattern_block(i)
        if n < len(b):
            b = b[:n]
        yield b
        n -= len(b)
        i += 1


def pattern_sha256(n):
    h = hashlib.sha256()
    for b in pattern(n):
        h.update(b)
    return h.hexdigest()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, owner):
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)

    def get_request(self):
        sock, addr = super().get_request()
        with self.owner.lock:
            self.owner.connections += 1
            self.owner.open_socks.append(sock)
        return sock, addr


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def __getattr__(self, name):
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    # -- request body

    def _read_body(self, sink):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return
                left = size
                while left:
                    piece = self.rfile.read(min(left, BLOCK))
                    if not piece:
                        raise ConnectionError("body cut")
                    sink(piece)
                    left -= len(piece)
                self.rfile.read(2)
        n = int(self.headers.get("Content-Length") or 0)
        while n:
            piece = self.rfile.read(min(n, BLOCK))
            if not piece:
                raise ConnectionError("body cut")
            sink(piece)
            n -= len(piece)

    def _send(self, status, body, ctype="application/json", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, obj, status=200, extra=()):
        self._send(status, json.dumps(obj).encode(), extra=extra)

    # -- dispatch

    def _dispatch(self):
        up = self.server.owner
        u = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(u.query, keep_blank_values=True).items()}
        rec = {
            "method": self.command,
            "path": u.path,
            "query": u.query,
            "headers": [[k, v] for k, v in self.headers.items()],
        }
        with up.lock:
            up.requests += 1
            up.last_requests.append(rec)
            del up.last_requests[:-50]
        route = u.path
        if route.startswith("/echo"):
            h = hashlib.sha256()
            count = [0]

            def sink(p):
                h.update(p)
                count[0] += len(p)

            self._read_body(sink)
            rec["body_len"] = count[0]
            rec["body_sha256"] = h.hexdigest()
            self._json(rec)
        elif route in ("/sha256", "/hold-sha256"):
            if route == "/hold-sha256":
                up.holding.set()
                up.release.wait(120)
            h = hashlib.sha256()
            count = [0]

            def sink(p):
                h.update(p)
                count[0] += len(p)
                with up.lock:
                    up.body_received += len(p)

            self._read_body(sink)
            self._json({"bytes": count[0], "sha256": h.hexdigest()})
        elif route == "/big":
            self._read_body(lambda p: None)
            n = int(q.get("bytes", "0"))
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(n))
            self.end_headers()
            if self.command == "HEAD":
                return
            for b in pattern(n):
                self.wfile.write(b)
                with up.lock:
                    up.big_sent += len(b)
        elif route == "/chunked":
            self._read_body(lambda p: None)
            n = int(q.get("bytes", "0"))
            chunk = int(q.get("chunk", "1000"))
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if self.command == "HEAD":
                return
            data = b"".join(pattern(n))
            for off in range(0, n, chunk):
                piece = data[off : off + chunk]
                self.wfile.write(b"%x\r\n" % len(piece) + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif route == "/close":
            self._read_body(lambda p: None)
            n = int(q.get("bytes", "0"))
            # HTTP/1.0 framing: no length, the end of the body is the close.
            self.wfile.write(b"HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n")
            for b in pattern(n):
                self.wfile.write(b)
            self.close_connection = True
        elif route == "/sleep":
            self._read_body(lambda p: None)
            ms = int(q.get("ms", "0"))
            up.sleep_started.set()
            threading.Event().wait(ms / 1000.0)
            self._json({"slept": ms})
        elif route == "/hop":
            self._read_body(lambda p: None)
            self._send(
                200,
                b"hop",
                ctype="text/plain",
                extra=[
                    ("Connection", "X-Bar"),
                    ("X-Bar", "must-not-pass"),
                    ("Keep-Alive", "timeout=5"),
                    ("Proxy-Foo", "must-not-pass"),
                    ("X-End", "end-to-end"),
                ],
            )
        elif route == "/truncate":
            self._read_body(lambda p: None)
            n = int(q.get("bytes", "0"))
            m = int(q.get("send", "0"))
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(n))
            self.end_headers()
            self.wfile.write(b"".join(pattern(m))[:m])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
        elif route == "/interim":
            # Interim answers (100, 103) before the final one.
            self._read_body(lambda p: None)
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.wfile.write(b"HTTP/1.1 103 Early Hints\r\nLink: </x.css>; rel=preload\r\n\r\n")
            self._send(200, b"final", ctype="text/plain")
        elif route == "/drop":
            # Reads the request, then closes without any answer.
            self._read_body(lambda p: None)
            with up.lock:
                up.drops += 1
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
        elif route == "/garbage":
            self._read_body(lambda p: None)
            self.wfile.write(b"THIS IS NOT HTTP\r\n\r\n")
            self.close_connection = True
        elif route == "/bighead":
            self._read_body(lambda p: None)
            self.send_response(200)
            for i in range(80):
                self.send_header("X-Big-%d" % i, "b" * 1000)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif route == "/status":
            self._read_body(lambda p: None)
            code = int(q.get("code", "200"))
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._read_body(lambda p: None)
            self._json({"error": "no such endpoint", "path": u.path}, status=404)


class Upstream:
    def __init__(self):
        self.lock = threading.Lock()
        self.connections = 0
        self.requests = 0
        self.big_sent = 0
        self.drops = 0
        self.body_received = 0
        self.last_requests = []
        self.open_socks = []
        self.release = threading.Event()
        self.holding = threading.Event()
        self.sleep_started = threading.Event()
        self.server = None
        self.thread = None

    def start(self):
        self.server = _Server(self)
        self.port = self.server.server_address[1]
        self.addr = "127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        with self.lock:
            socks, self.open_socks = self.open_socks, []
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)  # handler threads close their own sockets
            except OSError:
                pass

    def stat(self, name):
        with self.lock:
            return getattr(self, name)


class RawUpstream:
    """Accepts connections, records each request head byte for byte, and
    answers every request with an empty 200 (keep-alive).  For checking
    exactly what frost puts on the wire."""

    def __init__(self):
        self.lock = threading.Lock()
        self.heads = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.addr = "127.0.0.1:%d" % self.port
        self.stopped = False
        self.conns = []
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def _accept(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        buf = b""
        try:
            while True:
                i = buf.find(b"\r\n\r\n")
                if i < 0:
                    d = c.recv(65536)
                    if not d:
                        return
                    buf += d
                    continue
                head, buf = buf[: i + 4], buf[i + 4 :]
                with self.lock:
                    self.heads.append(head)
                m = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                n = int(m[0].split(b":", 1)[1]) if m else 0
                while len(buf) < n:
                    d = c.recv(65536)
                    if not d:
                        return
                    buf += d
                buf = buf[n:]
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        except OSError:
            return

    def stop(self):
        self.stopped = True
        try:
            self.sock.close()
        except OSError:
            pass
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
