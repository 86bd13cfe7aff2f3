"""The proxy path: /_test/proxy/NAME/REST... through frost to a test upstream."""

import hashlib
import socket
import time

import pytest

from conftest import ConnectionClosed, build_request, encode_chunk, read_proc_status, wait_for
from test_http_server import Sender, assert_error_json
from upstream import BLOCK, pattern, pattern_block

MiB = 1024 * 1024


@pytest.fixture
def proxied(upstream, frost_factory):
    """(frost, upstream): frost proxies /_test/proxy/up/... to the upstream."""
    srv = frost_factory("--test-upstream", "up=%s" % upstream.addr)
    return srv, upstream


class PatternChecker:
    """Sink that checks, as it streams in, that a body is pattern(n); it
    remembers where the first wrong byte was."""

    def __init__(self):
        self.n = 0
        self.carry = bytearray()
        self.block = 0
        self.first_bad = None

    def _check(self, data, final=False):
        exp = pattern_block(self.block)
        if final:
            exp = exp[: len(data)]
        if self.first_bad is None and data != exp:
            k = next((i for i in range(min(len(data), len(exp))) if data[i] != exp[i]), min(len(data), len(exp)))
            self.first_bad = self.block * BLOCK + k
            self.bad_got = bytes(data[k : k + 16])
            self.bad_exp = bytes(exp[k : k + 16])
        self.block += 1

    def __call__(self, piece):
        self.n += len(piece)
        self.carry += piece
        while len(self.carry) >= BLOCK:
            self._check(bytes(self.carry[:BLOCK]))
            del self.carry[:BLOCK]

    def ok(self, n):
        if self.carry:
            self._check(bytes(self.carry), final=True)
            self.carry.clear()
        return self.n == n and self.first_bad is None

    def describe(self, n):
        if self.n != n:
            return "got %d of %d bytes" % (self.n, n)
        if self.first_bad is not None:
            return "body corrupted: first wrong byte at offset %d (got %r, expected %r)" % (
                self.first_bad,
                self.bad_got,
                self.bad_exp,
            )
        return "ok"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---------------------------------------------------------------- forwarding


def test_get_forwards_path_query_headers(proxied):
    srv, up = proxied
    r = srv.request(
        "GET",
        "/_test/proxy/up/echo/a/b.c?x=1&y=two%20&x=3",
        headers=[("X-Custom", "value 1"), ("Accept", "application/json"), ("User-Agent", "e2e")],
    )
    assert r.status == 200, r
    assert r.header("x-frost-upstream") == "up"
    got = r.json()
    assert got["method"] == "GET"
    assert got["path"] == "/echo/a/b.c"
    assert got["query"] == "x=1&y=two%20&x=3"
    hs = {k.lower(): v for k, v in got["headers"]}
    assert hs.get("x-custom") == "value 1"
    assert hs.get("accept") == "application/json"
    assert hs.get("user-agent") == "e2e"
    assert hs.get("x-frost-proxied") == "1"
    # Frost's own response headers, once each.
    assert len(r.header_all("x-fc-request-id")) == 1
    assert len(r.header_all("date")) == 1
    assert r.header_all("server") == ["frost"]


def test_encoded_path_forwarded_as_sent(frost_factory):
    """REST is forwarded unchanged: percent-escapes stay escaped, so the
    request line frost writes upstream stays one well-formed line."""
    from upstream import RawUpstream

    raw = RawUpstream().start()
    try:
        srv = frost_factory("--test-upstream", "raw=%s" % raw.addr)
        targets = [
            "/a/b%20c?x=%20y",
            "/a%2Fb",
            "/x%0D%0AX-Injected:%201%0D%0AX-Pad:%20",
        ]
        for t in targets:
            r = srv.request("GET", "/_test/proxy/raw" + t)
            assert r.status == 200, (t, r)
        with raw.lock:
            heads = list(raw.heads)
        assert len(heads) == len(targets), heads
        for t, head in zip(targets, heads):
            line = head.split(b"\r\n", 1)[0]
            assert line == b"GET %s HTTP/1.1" % t.encode(), "sent %r for client path %r" % (head[:200], t)
            assert b"X-Injected" not in head.split(b"\r\n", 1)[1], head
    finally:
        raw.stop()


