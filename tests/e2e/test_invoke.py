"""Invocations end to end (src/sched/, src/api/fc_invoke.c, docs/invocations.md):
InvokeFunction, HTTP triggers (path and trigger domain, methods, auth), the
scheduler's slots, FIFO queue, reserved concurrency, scale from and to zero,
crashes, timeouts, client disconnects, the payload limit, rolls on update,
start failures and log tails — against a real `frost serve` running
tests/functions/pyfn.py as custom-runtime functions.

Run with:  /usr/bin/python3 -m pytest -q tests/e2e/test_invoke.py --frost=build/frost

Requests that must stay in flight are held inside the function by a gate
(invoke_helpers.Gate): they are released by the test, never by the clock.
Every wait has a deadline; no assertion depends on how long something took.
"""

import hashlib
import json
import os
import signal
import socket

import pytest

from conftest import build_request, encode_chunk, wait_for
from fc_helpers import Client, Reply, sign_headers
from inst_helpers import IO, Proc, Sandbox, list_instances, port_range_args, pyfn_function
from invoke_helpers import (
    Bg,
    Gate,
    assert_fc_error,
    echoed,
    frost_events,
    instance_ids,
    invoke,
    log_tail_text,
    request,
    wait_event,
    wait_instance_gone,
    wait_no_instances,
)

# Small limits so that failures and stops are quick (under ASan too).
BASE_ARGS = [
    "--set", "runtime.start_timeout=10s",
    "--set", "runtime.stop_grace=2s",
    "--set", "sched.node_cpus=16",
]
KEY_ID, KEY_SECRET = "LTAIinvokeTest", "s3cr3t-for-the-invoke-tests"
MiB = 1024 * 1024


# ------------------------------------------------------------------ fixtures


@pytest.fixture
def box():
    b = Sandbox()
    yield b
    # Runs after frost_factory stopped every frost (serve depends on box).
    left = b.leftover_cgroups()
    b.cleanup()
    assert not left, "frost left its cgroups behind after a clean exit: %r" % left


@pytest.fixture
def serve(box, frost_factory):
    """serve(*args, log_level=None) -> a frost serve on a data dir the
    function user can reach, with srv.fc (an FC client) and srv.box."""

    def start(*args, log_level=None, key=None):
        argv = port_range_args() + BASE_ARGS + list(args)
        srv = frost_factory(*argv, data_dir=box.data_dir(), log_level=log_level)
        srv.fc = Client.of(srv, key=key)
        srv.box = box
        return srv

    return start


@pytest.fixture
def held(serve, box):
    """gate(name) -> a Gate; bg(fn, ...) -> a started Bg. Torn down before
    the servers stop: every gate is opened and every call joined, so nothing
    is left in flight when frost drains."""
    gates, calls = [], []

    class Held:
        def gate(self, name):
            g = Gate(box, name)
            gates.append(g)
            return g

        def bg(self, fn, *args, **kw):
            t = Bg(fn, *args, **kw)
            calls.append(t)
            t.start()
            return t

    yield Held()
    for g in gates:
        g.open()
    for t in calls:
        t.join(2 * IO)


def create(srv, name, env=None, trigger=None, **kw):
    """A pyfn function (128 MB, so 0.1 vCPU); trigger: None, or a dict of
    http trigger config (authType, methods). The timeout (which also bounds
    the wait for a cold start) is 20 s unless given."""
    kw.setdefault("timeout", 20)
    doc = srv.fc.create_function(pyfn_function(name, env=env, **kw))
    if trigger is not None:
        srv.fc.ok("POST", "/functions/%s/triggers" % name,
                  {"triggerName": "http", "triggerType": "http", "triggerConfig": json.dumps(trigger)})
    return doc


def ok(r):
    assert r.status == 200, r
    return r


def invoke_past_cold_start(srv, fn, body):
    """Invokes a function with a short timeout, which also bounds how long a
    request waits for a cold start: on a busy machine a try may give up (429
    ResourceExhausted) while the instance it started comes up, and that
    instance then serves a later try. Returns the first 200."""

    def attempt():
        r = invoke(srv, fn, body)
        if r.status == 200:
            return r
        assert r.code == "ResourceExhausted", r
        return None

    return wait_for(attempt, IO, "%s to answer 200 once its instance is up" % fn)


