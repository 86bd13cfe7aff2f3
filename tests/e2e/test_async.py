"""Async invocations and async tasks end to end (src/async/, src/api/fc_tasks.c,
docs/async.md): durable 202s, the task state machine on real instances,
retries, expiry, idempotent task ids, stop (queued and running), queueing past
capacity, destinations to a function and to a webhook, the task API's
paging and errors, the CLI, /metrics, and kill -9 in the middle of a stream of
submissions.

Run with:  /usr/bin/python3 -m pytest -q tests/e2e/test_async.py --frost=build/frost

The test function (ASYNCFN below) is driven by its JSON payload: it records
every execution in a marks directory, can hold a task at a gate the test
opens, fail, crash or sleep. Every wait has a deadline; nothing depends on how
long something took, except the retry and webhook backoffs Frost applies
(1 s, 2 s, ...), which the deadlines allow for.
"""

import http.server
import json
import os
import signal
import socket
import threading
import time
import urllib.parse

import pytest

from conftest import run_frost, wait_for
from fc_helpers import FC, Client, b64, make_zip, restart, sign_headers
from inst_helpers import IO, Proc, Sandbox, port_range_args
from invoke_helpers import Bg, assert_fc_error, invoke

BASE_ARGS = [
    "--set", "runtime.start_timeout=10s",
    "--set", "runtime.stop_grace=2s",
    "--set", "sched.node_cpus=16",
]
ASYNC = ("x-fc-invocation-type", "Async")
LONG = 60.0  # deadline for things that include retries and backoffs

ASYNCFN = r'''#!/usr/bin/env python3
"""Async test function: the payload (JSON) says what to do."""
import http.server, json, os, sys, time

PORT = int(os.environ.get("FC_SERVER_PORT", "9000"))
MARKS = os.environ.get("MARKS", "")


def runs_of(tid):
    return len([n for n in os.listdir(MARKS) if n.startswith("run." + tid + ".")])


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, status, body, ctype="text/plain"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.reply(200, b"ok")

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(n) if n else b""
        if self.path.split("?")[0] != "/invoke":
            return self.reply(200, b"")
        tid = self.headers.get("x-fc-async-task-id", "") or "sync"
        try:
            cmd = json.loads(data) if data[:1] == b"{" else {}
        except ValueError:
            cmd = {}
        before = runs_of(tid)
        rec = {"task": tid, "pid": os.getpid(), "rid": self.headers.get("x-fc-request-id", ""),
               "type": self.headers.get("x-fc-invocation-type", ""),
               "body": data.decode("latin-1")}
        tmp = os.path.join(MARKS, ".tmp.%d.%d" % (os.getpid(), time.monotonic_ns()))
        with open(tmp, "w") as f:
            json.dump(rec, f)
        os.rename(tmp, os.path.join(MARKS, "run.%s.%d.%d" % (tid, os.getpid(), time.monotonic_ns())))
        gate = cmd.get("gate")
        if gate:
            with open(os.path.join(gate, ".s." + tid), "w") as f:
                f.write(str(os.getpid()))
            os.rename(os.path.join(gate, ".s." + tid), os.path.join(gate, "started." + tid))
            deadline = time.monotonic() + 120
            while not os.path.exists(os.path.join(gate, "open")) and time.monotonic() < deadline:
                time.sleep(0.005)
        if before < cmd.get("crash_first", 0):
            os._exit(3)
        if before < cmd.get("fail_first", 0) or cmd.get("fail"):
            return self.reply(500, b"failed on purpose")
        if cmd.get("sleep_ms"):
            time.sleep(cmd["sleep_ms"] / 1000.0)
        self.reply(int(cmd.get("status", 200)), (cmd.get("answer") or ("done:" + tid)).encode())


http.server.ThreadingHTTPServer(("0.0.0.0", PORT), H).serve_forever()
'''


# ------------------------------------------------------------------ fixtures


@pytest.fixture
def box():
    b = Sandbox()
    yield b
    b.cleanup()


@pytest.fixture
def serve(box, frost_factory):
    def start(*args, data_dir=None, log_level=None):
        argv = port_range_args() + BASE_ARGS + list(args)
        srv = frost_factory(*argv, data_dir=data_dir or box.data_dir(), log_level=log_level)
        srv.fc = Client.of(srv)
        srv.box = box
        return srv

    return start


class Gate:
    """A directory the function waits on: it writes started.TASK (its pid)
    and goes on once the test creates `open`."""

    def __init__(self, box, name):
        self.dir = box.mark("gate-" + name)
        os.mkdir(self.dir)
        os.chmod(self.dir, 0o777)

    def started(self):
        return {n[len("started."):]: int(open(os.path.join(self.dir, n)).read())
                for n in os.listdir(self.dir) if n.startswith("started.")}

    def wait_started(self, tids, timeout=IO):
        return wait_for(lambda: (lambda s: s if all(t in s for t in tids) else None)(self.started()),
                        timeout, "tasks %r to reach the gate" % (tids,))

    def open(self):
        open(os.path.join(self.dir, "open"), "w").close()


@pytest.fixture
def gates(box):
    made = []

    def make(name):
        g = Gate(box, name)
        made.append(g)
        return g

    yield make
    for g in made:
        g.open()


