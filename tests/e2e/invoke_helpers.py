"""Helpers for the invocation end-to-end tests (test_invoke.py): InvokeFunction
and HTTP-trigger requests on fresh connections (safe from any thread), the
pyfn gate (requests held inside the function until the test opens it), calls
in the background, and FC error checks.

stdlib + pytest only.
"""

import base64
import http.client
import json
import os
import threading
import time

from conftest import wait_for
from fc_helpers import FC, Reply, check_reply
from inst_helpers import IO, list_instances

# ------------------------------------------------------------------ requests


def invoke(srv, fn, body=b"", headers=(), timeout=IO, check=True, content_type="application/octet-stream"):
    """POST /2023-03-30/functions/{fn}/invocations on a fresh connection: a
    Reply. check: every answer has x-fc-request-id, errors FC's JSON shape
    (pass check=False when the function itself answers >= 400)."""
    hs = list(headers)
    if content_type and not any(k.lower() == "content-type" for k, _ in hs):
        hs.append(("Content-Type", content_type))
    c = http.client.HTTPConnection(srv.host, srv.port, timeout=timeout)
    try:
        c.putrequest("POST", FC + "/functions/%s/invocations" % fn, skip_accept_encoding=True,
                     skip_host=any(k.lower() == "host" for k, _ in hs))
        for k, v in hs:
            c.putheader(k, v)
        c.putheader("Content-Length", str(len(body)))
        c.endheaders(body)
        resp = c.getresponse()
        r = Reply(resp.status, resp.getheaders(), resp.read())
    finally:
        c.close()
    if check:
        check_reply(r)
    return r


def request(srv, method, target, headers=(), body=None, timeout=IO, check=True):
    """One raw request (any method, any Host) on a fresh connection: a Reply."""
    resp = srv.request(method, target, headers=list(headers), body=body, timeout=timeout)
    r = Reply(resp.status, resp.headers, resp.body)
    if check:
        check_reply(r)
    return r


def assert_fc_error(r, status, code, error_type=None):
    """r is Frost's own error: status, FC's JSON with Code, and (when
    error_type is given) x-fc-error-type."""
    assert r.status == status and r.code == code, "expected %d %s, got %r (headers %r)" % (
        status, code, r, r.headers)
    check_reply(r)
    assert (r.header("content-type") or "").startswith("application/json"), r.headers
    if error_type is not None:
        assert r.header("x-fc-error-type") == error_type, "x-fc-error-type %r on %r" % (
            r.header("x-fc-error-type"), r)


def echoed(r):
    """The JSON pyfn answers with x-pyfn-echo: 1 ({method, path, headers, body});
    headers as a dict of lists keyed by lower-case name."""
    assert r.status == 200, r
    j = json.loads(r.body)
    hs = {}
    for k, v in j["headers"]:
        hs.setdefault(k.lower(), []).append(v)
    j["h"] = hs
    return j


def instance_ids(srv, fn):
    return [i["instanceId"] for i in list_instances(srv.fc, fn)]


def wait_no_instances(srv, fn, timeout=IO):
    wait_for(lambda: not instance_ids(srv, fn), timeout, "%s to have no instances" % fn)


def wait_instance_gone(srv, fn, iid, timeout=IO):
    wait_for(lambda: iid not in instance_ids(srv, fn), timeout,
             "instance %s to leave ListInstances of %s" % (iid, fn))


def log_tail_text(r):
    v = r.header("x-fc-log-result")
    assert v is not None, "no x-fc-log-result on %r (%r)" % (r, r.headers)
    return base64.b64decode(v, validate=True).decode("utf-8", "replace")


# -------------------------------------------------------------------- gates


class Gate:
    """Requests sent with gate.headers() stop inside pyfn: each writes
    DIR/started.TAG, then waits for DIR/open. The directory is world-writable
    (instances run as the function user)."""

    def __init__(self, box, name):
        self.dir = box.mark("gate-" + name)
        os.mkdir(self.dir)
        os.chmod(self.dir, 0o777)
        self.is_open = False

    def headers(self, tag):
        return [("x-pyfn-gate", self.dir), ("x-pyfn-tag", tag)]

    def started(self):
        """{tag: {"pid", "instance", "seq", "tag"}} of the requests that reached pyfn."""
        out = {}
        for name in os.listdir(self.dir):
            if name.startswith("started."):
                with open(os.path.join(self.dir, name)) as f:
                    j = json.load(f)
                out[j["tag"]] = j
        return out

    def wait_started(self, tags, timeout=IO):
        tags = list(tags)
        return wait_for(lambda: (lambda s: s if all(t in s for t in tags) else None)(self.started()),
                        timeout, "requests %r to reach the function (gate %s)" % (tags, self.dir))

    def open(self):
        if not self.is_open:
            with open(os.path.join(self.dir, "open"), "w"):
                pass
            self.is_open = True


# --------------------------------------------------------------- background


class Bg(threading.Thread):
    """A call run in a thread; get() joins it and returns its value (or
    re-raises its exception)."""

    def __init__(self, fn, *args, **kw):
        super().__init__(daemon=True)
        self.fn, self.args, self.kw = fn, args, kw
        self.value = self.error = None
        self.started_at = self.ended_at = None

    def run(self):
        self.started_at = time.monotonic()
        try:
            self.value = self.fn(*self.args, **self.kw)
        except BaseException as e:  # noqa: B902 - handed to get()
            self.error = e
        self.ended_at = time.monotonic()

    def get(self, timeout=2 * IO):
        self.join(timeout)
        assert not self.is_alive(), "background call %r did not finish within %.0fs" % (self.fn, timeout)
        if self.error is not None:
            raise self.error
        return self.value


def frost_events(srv, event, **match):
    """frost's log lines of one event whose fields equal match's values."""
    return [kv for kv in srv.log_lines(event) if all(kv.get(k) == v for k, v in match.items())]


def wait_event(srv, event, timeout=IO, **match):
    return wait_for(lambda: frost_events(srv, event, **match), timeout,
                    "log event %s %r in frost's log" % (event, match))