def scale_blocked(srv, fn, queued):
    """The scheduler logged (at debug) that a request of fn waits in the queue
    with `queued` requests there and no instance may be started."""
    return wait_event(srv, "scale_blocked", function=fn, queued=str(queued))


# ------------------------------------------------------------ InvokeFunction


def test_invoke_round_trip(serve):
    srv = serve()
    create(srv, "rt", timeout=7)
    body = bytes(range(256)) * 16 + b"\r\n\r\nend"
    r = ok(invoke(srv, "rt", body, headers=[("x-pyfn-echo", "1"), ("X-Custom-In", "abc")],
                  content_type="text/plain"))
    seen = echoed(r)
    rid = r.header("x-fc-request-id")
    iid = r.header("x-fc-instance-id")
    assert rid and iid, r.headers
    assert seen["method"] == "POST" and seen["path"] == "/invoke", seen
    assert seen["body"].encode("latin-1") == body
    h = seen["h"]
    assert h["content-type"] == ["application/octet-stream"], h
    assert h["content-length"] == [str(len(body))], h
    assert h["x-fc-request-id"] == [rid], h
    assert h["x-fc-function-name"] == ["rt"], h
    assert h["x-fc-control-path"] == ["/invoke"], h
    assert h["x-fc-function-timeout"] == ["7"], h
    assert h["x-fc-function-memory"] == ["128"], h
    assert h["x-custom-in"] == ["abc"], h  # the caller's other headers go on
    assert r.header("x-pyfn-instance") == iid  # FC_INSTANCE_ID of the process that answered
    assert r.header("x-fc-code-checksum"), r.headers

    # The function's own status, headers and body come back unchanged (a 4xx
    # of the function is its answer, not a Frost error).
    r = invoke(srv, "rt", body, headers=[("x-pyfn-status", "418"), ("x-pyfn-header", "X-Out: yes")],
               check=False)
    assert r.status == 418 and r.body == body, r
    assert r.header("x-out") == "yes", r.headers
    assert r.header("x-fc-error-type") is None, r.headers
    assert r.header("x-fc-request-id") == r.header("x-pyfn-request-id"), r.headers
    assert r.header("x-fc-instance-id") == iid  # the warm instance served it

    # An empty body is a body too.
    r = ok(invoke(srv, "rt", b""))
    assert r.body == b""

    assert_fc_error(invoke(srv, "nope", b"x"), 404, "FunctionNotFound")
    r = invoke(srv, "rt", b"x", headers=[("x-fc-log-type", "Everything")])
    assert_fc_error(r, 400, "InvalidArgument")
    r = invoke(srv, "rt", b"x", headers=[("x-fc-invocation-type", "Sideways")])
    assert_fc_error(r, 400, "InvalidArgument")  # Async itself: test_async.py
    assert instance_ids(srv, "rt") == [iid]


def test_log_tail(serve):
    srv = serve()
    create(srv, "tail")
    r = ok(invoke(srv, "tail", b"one", headers=[("x-pyfn-log", "first-marker-6d1f")]))
    iid = r.header("x-fc-instance-id")
    assert r.header("x-fc-log-result") is None  # only when asked for
    # The tail is read when a call reaches the instance: what the first call
    # printed shows on a later one (wait: the log is written asynchronously).
    seen = {}

    def tail_has_marker():
        t = ok(invoke(srv, "tail", b"two", headers=[("x-fc-log-type", "Tail")]))
        assert t.header("x-fc-instance-id") == iid
        seen["text"] = log_tail_text(t)
        return "first-marker-6d1f" in seen["text"]

    wait_for(tail_has_marker, IO, "the first call's log line in x-fc-log-result")
    text = seen["text"]
    assert "listening on" in text, text
    assert len(text.encode()) <= 4096, len(text)


# --------------------------------------------------------------- HTTP trigger