def marks_dir(box, name):
    d = box.mark("marks-" + name)
    os.mkdir(d)
    os.chmod(d, 0o777)
    return d


def create(srv, name, marks, timeout=60, concurrency=1, async_config=None, reserved=None, env=None):
    """An ASYNCFN function recording its runs in `marks`."""
    e = {"MARKS": marks}
    e.update(env or {})
    doc = {
        "functionName": name,
        "runtime": "custom.debian12",
        "handler": "index.handler",
        "memorySize": 128,
        "timeout": timeout,
        "instanceConcurrency": concurrency,
        "customRuntimeConfig": {"command": ["python3", "asyncfn.py"]},
        "code": {"zipFile": b64(make_zip([("asyncfn.py", ASYNCFN.encode(), 0o755)]))},
        "environmentVariables": e,
    }
    srv.fc.create_function(doc)
    if async_config is not None:
        srv.fc.ok("PUT", "/functions/%s/async-invoke-config" % name, async_config)
    if reserved is not None:
        srv.fc.ok("PUT", "/functions/%s/concurrency" % name, {"reservedConcurrency": reserved})


def runs(marks, tid=None):
    """The recorded executions (dicts), optionally of one task."""
    out = []
    for n in os.listdir(marks):
        if n.startswith("run.") and (tid is None or n.startswith("run.%s." % tid)):
            with open(os.path.join(marks, n)) as f:
                out.append(json.load(f))
    return out


def submit(srv, fn, payload=b"", task_id=None, headers=(), check=True):
    """An async InvokeFunction: the Reply (202 expected when check)."""
    if isinstance(payload, dict):
        payload = json.dumps(payload).encode()
    hs = [ASYNC] + list(headers)
    if task_id is not None:
        hs.append(("x-fc-async-task-id", task_id))
    r = invoke(srv, fn, payload, headers=hs)
    if check:
        assert r.status == 202, r
        assert r.body == b"", r
        assert r.header("x-fc-async-task-id"), r.headers
        if task_id is not None:
            assert r.header("x-fc-async-task-id") == task_id
    return r


def task(srv, fn, tid):
    return srv.fc.ok("GET", "/functions/%s/async-tasks/%s" % (fn, tid))


def wait_status(srv, fn, tid, statuses, timeout=IO):
    if isinstance(statuses, str):
        statuses = (statuses,)
    return wait_for(lambda: (lambda t: t if t["status"] in statuses else None)(task(srv, fn, tid)),
                    timeout, "task %s of %s to be %s" % (tid, fn, "/".join(statuses)))


def statuses(t):
    return [e["status"] for e in t["events"]]


def all_tasks(srv, fn, **query):
    return srv.fc.list_all("/functions/%s/async-tasks" % fn, "tasks", **query)


def stats(srv, fn):
    return srv.fc.ok("GET", "/functions/%s/async-task-stats" % fn)


# -------------------------------------------------------------- basic flow


def test_submit_202_then_enqueued_running_succeeded(serve, gates):
    srv = serve()
    marks = marks_dir(srv.box, "basic")
    create(srv, "slow", marks)
    g = gates("basic")
    # The function is held at the gate: the 202 cannot wait for it.
    r = submit(srv, "slow", {"gate": g.dir, "answer": "the result"})
    tid = r.header("x-fc-async-task-id")
    rid = r.header("x-fc-request-id")
    assert tid == rid  # no id given: the task id is the request id
    t = task(srv, "slow", tid)
    assert t["status"] in ("Enqueued", "Running"), t
    assert t["taskId"] == tid and t["requestId"] == rid
    assert t["functionArn"].endswith(":functions/slow"), t
    assert t["qualifier"] == "LATEST"
    assert json.loads(t["taskPayload"])["answer"] == "the result"
    assert t["events"][0]["status"] == "Enqueued"
    pid = g.wait_started([tid])[tid]
    t = wait_status(srv, "slow", tid, "Running")
    assert t["instanceId"], t
    assert not g.started().keys() - {tid}
    assert stats(srv, "slow")["counts"]["Running"] == 1
    g.open()
    t = wait_status(srv, "slow", tid, "Succeeded")
    assert statuses(t) == ["Enqueued", "Running", "Succeeded"], t
    assert t["returnPayload"] == "the result"
    assert t["returnStatusCode"] == 200
    assert t["alreadyRetriedTimes"] == 0
    assert t["endTime"] >= t["startedTime"] > 0
    assert t["durationMs"] >= 0
    assert t["taskErrorMessage"] == ""
    assert [e["eventId"] for e in t["events"]] == [1, 2, 3]
    # The function saw one POST /invoke with the task's headers.
    rs = runs(marks, tid)
    assert len(rs) == 1 and rs[0]["pid"] == pid, rs
    assert rs[0]["rid"] == rid and rs[0]["type"] == "Async"
    counts = stats(srv, "slow")["counts"]
    assert counts["Succeeded"] == 1 and counts["Running"] == 0 and counts["Enqueued"] == 0
    # A binary payload goes through unchanged, and comes back in base64.
    blob = bytes(range(256))
    r = submit(srv, "slow", blob, task_id="binary")
    t = wait_status(srv, "slow", "binary", "Succeeded")
    assert t["taskPayloadEncoding"] == "base64"
    assert runs(marks, "binary")[0]["body"].encode("latin-1") == blob