@pytest.mark.parametrize("path", ["/_test/proxy/up/a%00b", "/_test/proxy/up/a%zzb", "/_test/proxy/u%00p/x"])
def test_undecodable_path_400(proxied, path):
    srv, up = proxied
    before = up.stat("requests")
    r = srv.request("GET", path)
    assert r.status == 400, r
    assert up.stat("requests") == before
    srv.healthz()


def test_post_body_forwarded(proxied):
    srv, up = proxied
    body = bytes(range(256)) * 1000
    r = srv.request("POST", "/_test/proxy/up/echo", headers={"Content-Type": "application/x-thing"}, body=body)
    assert r.status == 200, r
    got = r.json()
    assert got["method"] == "POST"
    assert got["body_len"] == len(body)
    assert got["body_sha256"] == hashlib.sha256(body).hexdigest()
    hs = {k.lower(): v for k, v in got["headers"]}
    assert hs.get("content-type") == "application/x-thing"


def test_other_methods_forwarded(proxied):
    srv, up = proxied
    for method in ("PUT", "DELETE", "PATCH"):
        r = srv.request(method, "/_test/proxy/up/echo/m", body=b"abc")
        assert r.status == 200, (method, r)
        got = r.json()
        assert got["method"] == method
        assert got["body_len"] == 3


def test_chunked_request_body_forwarded(proxied):
    srv, up = proxied
    pieces = [b"x" * 10, b"y" * 70000, b"z"]
    r = srv.request("POST", "/_test/proxy/up/echo", body=pieces, chunked=True)
    assert r.status == 200, r
    got = r.json()
    assert got["body_len"] == sum(len(p) for p in pieces)
    assert got["body_sha256"] == hashlib.sha256(b"".join(pieces)).hexdigest()


def test_hop_by_hop_request_headers_not_forwarded(proxied):
    srv, up = proxied
    r = srv.request(
        "GET",
        "/_test/proxy/up/echo",
        headers=[
            ("Connection", "keep-alive, X-Foo"),
            ("X-Foo", "must-not-pass"),
            ("Keep-Alive", "timeout=5"),
            ("TE", "trailers"),
            ("Proxy-Authorization", "Basic abc"),
            ("X-Keep", "yes"),
        ],
    )
    assert r.status == 200, r
    hs = {k.lower(): v for k, v in r.json()["headers"]}
    for name in ("x-foo", "keep-alive", "te", "proxy-authorization"):
        assert name not in hs, "%s forwarded: %r" % (name, hs)
    assert "x-foo" not in hs.get("connection", "").lower()
    assert hs.get("x-keep") == "yes"
    assert hs.get("x-frost-proxied") == "1"


def test_hop_by_hop_response_headers_not_forwarded(proxied):
    srv, up = proxied
    r = srv.request("GET", "/_test/proxy/up/hop")
    assert r.status == 200 and r.body == b"hop", r
    names = {k.lower() for k, _ in r.headers}
    assert "x-bar" not in names, r.headers
    assert "keep-alive" not in names, r.headers
    assert "proxy-foo" not in names, r.headers
    assert r.header("x-end") == "end-to-end"
    assert r.header("x-frost-upstream") == "up"


def test_upstream_status_passed_through(proxied):
    srv, up = proxied
    for code in (201, 204, 404, 500, 503):
        r = srv.request("GET", "/_test/proxy/up/status?code=%d" % code)
        assert r.status == code, r
        assert r.header("x-frost-upstream") == "up"


def test_head_through_proxy(proxied):
    srv, up = proxied
    with srv.connect() as c:
        r = c.request("HEAD", "/_test/proxy/up/big?bytes=12345")
        assert r.status == 200, r
        assert r.header("content-length") == "12345"
        # The connection is still in sync (no body bytes were sent).
        r = c.request("GET", "/_test/proxy/up/echo")
        assert r.status == 200 and r.json()["method"] == "GET"


def test_unknown_upstream_404(proxied):
    srv, up = proxied
    r = srv.request("GET", "/_test/proxy/nope/echo")
    assert_error_json(r, 404, "UpstreamNotFound")


# ----------------------------------------------------------- response framing


def test_large_upstream_body(proxied):
    srv, up = proxied
    n = 50 * MiB + 7
    chk = PatternChecker()
    with srv.connect(timeout=60) as c:
        r = c.request("GET", "/_test/proxy/up/big?bytes=%d" % n, sink=chk, timeout=120)
    assert r.status == 200, r
    assert r.header("content-length") == str(n)
    assert chk.ok(n), chk.describe(n)