def test_http_trigger_pass_through(serve):
    srv = serve("--trigger-domain", "test.local")
    create(srv, "web", trigger={"authType": "anonymous", "methods": ["GET", "POST", "PUT", "DELETE"]})
    create(srv, "plain")  # no trigger
    echo = [("x-pyfn-echo", "1")]

    r = request(srv, "GET", "/fn/web/a/b?x=1", headers=echo + [("X-Thing", "v1")])
    seen = echoed(r)
    assert seen["method"] == "GET" and seen["path"] == "/a/b?x=1", seen
    assert seen["h"]["x-thing"] == ["v1"], seen["h"]
    assert seen["h"]["x-fc-control-path"] == ["/http-invoke"], seen["h"]
    assert seen["h"]["x-fc-request-id"] == [r.header("x-fc-request-id")]
    assert r.header("x-fc-instance-id"), r.headers

    body = b"\x00binary\xffbody" * 100
    r = request(srv, "PUT", "/fn/web/up/load?y=%2F&z=a+b&empty=", body=body,
                headers=echo + [("Content-Type", "text/x-custom")])
    seen = echoed(r)
    assert seen["method"] == "PUT" and seen["path"] == "/up/load?y=%2F&z=a+b&empty=", seen
    assert seen["body"].encode("latin-1") == body
    assert seen["h"]["content-type"] == ["text/x-custom"], seen["h"]  # unchanged, unlike invoke

    r = request(srv, "GET", "/fn/web/a%20b%2Fc/%7E?q=%26", headers=echo)
    assert echoed(r)["path"] == "/a%20b%2Fc/%7E?q=%26", r  # as sent, not decoded
    r = request(srv, "DELETE", "/fn/web", headers=echo)
    assert echoed(r)["path"] == "/", r
    r = request(srv, "GET", "/fn/web/", headers=echo)
    assert echoed(r)["path"] == "/", r

    # The trigger domain: the instance sees the path as sent.
    for host in ("web.test.local", "web.test.local:%d" % srv.port, "web.TEST.Local"):
        r = request(srv, "GET", "/a/b?x=1", headers=echo + [("Host", host)])
        seen = echoed(r)
        assert seen["path"] == "/a/b?x=1" and seen["method"] == "GET", (host, seen)
    r = request(srv, "POST", "/2023-03-30/functions", body=b"{}", headers=echo + [("Host", "web.test.local")])
    seen = echoed(r)
    assert seen["path"] == "/2023-03-30/functions" and seen["method"] == "POST", seen

    # The function's status and headers pass back.
    r = request(srv, "GET", "/fn/web/s", headers=[("x-pyfn-status", "201"), ("x-pyfn-header", "X-Out: 1")],
                check=False)
    assert r.status == 201 and r.header("x-out") == "1" and r.body == b"GET /s", r

    # Seed 002: curl URL/invoke -H "Content-Type: text/plain" --data "Nice to meet you".
    for target, host in (("/fn/web/invoke", None), ("/invoke", "web.test.local")):
        hs = [("Content-Type", "text/plain")] + ([("Host", host)] if host else [])
        r = request(srv, "POST", target, headers=hs, body=b"Nice to meet you")
        assert r.status == 200 and r.body == b"Nice to meet you", r
        assert r.header("content-type") == "text/plain", r.headers

    # Methods not in the trigger's list, and functions without a trigger.
    assert_fc_error(request(srv, "PATCH", "/fn/web/a", body=b"x"), 405, "MethodNotAllowed")
    assert_fc_error(request(srv, "PATCH", "/a", body=b"x", headers=[("Host", "web.test.local")]),
                    405, "MethodNotAllowed")
    assert_fc_error(request(srv, "GET", "/fn/plain/a"), 404, "TriggerNotFound")
    assert_fc_error(request(srv, "GET", "/a", headers=[("Host", "plain.test.local")]), 404, "TriggerNotFound")
    assert_fc_error(request(srv, "GET", "/fn/ghost/a"), 404, "FunctionNotFound")
    assert_fc_error(request(srv, "GET", "/a", headers=[("Host", "ghost.test.local")]), 404, "FunctionNotFound")
    assert instance_ids(srv, "plain") == []