def test_bad_inputs(serve):
    srv = serve()
    marks = marks_dir(srv.box, "bad")
    create(srv, "f", marks)
    # Task ids: FC's pattern.
    for bad in ("1abc", "-x", "a b", "a.b", "x" * 129, "ä"):
        r = invoke(srv, "f", b"{}", headers=[ASYNC, ("x-fc-async-task-id", bad)])
        assert_fc_error(r, 400, "InvalidArgument")
        assert "x-fc-async-task-id" in r.message
    submit(srv, "f", b"{}", task_id="x" * 128)
    submit(srv, "f", b"{}", task_id="_Ok-1")
    # 128 KiB is the limit, with and without Content-Length.
    submit(srv, "f", b"z" * (128 * 1024), task_id="exactly")
    r = invoke(srv, "f", b"z" * (128 * 1024 + 1), headers=[ASYNC])
    assert_fc_error(r, 413, "PayloadTooLarge")
    with srv.connect() as c:
        resp = c.request("POST", FC + "/functions/f/invocations",
                         headers=[ASYNC, ("x-fc-async-task-id", "chunky")],
                         body=[b"z" * 65536, b"z" * 65536, b"z"], chunked=True)
    assert resp.status == 413, resp
    assert resp.json()["Code"] == "PayloadTooLarge"
    assert srv.fc.call("GET", "/functions/f/async-tasks/chunky").status == 404
    # Unknown function, unknown task, bad invocation type.
    assert_fc_error(invoke(srv, "nope", b"", headers=[ASYNC]), 404, "FunctionNotFound")
    assert_fc_error(invoke(srv, "f", b"", headers=[("x-fc-invocation-type", "Later")]), 400,
                    "InvalidArgument")
    r = srv.fc.call("GET", "/functions/f/async-tasks/missing")
    assert r.status == 404 and r.code == "AsyncTaskNotFound", r
    r = srv.fc.call("GET", "/functions/nope/async-tasks/x")
    assert r.status == 404 and r.code == "FunctionNotFound", r
    r = srv.fc.call("PUT", "/functions/f/async-tasks/missing/stop")
    assert r.status == 404 and r.code == "AsyncTaskNotFound", r
    r = srv.fc.call("GET", "/functions/f/async-tasks/x/stop")
    assert r.status == 405, r
    # List parameters.
    for q in ({"status": "Done"}, {"status": "running"}, {"limit": "0"}, {"limit": "101"},
              {"limit": "x"}, {"sortOrderByTime": "up"}, {"startedTimeBegin": "yesterday"},
              {"startedTimeEnd": "-5"}, {"nextToken": "garbage"}, {"includePayload": "yes"},
              {"prefix": "p" * 129}, {"qualifier": "v1"},
              {"startedTimeBegin": "2000", "startedTimeEnd": "1000"}):
        r = srv.fc.call("GET", "/functions/f/async-tasks", query=q)
        assert r.status == 400 and r.code == "InvalidArgument", (q, r)
    r = srv.fc.call("GET", "/functions/f/async-tasks/exactly", query={"qualifier": "prod"})
    assert r.status == 400, r
    # A finished task cannot be stopped.
    wait_status(srv, "f", "exactly", "Succeeded")
    r = srv.fc.call("PUT", "/functions/f/async-tasks/exactly/stop")
    assert r.status == 409 and r.code == "AsyncTaskAlreadyFinished", r
    assert "Succeeded" in r.message


def test_idempotent_task_ids(serve, gates):
    srv = serve()
    marks = marks_dir(srv.box, "idem")
    create(srv, "f", marks)
    create(srv, "g", marks_dir(srv.box, "idem-g"))
    g = gates("idem")
    first = submit(srv, "f", {"gate": g.dir, "answer": "first"}, task_id="job_1")
    again = submit(srv, "f", {"answer": "second"}, task_id="job_1")
    assert again.header("x-fc-request-id") != first.header("x-fc-request-id")
    # Many at once, while the first is still running.
    calls = [Bg(submit, srv, "f", {"answer": "n"}, task_id="job_1") for _ in range(8)]
    for c in calls:
        c.start()
    for c in calls:
        assert c.get().status == 202
    # Many at once for a new id: one task.
    calls = [Bg(submit, srv, "f", {"answer": "race"}, task_id="race_1") for _ in range(8)]
    for c in calls:
        c.start()
    for c in calls:
        c.get()
    g.open()
    t = wait_status(srv, "f", "job_1", "Succeeded")
    assert t["requestId"] == first.header("x-fc-request-id")
    assert t["returnPayload"] == "first"
    wait_status(srv, "f", "race_1", "Succeeded")
    ids = [x["taskId"] for x in all_tasks(srv, "f")]
    assert sorted(ids) == ["job_1", "race_1"], ids
    assert len(runs(marks, "job_1")) == 1 and len(runs(marks, "race_1")) == 1
    # After it finished the id still answers the existing task, and runs nothing.
    submit(srv, "f", {"answer": "late"}, task_id="job_1")
    assert task(srv, "f", "job_1")["returnPayload"] == "first"
    # The same id on another function is another task.
    submit(srv, "g", {}, task_id="job_1")
    assert wait_status(srv, "g", "job_1", "Succeeded")["functionArn"].endswith("functions/g")
    assert len(runs(marks, "job_1")) == 1