def test_chunked_upstream_response(proxied):
    srv, up = proxied
    n = 300_001
    with srv.connect() as c:
        r = c.request("GET", "/_test/proxy/up/chunked?bytes=%d&chunk=777" % n)
        assert r.status == 200, r
        assert r.body == b"".join(pattern(n))
        assert r.header("content-length") is None or int(r.header("content-length")) == n
        # And the client connection is reusable.
        if not r.wants_close():
            assert c.request("GET", "/_test/proxy/up/echo").status == 200


def test_close_delimited_upstream_response(proxied):
    srv, up = proxied
    n = 1_000_003
    with srv.connect() as c:
        r = c.request("GET", "/_test/proxy/up/close?bytes=%d" % n)
        assert r.status == 200, r
        assert r.body_len == n
        assert r.body == b"".join(pattern(n))
        if not r.wants_close():
            r2 = c.request("GET", "/_test/proxy/up/echo")
            assert r2.status == 200


def test_close_delimited_upstream_to_http10_client(proxied):
    srv, up = proxied
    n = 100_000
    with srv.connect() as c:
        c.send(b"GET /_test/proxy/up/close?bytes=%d HTTP/1.0\r\n\r\n" % n)
        r = c.read_response()
        assert r.status == 200
        assert r.body == b"".join(pattern(n))


def test_truncated_upstream_body_is_not_a_clean_response(proxied):
    srv, up = proxied
    with srv.connect() as c:
        c.send(build_request("GET", "/_test/proxy/up/truncate?bytes=100000&send=1000"))
        with pytest.raises(ConnectionClosed):
            c.read_response(timeout=20)
    srv.healthz()


def test_upstream_interim_responses(proxied):
    srv, up = proxied
    with srv.connect() as c:
        r = c.request("GET", "/_test/proxy/up/interim")
        assert r.status == 200 and r.body == b"final", r
        assert c.request("GET", "/_test/proxy/up/echo").status == 200