def test_http_trigger_auth_function(serve):
    srv = serve("--set", "auth.keys=%s:%s" % (KEY_ID, KEY_SECRET), key=(KEY_ID, KEY_SECRET))
    create(srv, "guarded", trigger={"authType": "function", "methods": ["GET", "POST"]})
    create(srv, "open", trigger={"authType": "anonymous", "methods": ["GET"]})
    host = "%s:%d" % (srv.host, srv.port)

    assert_fc_error(request(srv, "GET", "/fn/guarded/x", headers=[("Host", host)]), 401, "MissingAuthorization")
    hs = sign_headers(KEY_ID, KEY_SECRET, "GET", "/fn/guarded/x", "", host)
    r = request(srv, "GET", "/fn/guarded/x", headers=hs, check=False)
    assert r.status == 200 and r.body == b"GET /x", r

    body = b"signed body"
    hs = sign_headers(KEY_ID, KEY_SECRET, "POST", "/fn/guarded/x/y", "q=1", host, body=body,
                      content_type="text/plain")
    r = request(srv, "POST", "/fn/guarded/x/y?q=1", headers=hs, body=body, check=False)
    assert r.status == 200 and r.body == body, r
    # The signature covers the body and the path as sent.
    hs = sign_headers(KEY_ID, KEY_SECRET, "POST", "/fn/guarded/x/y", "q=1", host, body=body,
                      content_type="text/plain")
    r = request(srv, "POST", "/fn/guarded/x/y?q=1", headers=hs, body=b"signed bodz")
    assert r.status in (400, 403) and r.code in ("ContentSHA256Mismatch", "SignatureNotMatch"), r
    hs = sign_headers(KEY_ID, KEY_SECRET, "GET", "/fn/guarded/x", "", host)
    r = request(srv, "GET", "/fn/guarded/other", headers=hs)
    assert_fc_error(r, 403, "SignatureNotMatch")
    hs = sign_headers(KEY_ID, "wrong-secret", "GET", "/fn/guarded/x", "", host)
    assert_fc_error(request(srv, "GET", "/fn/guarded/x", headers=hs), 403, "SignatureNotMatch")

    # An anonymous trigger needs no signature, even with keys configured.
    r = request(srv, "GET", "/fn/open/z", headers=[("Host", host)], check=False)
    assert r.status == 200 and r.body == b"GET /z", r
    # InvokeFunction is an API call: signed like the others.
    assert_fc_error(invoke(srv, "open", b"x"), 401, "MissingAuthorization")
    body = b"invoke me"
    hs = sign_headers(KEY_ID, KEY_SECRET, "POST", "/2023-03-30/functions/open/invocations", "", host,
                      body=body, content_type="application/octet-stream")
    r = ok(invoke(srv, "open", body, headers=hs))
    assert r.body == body


# ---------------------------------------------------------------- concurrency


def test_concurrency_one_per_instance(serve, held):
    srv = serve()
    create(srv, "one", timeout=30, instanceConcurrency=1)
    g = held.gate("one")
    tags = ["r%d" % i for i in range(3)]
    calls = [held.bg(invoke, srv, "one", t.encode(), headers=g.headers(t)) for t in tags]
    started = g.wait_started(tags)
    # All three are in the function at once: three instances, one request each.
    insts = {started[t]["instance"] for t in tags}
    assert len(insts) == 3, started
    assert sorted(instance_ids(srv, "one")) == sorted(insts)
    g.open()
    for t, c in zip(tags, calls):
        r = ok(c.get())
        assert r.body == t.encode()
        assert r.header("x-fc-instance-id") == started[t]["instance"]
        assert r.header("x-pyfn-max-inflight") == "1", r.headers  # never 2 in one instance
    # Warm now: a fourth request reuses one of them.
    r = ok(invoke(srv, "one", b"4"))
    assert r.header("x-fc-instance-id") in insts and r.header("x-pyfn-max-inflight") == "1"