# ------------------------------------------------------- retries and expiry


def test_failing_function_retried_then_failed(serve):
    srv = serve()
    marks = marks_dir(srv.box, "retry")
    create(srv, "flaky", marks, async_config={"maxAsyncRetryAttempts": 2})
    submit(srv, "flaky", {"fail": True}, task_id="always")
    t = wait_status(srv, "flaky", "always", "Failed", timeout=LONG)
    assert t["alreadyRetriedTimes"] == 2, t
    assert len(runs(marks, "always")) == 3  # the attempt and two retries
    ev = statuses(t)
    assert ev.count("Running") == 3 and ev.count("Retrying") == 2 and ev[-1] == "Failed", ev
    assert "500" in t["taskErrorMessage"], t
    assert t["returnPayload"] == "failed on purpose" and t["returnStatusCode"] == 500
    # A crash is retried too, and a later success is a success.
    submit(srv, "flaky", {"crash_first": 1, "answer": "second time lucky"}, task_id="crashy")
    t = wait_status(srv, "flaky", "crashy", ("Succeeded", "Failed"), timeout=LONG)
    assert t["status"] == "Succeeded", t
    assert t["alreadyRetriedTimes"] == 1 and t["returnPayload"] == "second time lucky"
    assert len(runs(marks, "crashy")) == 2
    assert any(e["status"] == "Retrying" for e in t["events"])


def test_timeout_and_no_retries(serve):
    srv = serve()
    marks = marks_dir(srv.box, "tmo")
    create(srv, "tmo", marks, timeout=1, async_config={"maxAsyncRetryAttempts": 0})
    submit(srv, "tmo", {"sleep_ms": 5000}, task_id="late")
    t = wait_status(srv, "tmo", "late", ("Failed", "Succeeded"), timeout=LONG)
    assert t["status"] == "Failed" and t["alreadyRetriedTimes"] == 0, t
    assert "Timeout" in t["taskErrorMessage"], t
    assert len(runs(marks, "late")) == 1


def test_expiry(serve, gates):
    srv = serve()
    marks = marks_dir(srv.box, "exp")
    create(srv, "exp", marks, reserved=1, async_config={"maxAsyncEventAgeInSeconds": 1})
    g = gates("exp")
    submit(srv, "exp", {"gate": g.dir}, task_id="holder")
    g.wait_started(["holder"])
    submit(srv, "exp", {}, task_id="waiter")  # no slot for it before it is 1 s old
    t = wait_status(srv, "exp", "waiter", "Expired", timeout=LONG)
    assert statuses(t) == ["Enqueued", "Expired"], t
    assert "maxAsyncEventAgeInSeconds" in t["taskErrorMessage"]
    g.open()
    # A task that started in time is not expired by its age.
    assert wait_status(srv, "exp", "holder", "Succeeded")["alreadyRetriedTimes"] == 0
    assert runs(marks, "waiter") == []


# --------------------------------------------------------------------- stop


def test_stop_queued_task(serve, gates):
    srv = serve()
    marks = marks_dir(srv.box, "stopq")
    create(srv, "one", marks, reserved=1)
    g = gates("stopq")
    submit(srv, "one", {"gate": g.dir}, task_id="busy")
    g.wait_started(["busy"])
    submit(srv, "one", {}, task_id="queued")
    assert task(srv, "one", "queued")["status"] == "Enqueued"
    t = srv.fc.ok("PUT", "/functions/one/async-tasks/queued/stop")
    assert t["status"] == "Stopped", t  # at once
    assert statuses(t) == ["Enqueued", "Stopped"]
    g.open()
    wait_status(srv, "one", "busy", "Succeeded")
    # The slot it would have had goes to a later task, and it never ran.
    submit(srv, "one", {}, task_id="after")
    wait_status(srv, "one", "after", "Succeeded")
    assert runs(marks, "queued") == []
    assert task(srv, "one", "queued")["status"] == "Stopped"
    r = srv.fc.call("PUT", "/functions/one/async-tasks/queued/stop")
    assert r.status == 409, r


def test_stop_running_task_stops_the_work(serve, gates):
    srv = serve()
    marks = marks_dir(srv.box, "stopr")
    create(srv, "one", marks)
    g = gates("stopr")
    submit(srv, "one", {"gate": g.dir}, task_id="long")
    pid = g.wait_started(["long"])["long"]
    proc = Proc(pid)
    wait_status(srv, "one", "long", "Running")
    t = srv.fc.ok("PUT", "/functions/one/async-tasks/long/stop")
    assert t["status"] in ("Stopping", "Stopped"), t
    t = wait_status(srv, "one", "long", "Stopped")
    assert "Stopping" in statuses(t) and statuses(t)[-1] == "Stopped", t
    # Concurrency 1: the instance cannot abandon the work, so it is recycled.
    wait_for(lambda: not proc.alive(), IO, "the process running the stopped task to be gone")
    g.open()
    assert len(runs(marks, "long")) == 1  # not retried
    # The function still serves new tasks.
    submit(srv, "one", {}, task_id="next")
    wait_status(srv, "one", "next", "Succeeded")