def test_expect_continue_through_proxy(proxied):
    srv, up = proxied
    with srv.connect() as c:
        c.send(b"POST /_test/proxy/up/echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
        interim = c.read_response(interim=True, timeout=10)
        assert interim.status == 100, interim
        c.send(b"data")
        r = c.read_response()
        assert r.status == 200, r
        got = r.json()
        assert got["body_len"] == 4
        assert "expect" not in {k.lower() for k, _ in got["headers"]}


def test_sigterm_drains_proxied_request(proxied):
    import signal

    srv, up = proxied
    c = srv.connect(timeout=30)
    c.send(build_request("GET", "/_test/proxy/up/sleep?ms=800"))
    assert up.sleep_started.wait(10)
    srv.send_signal(signal.SIGTERM)
    r = c.read_response(timeout=30)
    assert r.status == 200 and r.json() == {"slept": 800}, r
    assert r.wants_close()
    c.close()
    assert srv.wait_exit(30) == 0


# ------------------------------------------------------------ connection reuse


def test_upstream_connections_reused(proxied):
    srv, up = proxied
    # Sequential requests, each on a new client connection.
    for i in range(10):
        r = srv.request("GET", "/_test/proxy/up/echo?i=%d" % i)
        assert r.status == 200, r
    assert up.stat("requests") == 10
    assert up.stat("connections") <= 2, "10 sequential proxied requests used %d upstream connections" % up.stat(
        "connections"
    )
    # Also with bodies, on one client connection.
    before = up.stat("connections")
    with srv.connect() as c:
        for i in range(10):
            r = c.request("POST", "/_test/proxy/up/echo", body=b"b" * (i * 1000))
            assert r.status == 200 and r.json()["body_len"] == i * 1000
    assert up.stat("connections") - before <= 1


def test_upstream_closing_idle_connection_is_survived(proxied):
    srv, up = proxied
    assert srv.request("GET", "/_test/proxy/up/echo").status == 200
    # The upstream drops its (idle, pooled) side; the next request must still work.
    with up.lock:
        socks = list(up.open_socks)
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    for i in range(3):
        r = srv.request("GET", "/_test/proxy/up/echo?after=%d" % i)
        assert r.status == 200, r


def test_upstream_idle_pool_disabled(upstream, frost_factory):
    srv = frost_factory("--test-upstream", "up=%s" % upstream.addr, "--set", "http.upstream_max_idle_per_endpoint=0")
    for i in range(4):
        assert srv.request("GET", "/_test/proxy/up/echo").status == 200
    assert upstream.stat("connections") == 4


# ------------------------------------------------------------------- failures


def test_upstream_unreachable_502(frost_factory):
    port = free_port()
    srv = frost_factory("--test-upstream", "dead=127.0.0.1:%d" % port)
    for _ in range(2):
        r = srv.request("GET", "/_test/proxy/dead/anything")
        assert_error_json(r, 502, "UpstreamUnavailable")
    r = srv.request("POST", "/_test/proxy/dead/x", body=b"y" * 5000)
    assert_error_json(r, 502, "UpstreamUnavailable")
    srv.healthz()


def test_upstream_dies_between_requests_502(frost_factory):
    from upstream import Upstream

    up = Upstream().start()
    try:
        srv = frost_factory("--test-upstream", "up=%s" % up.addr)
        assert srv.request("GET", "/_test/proxy/up/echo").status == 200
    finally:
        up.stop()
    r = srv.request("GET", "/_test/proxy/up/echo")
    assert_error_json(r, 502, "UpstreamUnavailable")
    srv.healthz()


@pytest.mark.parametrize("what", ["garbage", "bighead", "drop"])
def test_bad_upstream_answers_502(proxied, what):
    srv, up = proxied
    r = srv.request("GET", "/_test/proxy/up/%s" % what)
    assert_error_json(r, 502, "UpstreamUnavailable")
    # Frost and its pool recover.
    r = srv.request("GET", "/_test/proxy/up/echo")
    assert r.status == 200, r
    srv.healthz()


def test_non_idempotent_request_not_retried(proxied):
    """A POST whose upstream connection dies without an answer may have been
    processed: a proxy must not send it again on its own (RFC 9110 9.2.2)."""
    srv, up = proxied
    # Warm the pool so the POST goes out on a reused connection (the case
    # where a retry would be tempting).
    assert srv.request("GET", "/_test/proxy/up/echo").status == 200
    r = srv.request("POST", "/_test/proxy/up/drop", body=b"")
    assert r.status == 502, r
    assert up.stat("drops") == 1, "the POST reached the upstream %d times" % up.stat("drops")


def test_client_gone_mid_download(proxied):
    srv, up = proxied
    c = srv.connect()
    c.send(build_request("GET", "/_test/proxy/up/big?bytes=%d" % (100 * MiB)))
    head = c.read_head()
    assert head.status == 200
    wait_for(lambda: up.stat("big_sent") > 1 * MiB, 20, "the upstream to start sending")
    c.close()
    # Frost stays healthy and a new download works.
    srv.healthz()
    chk = PatternChecker()
    r = srv.request("GET", "/_test/proxy/up/big?bytes=1000000", sink=chk)
    assert r.status == 200 and chk.ok(1000000)


def test_upstream_slow_head_does_not_block_others(proxied):
    srv, up = proxied
    c = srv.connect()
    c.send(build_request("GET", "/_test/proxy/up/sleep?ms=1000"))
    assert up.sleep_started.wait(10)
    srv.healthz()
    r = srv.request("GET", "/_test/proxy/up/echo")
    assert r.status == 200
    r = c.read_response()
    assert r.status == 200 and r.json() == {"slept": 1000}
    c.close()


# ---------------------------------------------------------------- streaming


def vm(pid, field):
    return read_proc_status(pid, field)


def test_slow_downstream_reader_memory_bounded(proxied):
    srv, up = proxied
    n = 200 * MiB
    # Warm up (pool, buffers) before measuring the baseline.
    chk = PatternChecker()
    assert srv.request("GET", "/_test/proxy/up/big?bytes=%d" % (4 * MiB), sink=chk).status == 200
    assert chk.ok(4 * MiB)
    baseline = vm(srv.pid, "VmRSS")

    base_sent = up.stat("big_sent")
    c = srv.connect(timeout=60, rcvbuf=16 * 1024)
    c.send(build_request("GET", "/_test/proxy/up/big?bytes=%d" % n))

    # Read nothing until the upstream is stalled by back-pressure (no progress
    # for a while) — or has sent everything, which means frost buffered it.
    peak = [baseline]
    last = [-1, time.monotonic()]

    def stalled():
        peak[0] = max(peak[0], vm(srv.pid, "VmRSS"))
        sent = up.stat("big_sent") - base_sent
        now = time.monotonic()
        if sent != last[0]:
            last[0], last[1] = sent, now
            return sent >= n
        return sent > 0 and now - last[1] >= 0.75

    wait_for(stalled, 60, "the upstream to stall or finish")
    sent = up.stat("big_sent") - base_sent
    growth = peak[0] - baseline
    print("slow reader: upstream sent %.1f MiB, frost RSS %.1f -> peak %.1f MiB" % (sent / MiB, baseline / MiB, peak[0] / MiB))
    assert growth < 64 * MiB, "frost RSS grew by %.1f MiB while the client read nothing (upstream sent %.1f MiB)" % (
        growth / MiB,
        sent / MiB,
    )
    assert sent < n // 2, "upstream sent %.1f MiB to a client that read nothing" % (sent / MiB)

    # Now read everything.
    chk = PatternChecker()
    r = c.read_response(sink=chk, timeout=120)
    c.close()
    assert r.status == 200
    assert chk.ok(n), chk.describe(n)


def test_upload_streamed_to_upstream(proxied):
    srv, up = proxied
    n = 20 * MiB
    body = b"".join(pattern(n))
    with srv.connect(timeout=60) as c:
        c.send(b"POST /_test/proxy/up/sha256 HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % n)
        s = Sender(c.sock, [body[i : i + MiB] for i in range(0, n, MiB)])
        s.start()
        r = c.read_response(timeout=120)
        s.finish()
        assert s.error is None, s.error
    assert r.status == 200, r
    assert r.json() == {"bytes": n, "sha256": hashlib.sha256(body).hexdigest()}


def test_upload_chunked_streamed_to_upstream(proxied):
    srv, up = proxied
    n = 8 * MiB + 3
    body = b"".join(pattern(n))
    with srv.connect(timeout=60) as c:
        c.send(b"POST /_test/proxy/up/sha256 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        pieces = [encode_chunk(body[i : i + 100_000]) for i in range(0, n, 100_000)] + [b"0\r\n\r\n"]
        s = Sender(c.sock, pieces)
        s.start()
        r = c.read_response(timeout=120)
        s.finish()
        assert s.error is None, s.error
    assert r.status == 200, r
    assert r.json() == {"bytes": n, "sha256": hashlib.sha256(body).hexdigest()}


def test_slow_upstream_reader_memory_bounded(proxied):
    srv, up = proxied
    n = 120 * MiB
    assert srv.request("POST", "/_test/proxy/up/sha256", body=b"w" * MiB).status == 200
    baseline = vm(srv.pid, "VmRSS")
    c = srv.connect(timeout=60)
    c.send(b"POST /_test/proxy/up/hold-sha256 HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % n)
    block = b"".join(pattern(MiB))
    s = Sender(c.sock, [block] * (n // MiB))
    s.start()
    assert up.holding.wait(20), "upstream never got the request"
    peak = [baseline]
    last = [-1, time.monotonic()]

    def stalled():
        peak[0] = max(peak[0], vm(srv.pid, "VmRSS"))
        now = time.monotonic()
        if s.sent != last[0]:
            last[0], last[1] = s.sent, now
            return not s.is_alive()
        return now - last[1] >= 0.75

    wait_for(stalled, 60, "the client upload to stall or finish")
    growth = peak[0] - baseline
    sent = s.sent
    print("slow upstream: client sent %.1f MiB, frost RSS %.1f -> peak %.1f MiB" % (sent / MiB, baseline / MiB, peak[0] / MiB))
    up.release.set()
    assert growth < 64 * MiB, "frost RSS grew by %.1f MiB while the upstream read nothing" % (growth / MiB)
    assert sent < n // 2, "client sent %.1f MiB while the upstream read nothing" % (sent / MiB)
    r = c.read_response(timeout=120)
    s.finish()
    c.close()
    assert r.status == 200, r
    h = hashlib.sha256()
    for _ in range(n // MiB):
        h.update(block)
    assert r.json() == {"bytes": n, "sha256": h.hexdigest()}