def test_concurrency_n_per_instance(serve, held):
    srv = serve()
    create(srv, "many", timeout=30, instanceConcurrency=3)
    g = held.gate("many")
    tags = ["r%d" % i for i in range(3)]
    calls = [held.bg(invoke, srv, "many", t.encode(), headers=g.headers(t)) for t in tags]
    started = g.wait_started(tags)
    first = {started[t]["instance"] for t in tags}
    assert len(first) == 1, started  # three slots: one instance takes all three
    (a,) = first
    # A fourth request does not go to the full instance: another starts.
    extra = held.bg(invoke, srv, "many", b"x", headers=g.headers("x"))
    b = g.wait_started(["x"])["x"]["instance"]
    assert b != a
    assert sorted(instance_ids(srv, "many")) == sorted([a, b])
    g.open()
    for t, c in zip(tags, calls):
        r = ok(c.get())
        assert r.header("x-fc-instance-id") == a
        assert int(r.header("x-pyfn-max-inflight")) <= 3, r.headers
    r = ok(extra.get())
    assert r.header("x-fc-instance-id") == b and r.header("x-pyfn-max-inflight") == "1"
    # Instance a had exactly its three slots busy at once, never more.
    r = ok(invoke(srv, "many", b"y", headers=[("x-pyfn-env", "FC_INSTANCE_ID")]))
    assert r.header("x-pyfn-max-inflight") == ("3" if r.header("x-fc-instance-id") == a else "1"), r.headers


def test_queue_full_429_and_fifo(serve, held):
    srv = serve("--set", "sched.max_instances=1", "--set", "sched.max_queue=2", log_level="debug")
    create(srv, "q", timeout=30, instanceConcurrency=1)
    g = held.gate("q")
    a = held.bg(invoke, srv, "q", b"A", headers=g.headers("A"))
    iid = g.wait_started(["A"])["A"]["instance"]
    b = held.bg(invoke, srv, "q", b"B", headers=g.headers("B"))
    scale_blocked(srv, "q", 1)  # B waits (one instance, one slot)
    c = held.bg(invoke, srv, "q", b"C", headers=g.headers("C"))
    scale_blocked(srv, "q", 2)  # C waits behind B
    # The queue is full: a fourth request is refused at once.
    r = invoke(srv, "q", b"D")
    assert_fc_error(r, 429, "TooManyRequests", "PlatformError")
    assert "max_queue" in r.message
    assert a.is_alive() and b.is_alive() and c.is_alive()
    assert set(g.started()) == {"A"}
    g.open()
    ra, rb, rc = ok(a.get()), ok(b.get()), ok(c.get())
    assert (ra.body, rb.body, rc.body) == (b"A", b"B", b"C")
    assert {x.header("x-fc-instance-id") for x in (ra, rb, rc)} == {iid}
    # FIFO: B reached the function before C.
    seqs = [int(x.header("x-pyfn-seq")) for x in (ra, rb, rc)]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3, seqs
    assert rc.header("x-pyfn-max-inflight") == "1"
    assert instance_ids(srv, "q") == [iid]


def test_reserved_concurrency_caps_in_flight(serve, held):
    srv = serve(log_level="debug")
    create(srv, "rc", timeout=30, instanceConcurrency=2)
    srv.fc.ok("PUT", "/functions/rc/concurrency", {"reservedConcurrency": 1})
    g = held.gate("rc")
    a = held.bg(invoke, srv, "rc", b"A", headers=g.headers("A"))
    iid = g.wait_started(["A"])["A"]["instance"]
    b = held.bg(invoke, srv, "rc", b"B", headers=g.headers("B"))
    # B waits although the instance has a free slot, and no instance is added.
    ev = scale_blocked(srv, "rc", 1)
    assert "reserved concurrency" in ev[-1].get("reason", ""), ev
    assert set(g.started()) == {"A"} and b.is_alive()
    assert instance_ids(srv, "rc") == [iid]
    g.open()
    ra, rb = ok(a.get()), ok(b.get())
    assert ra.header("x-fc-instance-id") == rb.header("x-fc-instance-id") == iid
    assert rb.header("x-pyfn-max-inflight") == "1", rb.headers


# ------------------------------------------------------------- zero and back


def test_scale_from_and_to_zero(serve, held):
    srv = serve()
    create(srv, "z", idleTimeout=1, timeout=30)
    assert instance_ids(srv, "z") == []
    g = held.gate("z")
    a = held.bg(invoke, srv, "z", b"cold", headers=g.headers("A"))
    first = g.wait_started(["A"])["A"]["instance"]
    assert instance_ids(srv, "z") == [first]  # cold start: one instance
    g.open()
    r = ok(a.get())
    assert r.header("x-fc-instance-id") == first
    # Idle past its idleTimeout: released.
    wait_no_instances(srv, "z")
    assert frost_events(srv, "instance_idle_release", function="z", instance=first)
    r = ok(invoke(srv, "z", b"again"))
    second = r.header("x-fc-instance-id")
    assert second and second != first
    assert r.body == b"again"