def test_more_tasks_than_capacity_queue_and_all_finish(serve, gates):
    srv = serve()
    marks = marks_dir(srv.box, "cap")
    create(srv, "cap", marks, reserved=2)
    g = gates("cap")
    tids = ["t%02d" % i for i in range(8)]
    for tid in tids:
        submit(srv, "cap", {"gate": g.dir}, task_id=tid)
    started = g.wait_started(tids[:2])
    s = wait_for(lambda: (lambda s: s if s["counts"]["Running"] == 2 else None)(stats(srv, "cap")),
                 IO, "two running")
    assert s["counts"]["Enqueued"] == 6, s
    assert s["oldestEnqueuedAgeMs"] >= 0
    assert len(g.started()) == 2 and set(started) == set(tids[:2])  # oldest first
    listed = all_tasks(srv, "cap", status="Enqueued")
    assert sorted(t["taskId"] for t in listed) == tids[2:]
    g.open()
    for tid in tids:
        wait_status(srv, "cap", tid, "Succeeded", timeout=LONG)
    assert stats(srv, "cap")["counts"]["Succeeded"] == 8
    assert all(len(runs(marks, tid)) == 1 for tid in tids)


# ------------------------------------------------------------- destinations


class Hook:
    """A webhook server: records POSTs; answers with the statuses in `plan`
    (then 200)."""

    def __init__(self, plan=()):
        self.plan = list(plan)
        self.got = []
        self.lock = threading.Lock()
        hook = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                with hook.lock:
                    status = hook.plan.pop(0) if hook.plan else 200
                    hook.got.append({"path": self.path, "headers": dict(self.headers.items()),
                                     "body": json.loads(body), "status": status})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def posts(self, path):
        with self.lock:
            return [g for g in self.got if g["path"] == path]

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture
def hook():
    made = []

    def make(plan=()):
        h = Hook(plan)
        made.append(h)
        return h

    yield make
    for h in made:
        h.close()


def test_destination_function_on_success_and_failure(serve):
    srv = serve()
    marks = marks_dir(srv.box, "dest")
    sink_marks = marks_dir(srv.box, "sink")
    create(srv, "sink", sink_marks)
    create(srv, "src", marks, async_config={
        "maxAsyncRetryAttempts": 0,
        "destinationConfig": {
            "onSuccess": {"destination": "acs:fc:local:0000000000000000:functions/sink"},
            "onFailure": {"destination": "sink"},
        },
    })
    submit(srv, "src", {"answer": "good"}, task_id="ok")
    submit(srv, "src", {"fail": True}, task_id="bad")
    t_ok = wait_status(srv, "src", "ok", "Succeeded")
    t_bad = wait_status(srv, "src", "bad", "Failed")
    wait_for(lambda: task(srv, "src", "ok")["destinationStatus"] == "Succeeded", IO, "delivery")
    wait_for(lambda: task(srv, "src", "bad")["destinationStatus"] == "Succeeded", IO, "delivery")
    # The sink ran one async task per outcome, with FC's destination record.
    wait_for(lambda: len(runs(sink_marks)) == 2, IO, "two records at the sink")
    recs = {}
    for r in runs(sink_marks):
        rec = json.loads(r["body"])
        recs[rec["requestContext"]["condition"]] = rec
        assert r["type"] == "Async"
    ok, bad = recs["Success"], recs["RetriesExhausted"]
    assert ok["requestContext"]["requestId"] == t_ok["requestId"]
    assert ok["requestContext"]["functionArn"] == t_ok["functionArn"]
    assert ok["requestContext"]["approximateInvokeCount"] == 1
    assert json.loads(ok["requestPayload"]) == {"answer": "good"}
    assert ok["responsePayload"] == "good" and ok["responseContext"]["statusCode"] == 200
    assert ok["responseContext"]["functionError"] == ""
    assert bad["requestContext"]["requestId"] == t_bad["requestId"]
    assert bad["responseContext"]["statusCode"] == 500
    assert bad["responseContext"]["functionError"], bad
    assert bad["responsePayload"] == "failed on purpose"
    # The sink's tasks are tasks like any other.
    wait_for(lambda: stats(srv, "sink")["counts"]["Succeeded"] == 2, IO, "the sink's tasks")
    sink = all_tasks(srv, "sink")
    assert len(sink) == 2 and all(t["status"] == "Succeeded" for t in sink), sink
    assert all("destination of task" in t["events"][0]["eventDetail"] for t in sink), sink


