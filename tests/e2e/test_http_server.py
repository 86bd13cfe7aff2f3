"""HTTP/1.1 server behaviour of `frost serve`: framing, keep-alive, limits, timeouts."""

import hashlib
import random
import re
import threading
import time

from conftest import ConnectionClosed, HttpConn, build_request, encode_chunk, wait_for

REQID_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z-]+$")


class Sender(threading.Thread):
    """Sends pieces on a socket in the background (for bodies the server
    echoes while they arrive, where one thread would deadlock)."""

    def __init__(self, sock, pieces):
        super().__init__(daemon=True)
        self.sock = sock
        self.pieces = pieces
        self.error = None
        self.sent = 0

    def run(self):
        try:
            for p in self.pieces:
                self.sock.sendall(p)
                self.sent += len(p)
        except OSError as e:
            self.error = e

    def finish(self, timeout=60):
        self.join(timeout)
        assert not self.is_alive(), "sender thread still blocked after %ss" % timeout


def assert_error_json(resp, status, code):
    assert resp.status == status, resp
    assert resp.header("content-type", "").startswith("application/json"), resp
    body = resp.json()
    assert body["Code"] == code, body
    assert isinstance(body["Message"], str) and body["Message"], body
    assert body["RequestId"] == resp.header("x-fc-request-id"), (body, resp.headers)
    return body


def random_bytes(n, seed):
    return random.Random(seed).randbytes(n)


# ------------------------------------------------------------------- basics


def test_healthz_headers(frost):
    with frost.connect() as c:
        r = c.request("GET", "/healthz")
    assert r.status == 200
    assert r.version == "HTTP/1.1"
    assert r.body == b'{"status":"ok"}'
    assert r.header("content-length") == str(len(r.body))
    assert r.header("server") == "frost"
    assert re.match(r"^[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT$", r.header("date")), r.header("date")
    rid = r.header("x-fc-request-id")
    assert rid and REQID_RE.match(rid), rid
    assert r.header("content-type") == "application/json"


def test_head_healthz_has_no_body(frost):
    with frost.connect() as c:
        r = c.request("HEAD", "/healthz")
        assert r.status == 200
        assert r.header("content-length") == "15"
        assert r.body == b""
        # The connection is still in sync: a second request works.
        r2 = c.request("GET", "/healthz")
        assert r2.status == 200 and r2.body == b'{"status":"ok"}'


def test_unknown_path_is_404_json(frost):
    r = frost.request("GET", "/no/such/thing")
    assert_error_json(r, 404, "NotFound")


def test_wrong_method_is_405_with_allow(frost):
    r = frost.request("DELETE", "/healthz")
    assert_error_json(r, 405, "MethodNotAllowed")
    allow = {m.strip() for m in r.header("allow", "").split(",")}
    assert {"GET", "HEAD"} <= allow, r.header("allow")
    r = frost.request("GET", "/_test/echo")
    assert_error_json(r, 405, "MethodNotAllowed")
    allow = {m.strip() for m in r.header("allow", "").split(",")}
    assert {"POST", "PUT"} <= allow, r.header("allow")


def test_test_routes_absent_without_flag(frost_factory):
    srv = frost_factory(test_routes=False)
    r = srv.request("POST", "/_test/echo", body=b"x")
    assert_error_json(r, 404, "NotFound")
    srv.healthz()


def test_echo_content_length(frost):
    body = random_bytes(100_000, 1)
    r = frost.request("POST", "/_test/echo", headers={"Content-Type": "application/x-test"}, body=body)
    assert r.status == 200
    assert r.body == body
    assert r.header("x-received-bytes") == str(len(body))
    assert r.header("content-type") == "application/x-test"
    r = frost.request("PUT", "/_test/echo", body=b"")
    assert r.status == 200 and r.body == b"" and r.header("x-received-bytes") == "0"