def test_keepalive_setting_releases_idle_instances(serve):
    srv = serve("--set", "sched.keepalive=1s")
    create(srv, "ka")
    first = ok(invoke(srv, "ka", b"1")).header("x-fc-instance-id")
    wait_no_instances(srv, "ka")
    assert frost_events(srv, "instance_idle_release", function="ka", instance=first)
    second = ok(invoke(srv, "ka", b"2")).header("x-fc-instance-id")
    assert second != first


# ------------------------------------------------------ failures in a request


def test_crash_mid_request(serve):
    srv = serve()
    create(srv, "crash")
    # A few rounds: the request right after a crash must never be sent to
    # the dead instance (however fast it follows).
    for round_ in range(5):
        r = ok(invoke(srv, "crash", b"warm"))
        first = r.header("x-fc-instance-id")
        r = invoke(srv, "crash", b"__exit__")
        assert_fc_error(r, 502, "FunctionCrashed", "UnhandledInvocationError")
        assert first in r.message, r.message
        # The next request, sent at once, is served by a new instance.
        r = invoke(srv, "crash", b"after")
        assert r.status == 200 and r.body == b"after", "round %d: %r" % (round_, r)
        assert r.header("x-fc-instance-id") != first
        wait_instance_gone(srv, "crash", first)


def test_killed_instance_waiting_request_goes_to_new_instance(serve, held):
    srv = serve("--set", "sched.max_instances=1", log_level="debug")
    create(srv, "kill", timeout=30, instanceConcurrency=1)
    g = held.gate("kill")
    a = held.bg(invoke, srv, "kill", b"A", headers=g.headers("A"))
    st = g.wait_started(["A"])["A"]
    b = held.bg(invoke, srv, "kill", b"B")
    scale_blocked(srv, "kill", 1)  # B waits for A's slot
    os.kill(st["pid"], signal.SIGKILL)
    assert_fc_error(a.get(), 502, "FunctionCrashed", "UnhandledInvocationError")
    # B never reached the dead instance: a new one serves it.
    rb = b.get()
    assert rb.status == 200 and rb.body == b"B", rb
    assert rb.header("x-fc-instance-id") != st["instance"]
    wait_instance_gone(srv, "kill", st["instance"])


def test_timeout_recycles_single_slot_instance(serve):
    srv = serve()
    create(srv, "slow", timeout=1, instanceConcurrency=1)
    warm = invoke_past_cold_start(srv, "slow", b"warm")
    first = warm.header("x-fc-instance-id")
    r = invoke(srv, "slow", b"sleepy", headers=[("x-pyfn-sleep-ms", "3000")])
    assert_fc_error(r, 504, "FunctionTimeout", "UnhandledInvocationError")
    # The instance may still be busy: it is replaced.
    r = invoke_past_cold_start(srv, "slow", b"next")
    assert r.header("x-fc-instance-id") != first and r.body == b"next"
    wait_instance_gone(srv, "slow", first)


def test_client_disconnect_releases_slot(serve, held):
    srv = serve("--set", "sched.max_instances=1")
    create(srv, "dc", timeout=30, instanceConcurrency=1)
    g = held.gate("dc")
    conn = srv.connect()
    conn.send(build_request("POST", "/2023-03-30/functions/dc/invocations",
                            headers=[("Content-Type", "application/octet-stream")] + g.headers("A"),
                            body=b"gone soon"))
    iid = g.wait_started(["A"])["A"]["instance"]
    conn.sock.shutdown(socket.SHUT_RDWR)
    conn.close()
    # The only slot of the only instance must be free again: served, not stuck.
    r = ok(invoke(srv, "dc", b"B"))
    assert r.body == b"B" and r.header("x-fc-instance-id") == iid
    assert instance_ids(srv, "dc") == [iid]