def test_destination_webhook_on_success_and_failure(serve, hook):
    srv = serve()
    marks = marks_dir(srv.box, "hook")
    h = hook(plan=[503, 500])  # the first delivery fails twice, then goes through
    create(srv, "hooked", marks, async_config={
        "maxAsyncRetryAttempts": 0,
        "destinationConfig": {"onSuccess": {"destination": h.url("/ok")},
                              "onFailure": {"destination": h.url("/fail")}},
    })
    submit(srv, "hooked", {"answer": "yes"}, task_id="good")
    t = wait_status(srv, "hooked", "good", "Succeeded")
    wait_for(lambda: task(srv, "hooked", "good")["destinationStatus"] == "Succeeded", LONG,
             "the webhook delivery after two failures")
    posts = h.posts("/ok")
    assert [p["status"] for p in posts] == [503, 500, 200], posts
    rec = posts[-1]["body"]
    assert rec["requestContext"]["condition"] == "Success"
    assert rec["requestContext"]["requestId"] == t["requestId"]
    assert rec["responsePayload"] == "yes"
    assert posts[-1]["headers"].get("x-fc-async-task-id") == "good"
    assert posts[-1]["headers"].get("Content-Type") == "application/json"
    notes = [e["eventDetail"] for e in task(srv, "hooked", "good")["events"]]
    assert any("503" in n for n in notes) and any("delivered" in n for n in notes), notes

    submit(srv, "hooked", {"fail": True}, task_id="broken")
    wait_status(srv, "hooked", "broken", "Failed")
    wait_for(lambda: task(srv, "hooked", "broken")["destinationStatus"] == "Succeeded", IO,
             "the failure delivery")
    rec = h.posts("/fail")[0]["body"]
    assert rec["requestContext"]["condition"] == "RetriesExhausted"
    assert rec["responseContext"]["statusCode"] == 500

    # A webhook that never answers 2xx: the delivery gives up, the task stays Succeeded.
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    port = dead.getsockname()[1]
    dead.close()  # nothing listens there now
    srv.fc.ok("PUT", "/functions/hooked/async-invoke-config", {
        "destinationConfig": {"onSuccess": {"destination": "http://127.0.0.1:%d/x" % port}}})
    submit(srv, "hooked", {}, task_id="undeliverable")
    t = wait_for(lambda: (lambda t: t if t["destinationStatus"] == "Failed" else None)(
        task(srv, "hooked", "undeliverable")), LONG, "the delivery to give up")
    assert t["status"] == "Succeeded"
    assert "gave up after 4 attempts" in t["events"][-1]["eventDetail"], t["events"]


# ---------------------------------------------------------------- listing


def test_list_paging_and_filters(serve):
    srv = serve()
    marks = marks_dir(srv.box, "list")
    create(srv, "lst", marks, concurrency=10)
    t0 = int(time.time() * 1000)
    for i in range(25):
        submit(srv, "lst", {"answer": "a%d" % i} if i % 5 else {"fail": True},
               task_id="%s%02d" % ("odd" if i % 2 else "even", i))
    wait_for(lambda: all(t["status"] in ("Succeeded", "Failed", "Retrying", "Running")
                         for t in all_tasks(srv, "lst")) and
             stats(srv, "lst")["counts"]["Succeeded"] == 20, LONG, "the tasks to run")
    # Newest first by default; asc reverses; pages of 10 with tokens.
    desc = all_tasks(srv, "lst")
    assert len(desc) == 25
    times = [t["startedTime"] for t in desc]
    assert times == sorted(times, reverse=True)
    pages, token, seen = 0, None, []
    while True:
        q = {"limit": 10, "sortOrderByTime": "asc"}
        if token:
            q["nextToken"] = token
        j = srv.fc.ok("GET", "/functions/lst/async-tasks", query=q)
        seen += [t["taskId"] for t in j["tasks"]]
        pages += 1
        token = j.get("nextToken")
        if not token:
            break
        assert len(j["tasks"]) == 10
    assert pages == 3 and seen == [t["taskId"] for t in reversed(desc)]
    assert "taskPayload" not in desc[0]
    j = srv.fc.ok("GET", "/functions/lst/async-tasks", query={"includePayload": "true", "limit": 1})
    assert "taskPayload" in j["tasks"][0] and j["nextToken"]
    # Filters.
    assert len(all_tasks(srv, "lst", prefix="odd")) == 12
    assert {t["taskId"] for t in all_tasks(srv, "lst", status="Succeeded")} == \
        {t["taskId"] for t in desc if int(t["taskId"][-2:]) % 5}
    assert all_tasks(srv, "lst", status="Enqueued") == []
    assert len(all_tasks(srv, "lst", status="Dequeued")) == 25
    mid = sorted(times)[10]
    got = all_tasks(srv, "lst", startedTimeBegin=mid)
    assert all(t["startedTime"] >= mid for t in got) and len(got) >= 15
    got = all_tasks(srv, "lst", startedTimeBegin=t0, startedTimeEnd=mid)
    assert all(t0 <= t["startedTime"] <= mid for t in got) and len(got) >= 11
    # Unknown functions: 404; a function without tasks: an empty list.
    r = srv.fc.call("GET", "/functions/nope/async-tasks")
    assert r.status == 404 and r.code == "FunctionNotFound"
    create(srv, "empty", marks)
    assert srv.fc.ok("GET", "/functions/empty/async-tasks") == {"tasks": []}


# ----------------------------------------------------- signed and via the CLI