def test_echo_http10_closes(frost):
    with frost.connect() as c:
        c.send(b"POST /_test/echo HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc")
        r = c.read_response()
        assert r.status == 200 and r.body == b"abc"
        assert c.wait_closed(10), "HTTP/1.0 request without keep-alive must be closed"


# --------------------------------------------------------- keep-alive / pipelining


def test_keepalive_reuses_connection(frost):
    with frost.connect() as c:
        ids = []
        for i in range(5):
            body = b"request %d" % i
            r = c.request("POST", "/_test/echo", body=body)
            assert r.status == 200 and r.body == body
            assert not r.wants_close(), r
            ids.append(r.header("x-fc-request-id"))
            r = c.request("GET", "/healthz")
            assert r.status == 200
            ids.append(r.header("x-fc-request-id"))
        assert len(set(ids)) == len(ids), ids
    # All ten came from one client port.
    wait_for(
        lambda: len([kv for kv in frost.log_lines("http_request") if kv.get("request_id") in ids]) == 10,
        10,
        "10 access log lines",
    )
    lines = [kv for kv in frost.log_lines("http_request") if kv.get("request_id") in ids]
    assert len({kv["peer"] for kv in lines}) == 1, lines


def test_pipelined_requests_answered_in_order(frost):
    reqs = (
        build_request("GET", "/healthz")
        + build_request("POST", "/_test/echo", body=b"second")
        + build_request("GET", "/no-such-route")
        + build_request("POST", "/_test/echo", body=[b"four", b"th"], chunked=True)
        + build_request("GET", "/healthz")
    )
    with frost.connect() as c:
        c.send(reqs)
        rs = [c.read_response() for _ in range(5)]
    assert [r.status for r in rs] == [200, 200, 404, 200, 200], rs
    assert rs[0].body == b'{"status":"ok"}'
    assert rs[1].body == b"second"
    assert rs[2].json()["Code"] == "NotFound"
    assert rs[3].body == b"fourth"
    ids = [r.header("x-fc-request-id") for r in rs]
    assert all(ids) and len(set(ids)) == 5, ids


def test_pipelined_three_in_one_send(frost):
    with frost.connect() as c:
        c.send(build_request("GET", "/healthz") * 3)
        rs = [c.read_response() for _ in range(3)]
        assert all(r.status == 200 for r in rs)
        ids = [r.header("x-fc-request-id") for r in rs]
        assert len(set(ids)) == 3, ids
        # The request ids count up within the connection's order.
        c.send(build_request("GET", "/_test/sleep?ms=300") + build_request("GET", "/healthz"))
        slow = c.read_response()
        fast = c.read_response()
        assert slow.status == 200 and slow.json() == {"slept": True}
        assert fast.status == 200 and fast.json() == {"status": "ok"}