def test_client_disconnect_while_queued(serve, held):
    srv = serve("--set", "sched.max_instances=1", log_level="debug")
    create(srv, "dq", timeout=30, instanceConcurrency=1)
    g = held.gate("dq")
    a = held.bg(invoke, srv, "dq", b"A", headers=g.headers("A"))
    g.wait_started(["A"])
    conn = srv.connect()
    conn.send(build_request("POST", "/2023-03-30/functions/dq/invocations",
                            headers=[("Content-Type", "application/octet-stream")] + g.headers("B"),
                            body=b"abandoned"))
    scale_blocked(srv, "dq", 1)  # B waits for A's slot
    conn.sock.shutdown(socket.SHUT_RDWR)
    conn.close()
    # Frost notices that B's client left (status 499 in the access log) and
    # drops B from the queue...
    wait_for(lambda: [e for e in frost_events(srv, "http_request", status="499")
                      if "/functions/dq/invocations" in e.get("path", "")], 10,
             "the queued request's disconnect to be noticed (a 499 access log line)")
    c = held.bg(invoke, srv, "dq", b"C", headers=g.headers("C"))
    wait_for(lambda: len(frost_events(srv, "scale_blocked", function="dq")) >= 2, IO, "C to wait")
    assert frost_events(srv, "scale_blocked", function="dq")[-1]["queued"] == "1"
    g.open()
    assert ok(a.get()).body == b"A" and ok(c.get()).body == b"C"
    # ... so the function never runs it.
    assert sorted(g.started()) == ["A", "C"]


def test_queue_timeout_when_the_node_is_full(serve):
    # Room for one 128 MB instance: function a's (idle, kept alive) leaves
    # none for b, whose request waits its function's timeout, then gets 429.
    srv = serve("--set", "sched.node_memory=128M", log_level="debug")
    create(srv, "a")
    create(srv, "b", timeout=1)
    ok(invoke(srv, "a", b"x"))
    r = invoke(srv, "b", b"y")
    assert_fc_error(r, 429, "ResourceExhausted", "PlatformError")
    ev = frost_events(srv, "scale_blocked", function="b")
    assert ev and "no room" in ev[-1].get("reason", ""), ev
    assert instance_ids(srv, "b") == []


def test_freed_node_capacity_serves_waiting_requests(serve, held):
    srv = serve("--set", "sched.node_memory=128M", log_level="debug")
    create(srv, "a")
    create(srv, "b", timeout=5)
    ok(invoke(srv, "a", b"x"))
    b = held.bg(invoke, srv, "b", b"y")
    scale_blocked(srv, "b", 1)  # no room while a's instance lives
    assert srv.fc.call("DELETE", "/functions/a").status in (200, 204)
    # a's instance stops: the room it leaves goes to b's waiting request.
    r = b.get()
    assert r.status == 200 and r.body == b"y", r