def test_signed_submit_and_cli(serve, frost_bin):
    key = ("LTAIasyncTest", "s3cr3t-async")
    srv = serve("--set", "auth.keys=%s:%s" % key)
    srv.fc = Client.of(srv, key=key)
    marks = marks_dir(srv.box, "cli")
    create(srv, "clif", marks)
    # Unsigned: refused; signed (as the SDK does, the body hashed): accepted.
    r = invoke(srv, "clif", b"{}", headers=[ASYNC])
    assert r.status == 401, r
    body = b'{"answer": "signed"}'
    path = FC + "/functions/clif/invocations"
    hs = sign_headers(key[0], key[1], "POST", path, "", "%s:%d" % (srv.host, srv.port), body,
                      action="InvokeFunction", content_type="application/octet-stream")
    r = invoke(srv, "clif", body, headers=hs + [ASYNC, ("x-fc-async-task-id", "task_0001")])
    assert r.status == 202, r
    hs[-1] = ("Authorization", hs[-1][1][:-4] + "0000")
    r = invoke(srv, "clif", body, headers=hs + [ASYNC, ("x-fc-async-task-id", "task_0002")])
    assert r.status == 403, r
    env = {"FROST_ENDPOINT": "http://%s" % srv.addr, "FROST_ACCESS_KEY_ID": key[0],
           "FROST_ACCESS_KEY_SECRET": key[1]}

    p = run_frost(frost_bin, ["invoke", "clif", "--async", "--task-id", "cli_1", "-e",
                              '{"answer": "from the cli"}'], env=env)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "cli_1" and "202" in p.stderr
    p = run_frost(frost_bin, ["invoke", "clif", "--async", "-e", "{}"], env=env)
    assert p.returncode == 0 and p.stdout.strip(), p.stderr
    p = run_frost(frost_bin, ["invoke", "clif", "--task-id", "x", "-e", "{}"], env=env)
    assert p.returncode == 2 and "--async" in p.stderr
    p = run_frost(frost_bin, ["invoke", "clif", "--async", "--task-id", "9bad"], env=env)
    assert p.returncode == 1 and "InvalidArgument" in p.stdout and "400" in p.stderr
    wait_status(srv, "clif", "cli_1", "Succeeded")

    p = run_frost(frost_bin, ["task", "get", "clif", "cli_1"], env=env)
    assert p.returncode == 0, p.stderr
    assert "Succeeded" in p.stdout and "events:" in p.stdout and "Running" in p.stdout
    p = run_frost(frost_bin, ["task", "get", "clif", "cli_1", "--json"], env=env)
    assert json.loads(p.stdout)["returnPayload"] == "from the cli"
    p = run_frost(frost_bin, ["task", "list", "clif"], env=env)
    assert p.returncode == 0 and p.stdout.splitlines()[0].split()[:2] == ["TASK", "STATUS"]
    assert "cli_1" in p.stdout and "task_0001" in p.stdout
    p = run_frost(frost_bin, ["task", "list", "clif", "--status", "Succeeded", "--json"], env=env)
    assert "cli_1" in [t["taskId"] for t in json.loads(p.stdout)["tasks"]]
    p = run_frost(frost_bin, ["task", "list", "clif", "--limit", "1"], env=env)
    assert "more: frost task list clif --token" in p.stdout
    p = run_frost(frost_bin, ["task", "list", "clif", "--status", "Bogus"], env=env)
    assert p.returncode == 1 and "InvalidArgument" in p.stderr
    p = run_frost(frost_bin, ["task", "stop", "clif", "cli_1"], env=env)
    assert p.returncode == 1 and "AsyncTaskAlreadyFinished" in p.stderr
    p = run_frost(frost_bin, ["task", "get", "clif", "nope"], env=env)
    assert p.returncode == 1 and "AsyncTaskNotFound" in p.stderr
    p = run_frost(frost_bin, ["task", "stats", "clif", "--json"], env=env)
    assert json.loads(p.stdout)["counts"]["Succeeded"] >= 1
    p = run_frost(frost_bin, ["task"], env=env)
    assert p.returncode == 2
    p = run_frost(frost_bin, ["task", "frobnicate", "clif"], env=env)
    assert p.returncode == 2


def test_cli_stop(serve, gates, frost_bin):
    srv = serve()
    marks = marks_dir(srv.box, "clistop")
    create(srv, "f", marks)
    g = gates("clistop")
    env = {"FROST_ENDPOINT": "http://%s" % srv.addr}
    p = run_frost(frost_bin, ["invoke", "f", "--async", "--task-id", "held", "-e",
                              json.dumps({"gate": g.dir})], env=env)
    assert p.returncode == 0, p.stderr
    g.wait_started(["held"])
    wait_status(srv, "f", "held", "Running")
    p = run_frost(frost_bin, ["task", "stop", "f", "held"], env=env)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() in ("task held: Stopping", "task held: Stopped"), p.stdout
    wait_status(srv, "f", "held", "Stopped")


def test_metrics(serve):
    srv = serve()
    marks = marks_dir(srv.box, "metrics")
    create(srv, "m", marks)
    submit(srv, "m", {}, task_id="one")
    wait_status(srv, "m", "one", "Succeeded")
    r = srv.request("GET", "/metrics")
    assert r.status == 200, r
    text = r.body.decode()
    assert 'frost_async_tasks{function="m",status="Succeeded"} 1' in text, text[-3000:]
    assert 'frost_async_tasks{function="m",status="Enqueued"} 0' in text
    assert 'frost_async_oldest_queued_age_seconds{function="m"} 0' in text


# --------------------------------------------------------- crashes, restarts