def test_many_concurrent_keepalive_clients(frost):
    errors = []

    def client(k):
        try:
            with frost.connect() as c:
                for i in range(20):
                    body = b"%d-%d" % (k, i) * 50
                    r = c.request("POST", "/_test/echo", body=body)
                    assert r.status == 200 and r.body == body
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append("client %d: %r" % (k, e))

    ts = [threading.Thread(target=client, args=(k,)) for k in range(16)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert not any(t.is_alive() for t in ts), "clients still running"
    assert not errors, errors


def test_keepalive_bodies_do_not_grow_memory(frost):
    """Many bodies on one keep-alive connection: the body buffer is reused,
    not leaked (RSS stays flat)."""
    from conftest import read_proc_status

    body = random_bytes(1024 * 1024, 9)
    with frost.connect(timeout=30) as c:
        for _ in range(4):
            r = c.request("POST", "/_test/echo", body=body)
            assert r.status == 200 and r.body == body
        baseline = read_proc_status(frost.pid, "VmRSS")
        for _ in range(48):
            r = c.request("POST", "/_test/echo", body=body)
            assert r.status == 200 and r.body_len == len(body)
            assert c.request("GET", "/healthz").status == 200
        growth = read_proc_status(frost.pid, "VmRSS") - baseline
    assert growth < 16 * 1024 * 1024, "RSS grew by %.1f MiB over 48 x 1 MiB keep-alive requests" % (growth / 1048576)


# ----------------------------------------------------------------- chunked bodies


def test_chunked_body_to_echo(frost):
    pieces = [b"a", b"bc" * 1000, random_bytes(70_000, 2), b"z"]
    with frost.connect() as c:
        # Chunk extensions and trailers are part of the syntax.
        raw = b"POST /_test/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        raw += b"".join(b"%x;ext=1\r\n" % len(p) + p + b"\r\n" for p in pieces)
        raw += b"0\r\nX-Trailer: yes\r\n\r\n"
        c.send(raw)
        r = c.read_response()
        assert r.status == 200, r
        assert r.body == b"".join(pieces)
        assert r.header("x-received-bytes") == str(len(r.body))
        # The connection stays usable after a chunked body.
        assert c.request("GET", "/healthz").status == 200


def test_stream_echo_content_length(frost):
    body = random_bytes(3 * 1024 * 1024 + 17, 3)
    with frost.connect() as c:
        c.send(b"POST /_test/stream-echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body))
        s = Sender(c.sock, [body[i : i + 65536] for i in range(0, len(body), 65536)])
        s.start()
        h = hashlib.sha256()
        r = c.read_response(sink=h.update, timeout=60)
        s.finish()
        assert s.error is None, s.error
    assert r.status == 200
    assert not r.chunked
    assert r.header("content-length") == str(len(body))
    assert r.body_len == len(body)
    assert h.hexdigest() == hashlib.sha256(body).hexdigest()


def test_stream_echo_large_chunked(frost):
    size = 5 * 1024 * 1024 + 333
    body = random_bytes(size, 4)
    rnd = random.Random(5)
    pieces, off = [], 0
    while off < size:
        n = rnd.choice([1, 7, 100, 4096, 65536, 200_000])
        pieces.append(encode_chunk(body[off : off + n]))
        off += n
    pieces.append(b"0\r\n\r\n")
    with frost.connect() as c:
        c.send(b"POST /_test/stream-echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        s = Sender(c.sock, pieces)
        s.start()
        h = hashlib.sha256()
        r = c.read_response(sink=h.update, timeout=60)
        s.finish()
        assert s.error is None, s.error
        assert r.status == 200
        assert r.chunked, "a chunked request must get a chunked stream-echo answer"
        assert r.body_len == size
        assert h.hexdigest() == hashlib.sha256(body).hexdigest()
        # Frost may close after a streamed answer (it started before the body
        # ended), but then it must have said so.
        if r.wants_close():
            assert c.wait_closed(10)
        else:
            assert c.request("GET", "/healthz").status == 200


# ----------------------------------------------------------------- 100-continue


CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def read_exact_prefix(c, n, timeout=5):
    deadline = time.monotonic() + timeout
    while len(c.buf) < n:
        c._fill(deadline, "%d bytes" % n)
    out = bytes(c.buf[:n])
    del c.buf[:n]
    return out


def test_expect_continue_accepted_buffered(frost):
    with frost.connect() as c:
        c.send(b"POST /_test/echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n")
        assert read_exact_prefix(c, len(CONTINUE)) == CONTINUE
        c.send(b"hello world")
        r = c.read_response()
        assert r.status == 200 and r.body == b"hello world"
        assert c.request("GET", "/healthz").status == 200


def test_expect_continue_accepted_streaming(frost):
    with frost.connect() as c:
        c.send(b"POST /_test/stream-echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        assert read_exact_prefix(c, len(CONTINUE)) == CONTINUE
        c.send(b"12345")
        r = c.read_response()
        assert r.status == 200 and r.body == b"12345"


def test_expect_continue_rejected_too_large(frost):
    with frost.connect() as c:
        c.send(
            b"POST /_test/echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            b"Content-Length: %d\r\n\r\n" % (2 * 1024 * 1024)
        )
        r = c.read_response(interim=True)
        assert r.status == 413, "expected 413 with no 100 first, got %r" % r
        assert_error_json(r, 413, "PayloadTooLarge")
        assert c.wait_closed(10)
    frost.healthz()


def test_expect_continue_rejected_unknown_route(frost):
    with frost.connect() as c:
        c.send(b"POST /nope HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1000\r\n\r\n")
        r = c.read_response(interim=True)
        assert r.status == 404, "expected 404 with no 100 first, got %r" % r
    frost.healthz()


# ------------------------------------------------------------------- limits


def test_header_too_large_431(frost):
    with frost.connect() as c:
        big = "a" * 1000
        hs = [("X-Big-%d" % i, big) for i in range(70)]  # ~70 KB > 64 KiB
        c.send(build_request("GET", "/healthz", hs))
        r = c.read_response()
        assert_error_json(r, 431, "RequestHeaderFieldsTooLarge")
        assert r.wants_close(), r
        assert c.wait_closed(10)
    frost.healthz()


def test_header_limit_is_configurable(frost_factory):
    srv = frost_factory("--set", "http.max_header_bytes=1KiB")
    ok = srv.request("GET", "/healthz", [("X-Pad", "p" * 600)])
    assert ok.status == 200
    r = srv.request("GET", "/healthz", [("X-Pad", "p" * 1200)])
    assert r.status == 431, r
    srv.healthz()


def test_body_too_large_content_length_413(frost):
    with frost.connect() as c:
        # Only the head is sent: the answer must not wait for the body.
        c.send(b"POST /_test/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1048577\r\n\r\n")
        r = c.read_response()
        assert_error_json(r, 413, "PayloadTooLarge")
        assert r.wants_close(), r
        assert c.wait_closed(10)
    frost.healthz()


def test_body_at_cap_accepted(frost):
    body = random_bytes(1024 * 1024, 6)
    r = frost.request("POST", "/_test/echo", body=body, timeout=30)
    assert r.status == 200 and r.body == body


def test_body_too_large_chunked_413(frost):
    piece = b"x" * 65536
    with frost.connect() as c:
        c.send(b"POST /_test/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        s = Sender(c.sock, [encode_chunk(piece)] * 17 + [b"0\r\n\r\n"])  # 1 MiB + 64 KiB
        s.start()
        r = c.read_response()
        assert_error_json(r, 413, "PayloadTooLarge")
        assert r.wants_close(), r
        assert c.wait_closed(10)
        s.finish()
    frost.healthz()


def test_stream_echo_over_cap_content_length_413(frost_factory):
    # The streaming route's cap is 64 MiB: refused from the head alone.
    srv = frost_factory()
    with srv.connect() as c:
        c.send(b"POST /_test/stream-echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (64 * 1024 * 1024 + 1))
        r = c.read_response()
        assert_error_json(r, 413, "PayloadTooLarge")
        assert c.wait_closed(10)
    srv.healthz()


def test_header_timeout_408(frost_factory):
    srv = frost_factory("--set", "http.header_timeout=500ms")
    with srv.connect() as c:
        c.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Partial: ")
        r = c.read_response(timeout=15)
        assert_error_json(r, 408, "RequestTimeout")
        assert r.wants_close(), r
        assert c.wait_closed(10)
    srv.healthz()


def test_header_timeout_on_silent_connection(frost_factory):
    srv = frost_factory("--set", "http.header_timeout=300ms")
    with srv.connect() as c:
        # Nothing sent at all: the server must not keep the socket forever.
        try:
            c.read_response(timeout=15)
        except ConnectionClosed:
            pass
        assert c.wait_closed(10)
    srv.healthz()


def test_body_timeout_408(frost_factory):
    srv = frost_factory("--set", "http.body_timeout=400ms")
    with srv.connect() as c:
        c.send(b"POST /_test/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
        r = c.read_response(timeout=15)
        assert_error_json(r, 408, "RequestTimeout")
        assert c.wait_closed(10)
    srv.healthz()


def test_keepalive_timeout_closes_idle(frost_factory):
    srv = frost_factory("--set", "http.keepalive_timeout=300ms")
    with srv.connect() as c:
        r = c.request("GET", "/healthz")
        assert r.status == 200 and not r.wants_close()
        assert c.wait_closed(10), "idle keep-alive connection not closed"
    srv.healthz()


def test_keepalive_timeout_not_applied_mid_request(frost_factory):
    # A request in progress is not cut by the keep-alive timer.
    srv = frost_factory("--set", "http.keepalive_timeout=200ms")
    with srv.connect() as c:
        r = c.request("GET", "/_test/sleep?ms=800")
        assert r.status == 200 and r.json() == {"slept": True}


def test_garbage_request_line_400(frost):
    with frost.connect() as c:
        c.send(b"THIS IS NOT HTTP\r\n\r\n")
        r = c.read_response()
        assert_error_json(r, 400, "BadRequest")
        assert c.wait_closed(10)
    frost.healthz()


def test_binary_garbage_400(frost):
    with frost.connect() as c:
        c.send(b"\x00\x01\x02\xff\xfe garbage \r\n\r\n")
        r = c.read_response()
        assert r.status == 400, r
        assert c.wait_closed(10)
    frost.healthz()


def test_bad_chunk_encoding_400(frost):
    with frost.connect() as c:
        c.send(b"POST /_test/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n")
        r = c.read_response()
        assert_error_json(r, 400, "BadRequest")
        assert c.wait_closed(10)
    frost.healthz()


def test_bad_chunk_encoding_streaming_route_400(frost):
    with frost.connect() as c:
        c.send(b"POST /_test/stream-echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nnothex\r\n")
        # The streamed answer may have started; either a 400, or a response
        # that is cut (never a clean complete one).
        try:
            r = c.read_response()
        except ConnectionClosed:
            r = None
        if r is not None:
            assert r.status == 400, r
        assert c.wait_closed(10)
    frost.healthz()


def test_conflicting_content_length_400(frost):
    with frost.connect() as c:
        c.send(b"POST /_test/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd")
        r = c.read_response()
        assert r.status == 400, r
        assert c.wait_closed(10)
    frost.healthz()


def test_unsupported_expect_417(frost):
    r = frost.request("POST", "/_test/echo", headers={"Expect": "something-else"}, body=b"x")
    assert r.status == 417, r


def test_eof_mid_request_does_not_hurt(frost):
    c = HttpConn(frost.sockaddr)
    c.send(b"POST /_test/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\nabc")
    c.close()
    c = HttpConn(frost.sockaddr)
    c.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Half")
    c.close()
    frost.healthz()


def test_slowloris_does_not_block_others(frost_factory):
    srv = frost_factory("--set", "http.header_timeout=1500ms")
    slow = srv.connect()
    slow.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    stop = threading.Event()
    dripped = [0]

    def drip():
        try:
            while not stop.is_set():
                slow.sock.sendall(b"X-Drip-%d: y\r\n" % dripped[0])
                dripped[0] += 1
                stop.wait(0.05)
        except OSError:
            pass  # the server closed it: expected after the header timeout

    t = threading.Thread(target=drip, daemon=True)
    t.start()
    try:
        wait_for(lambda: dripped[0] >= 2, 10, "the slow client to start dripping")
        # Other clients are served while the slow one trickles its header.
        for _ in range(5):
            srv.healthz(timeout=5)
        # The trickle does not extend the header deadline: 408, then close.
        r = slow.read_response(timeout=20)
        assert r.status == 408, r
    finally:
        stop.set()
        t.join(10)
        slow.close()
    srv.healthz()


def test_server_survives_each_error_in_sequence(frost_factory):
    srv = frost_factory("--set", "http.header_timeout=400ms")
    bad = [
        b"GARBAGE\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"a" * 70000 + b"\r\n\r\n",
        b"POST /_test/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n",
        b"POST /_test/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nQ\r\n",
        b"GET /healthz HTTP/1.1\r\nHos",
    ]
    expected = [400, 431, 413, 400, 408]
    for raw, st in zip(bad, expected):
        with srv.connect() as c:
            c.send(raw)
            r = c.read_response(timeout=15)
            assert r.status == st, (raw[:40], r)
            assert c.wait_closed(10)
        srv.healthz()


def test_too_many_headers_431(frost):
    hs = [("X-H%d" % i, "v") for i in range(200)]
    with frost.connect() as c:
        c.send(build_request("GET", "/healthz", hs))
        r = c.read_response()
        assert r.status == 431, r
        assert c.wait_closed(10)
    frost.healthz()


def test_content_length_with_chunked_rejected(frost):
    # Both framings at once is the request-smuggling shape: refuse it.
    with frost.connect() as c:
        c.send(
            b"POST /_test/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n"
        )
        r = c.read_response()
        assert r.status == 400, r
        assert c.wait_closed(10)
    frost.healthz()


def test_absolute_form_target(frost):
    r = frost.request("GET", "http://frost.example/healthz")
    assert r.status == 200 and r.json() == {"status": "ok"}


def test_http10_keepalive(frost):
    with frost.connect() as c:
        for _ in range(3):
            c.send(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            r = c.read_response()
            assert r.status == 200, r
            assert (r.header("connection") or "").lower() == "keep-alive", r
        c.send(b"GET /healthz HTTP/1.0\r\n\r\n")
        r = c.read_response()
        assert r.status == 200
        assert c.wait_closed(10)


def test_max_connections(frost_factory):
    srv = frost_factory("--set", "http.max_connections=2")
    a = srv.connect()
    b = srv.connect()
    try:
        assert a.request("GET", "/healthz").status == 200
        assert b.request("GET", "/healthz").status == 200
        with srv.connect() as extra:
            # Accepted by the kernel, then closed at once by frost.
            assert extra.wait_closed(10), "connection over the limit not closed"
        assert a.request("GET", "/healthz").status == 200
    finally:
        a.close()
    # With one slot free again, a new client gets in (frost notices the
    # close asynchronously, so retry within a deadline).
    def fresh_ok():
        try:
            with srv.connect() as c:
                return c.request("GET", "/healthz", timeout=5).status == 200
        except (ConnectionClosed, OSError):
            return False

    wait_for(fresh_ok, 10, "a connection to be accepted after one closed")
    b.close()


# -------------------------------------------------------------------- access log


def test_access_log_has_request_id_client_saw(frost):
    r = frost.request("GET", "/healthz")
    rid = r.header("x-fc-request-id")

    def line():
        for kv in frost.log_lines("http_request"):
            if kv.get("request_id") == rid:
                return kv
        return None

    kv = wait_for(line, 10, "access log line for %s" % rid)
    assert kv["method"] == "GET"
    assert kv["path"] == "/healthz"
    assert kv["status"] == "200"
    assert kv["bytes_in"] == "0"
    assert kv["bytes_out"] == str(len(r.body))
    assert int(kv["us"]) >= 0
    assert kv["peer"].startswith("127.0.0.1:")

    r = frost.request("POST", "/_test/echo", body=b"12345")
    rid = r.header("x-fc-request-id")
    kv = wait_for(line, 10, "access log line for %s" % rid)
    assert kv["method"] == "POST" and kv["status"] == "200"
    assert kv["bytes_in"] == "5" and kv["bytes_out"] == "5"


def test_access_log_for_rejected_request(frost):
    with frost.connect() as c:
        c.send(b"POST /_test/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n")
        r = c.read_response()
    rid = r.header("x-fc-request-id")
    kv = wait_for(
        lambda: next((kv for kv in frost.log_lines("http_request") if kv.get("request_id") == rid), None),
        10,
        "access log line for the 413",
    )
    assert kv["status"] == "413"