def test_payload_limit(serve):
    srv = serve("--set", "sched.max_instances=1")
    create(srv, "big", timeout=30, memory=256)
    body = os.urandom(MiB)
    r = ok(invoke(srv, "big", body))
    assert r.body == body
    # Exactly 32 MiB is allowed.
    body = os.urandom(256) * (32 * MiB // 256)
    r = ok(invoke(srv, "big", body, timeout=60))
    assert len(r.body) == len(body) and hashlib.sha256(r.body).digest() == hashlib.sha256(body).digest()
    # One byte more is refused before the body is read.
    with srv.connect() as c:
        c.send(build_request("POST", "/2023-03-30/functions/big/invocations",
                             headers=[("Content-Type", "application/octet-stream"),
                                      ("Content-Length", str(32 * MiB + 1))]))
        resp = c.read_response(method="POST")
    assert_fc_error(Reply(resp.status, resp.headers, resp.body), 413, "PayloadTooLarge")
    # Streamed (chunked), the body is cut off at the limit; the slot it held
    # on the function's only instance is free again.
    with srv.connect() as c:
        c.send(build_request("POST", "/2023-03-30/functions/big/invocations",
                             headers=[("Transfer-Encoding", "chunked")]))
        piece = encode_chunk(b"z" * MiB)
        try:
            for _ in range(32):
                c.send(piece)
            c.send(encode_chunk(b"!") + b"0\r\n\r\n")
        except OSError:
            pass  # refused while sending: the answer is still there to read
        resp = c.read_response(method="POST")
    assert_fc_error(Reply(resp.status, resp.headers, resp.body), 413, "PayloadTooLarge")
    r = ok(invoke(srv, "big", b"still served"))
    assert r.body == b"still served"


# ------------------------------------------------------------ update, delete


def test_update_rolls_instances(serve, held):
    srv = serve()
    create(srv, "roll", env={"VERSION": "1"}, timeout=30, instanceConcurrency=1,
           trigger={"authType": "anonymous", "methods": ["GET", "POST"]})
    g = held.gate("roll")
    env_h = [("x-pyfn-env", "VERSION")]
    a = held.bg(invoke, srv, "roll", b"old", headers=g.headers("A") + env_h)
    old = g.wait_started(["A"])["A"]["instance"]
    doc = srv.fc.ok("PUT", "/functions/roll", {"environmentVariables": {"VERSION": "2"}})
    assert doc["environmentVariables"] == {"VERSION": "2"}
    # New requests see the new revision, on a new instance.
    r = ok(invoke(srv, "roll", b"new", headers=env_h))
    new = r.header("x-fc-instance-id")
    assert r.header("x-pyfn-env-value") == "2" and new != old
    env = json.loads(ok(request(srv, "GET", "/fn/roll/env")).body)
    assert env["VERSION"] == "2" and env["FC_INSTANCE_ID"] != old
    # The request in flight on the old instance completes there.
    assert a.is_alive() and old in instance_ids(srv, "roll")
    g.open()
    ra = ok(a.get())
    assert ra.body == b"old" and ra.header("x-fc-instance-id") == old
    assert ra.header("x-pyfn-env-value") == "1"
    wait_instance_gone(srv, "roll", old)
    assert new in instance_ids(srv, "roll")

    # Delete while idle: the instances stop.
    pids = [Proc(i["pid"]) for i in list_instances(srv.fc, "roll")]
    ids = instance_ids(srv, "roll")
    assert ids and pids
    srv.fc.call("DELETE", "/functions/roll")
    for iid in ids:
        wait_event(srv, "instance_stopped", instance=iid)
    wait_for(lambda: not [p for p in pids if p.alive()], IO, "the deleted function's processes to exit")
    assert_fc_error(invoke(srv, "roll", b"x"), 404, "FunctionNotFound")


def test_delete_answers_queued_requests(serve, held):
    srv = serve("--set", "sched.max_instances=1", log_level="debug")
    create(srv, "del", timeout=30, instanceConcurrency=1)
    g = held.gate("del")
    a = held.bg(invoke, srv, "del", b"A", headers=g.headers("A"))
    iid = g.wait_started(["A"])["A"]["instance"]
    b = held.bg(invoke, srv, "del", b"B")
    scale_blocked(srv, "del", 1)
    r = srv.fc.call("DELETE", "/functions/del")
    assert r.status in (200, 204), r
    assert_fc_error(b.get(), 404, "FunctionNotFound")
    # The request in flight finishes; then the instance stops.
    g.open()
    assert ok(a.get()).body == b"A"
    wait_event(srv, "instance_stopped", instance=iid)


# ------------------------------------------------------------ start failures


def test_initializer_failure(serve):
    srv = serve()
    create(srv, "badinit", env={"INIT_STATUS": "500"}, init={"handler": "init", "timeout": 3})
    r = invoke(srv, "badinit", b"x")
    assert_fc_error(r, 502, "FunctionInitializationError", "UnhandledInitializationError")
    assert "initializer" in r.message, r.message


def test_start_failure_then_backoff(serve):
    srv = serve()
    create(srv, "nostart", customRuntimeConfig={"command": ["false"]})
    r = invoke(srv, "nostart", b"x")
    assert_fc_error(r, 502, "InstanceStartFailed", "UnhandledInvocationError")
    failed = 1
    # Right after, the start is held back rather than retried in a hot loop.
    # (The first backoff is 1 s: should this client be slower than that, the
    # next start fails again and the backoff doubles; a few tries suffice.)
    for _ in range(6):
        r = invoke(srv, "nostart", b"x")
        if r.code != "InstanceStartFailed":
            break
        failed += 1
    assert_fc_error(r, 503, "FunctionStartBackoff", "UnhandledInvocationError")
    assert "false" in r.message or "exited" in r.message, r.message
    # Each start that was tried was answered as such: no respawns behind the scenes.
    starts = frost_events(srv, "instance_starting", function="nostart")
    assert len(starts) == failed, (failed, starts)