def test_running_task_retried_after_kill9(serve, gates, frost_factory):
    srv = serve()
    marks = marks_dir(srv.box, "k9")
    create(srv, "k", marks, async_config={"maxAsyncRetryAttempts": 1})
    create(srv, "k0", marks_dir(srv.box, "k9-0"), async_config={"maxAsyncRetryAttempts": 0})
    g = gates("k9")
    submit(srv, "k", {"gate": g.dir, "answer": "made it"}, task_id="victim")
    submit(srv, "k0", {"gate": g.dir}, task_id="victim0")
    g.wait_started(["victim", "victim0"])
    wait_status(srv, "k", "victim", "Running")
    wait_status(srv, "k0", "victim0", "Running")
    # The API shows Running at once; its write commits with the next group.
    # A later acknowledged submit (202 only once durable, commits in order)
    # proves the Running records are on disk before the kill.
    submit(srv, "k0", {"answer": "barrier"}, task_id="barrier")
    srv2 = restart(frost_factory, srv, *(port_range_args() + BASE_ARGS), sig=signal.SIGKILL)
    srv2.fc = Client.of(srv2)
    g.open()
    t = wait_status(srv2, "k", "victim", "Succeeded", timeout=LONG)
    assert t["alreadyRetriedTimes"] == 1, t
    assert any("interrupted" in e["eventDetail"] for e in t["events"]), t["events"]
    assert statuses(t).count("Succeeded") == 1
    t = wait_status(srv2, "k0", "victim0", "Failed")
    assert "interrupted" in t["taskErrorMessage"], t


def test_graceful_restart_puts_running_back(serve, gates, frost_factory):
    srv = serve()
    marks = marks_dir(srv.box, "term")
    create(srv, "t", marks, async_config={"maxAsyncRetryAttempts": 0})
    g = gates("term")
    submit(srv, "t", {"gate": g.dir}, task_id="paused")
    g.wait_started(["paused"])
    wait_status(srv, "t", "paused", "Running")
    srv2 = restart(frost_factory, srv, *(port_range_args() + BASE_ARGS))
    srv2.fc = Client.of(srv2)
    g.open()
    # Not counted as an attempt: with no retries allowed it still runs again.
    t = wait_status(srv2, "t", "paused", "Succeeded", timeout=LONG)
    assert t["alreadyRetriedTimes"] == 0, t
    assert any("shutting down" in e["eventDetail"] for e in t["events"]), t["events"]
    assert len(runs(marks, "paused")) == 2


def _submitter(addr_holder, fn, tids, acked, lock, stop):
    """Submits each task until acknowledged (following restarts through
    addr_holder[0]); the same id makes a retried submit idempotent."""
    for tid in tids:
        while not stop.is_set():
            host, port = addr_holder[0]
            try:
                c = Client(host, port, timeout=10)
                r = c.raw("POST", FC + "/functions/%s/invocations" % fn, b'{"sleep_ms": 20}',
                          headers=[ASYNC, ("x-fc-async-task-id", tid)], check=False)
                c.close()
            except (OSError, http.client.HTTPException):
                time.sleep(0.01)
                continue
            if r.status == 202:
                with lock:
                    acked.add(tid)
                break
            time.sleep(0.01)


import http.client  # noqa: E402  (used by _submitter)


def test_kill9_during_1000_submissions(serve, frost_factory):
    srv = serve()
    marks = marks_dir(srv.box, "k1000")
    create(srv, "bulk", marks, concurrency=20, reserved=40)
    tids = ["t%04d" % i for i in range(1000)]
    acked, lock, stop = set(), threading.Lock(), threading.Event()
    addr = [(srv.host, srv.port)]
    n_threads = 8
    threads = [threading.Thread(target=_submitter,
                                args=(addr, "bulk", tids[i::n_threads], acked, lock, stop),
                                daemon=True) for i in range(n_threads)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: len(acked) >= 400, LONG, "400 acknowledged submissions")
        with lock:
            before_kill = set(acked)
        srv2 = restart(frost_factory, srv, *(port_range_args() + BASE_ARGS), sig=signal.SIGKILL)
        srv2.fc = Client.of(srv2)
        addr[0] = (srv2.host, srv2.port)
        for t in threads:
            t.join(LONG * 2)
        assert not any(t.is_alive() for t in threads), "submitters did not finish"
    finally:
        stop.set()
    assert acked == set(tids)
    assert len(before_kill) < 1000, "every submission finished before the kill: make it bigger"
    # The restart found acknowledged work unfinished (else the kill proved nothing).
    rec = wait_for(lambda: srv2.log_lines("async_recovered"), IO, "async_recovered in the log")[0]
    assert int(rec["requeued"]) + int(rec["interrupted"]) > 0, rec

    # Every acknowledged task is there and reaches exactly one terminal state.
    def all_done():
        s = stats(srv2, "bulk")["counts"]
        return s if s["Succeeded"] + s["Failed"] == 1000 else None

    s = wait_for(all_done, 180, "all 1000 tasks to finish")
    tasks = all_tasks(srv2, "bulk")
    assert sorted(t["taskId"] for t in tasks) == tids
    for t in tasks:
        assert t["status"] == "Succeeded", t
        ev = statuses(t)
        terminal = [e for e in ev if e in ("Succeeded", "Failed", "Stopped", "Expired", "Invalid")]
        assert terminal == ["Succeeded"], t
    assert s["Failed"] == 0
    # At least once: each ran, and a second run can only come from the crash.
    for tid in tids:
        assert len(runs(marks, tid)) >= 1, tid
