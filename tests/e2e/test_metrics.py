"""Metrics end to end (src/metrics/, GET /metrics, `frost top`, docs/metrics.md):
the exposition parses with a strict Prometheus text parser (promparse.py), its
counters match the invocations the test sent to a real python function
(tests/functions/pyfn.py), instance and GPU gauges agree with ListInstances
and --gpus, scrapes are signed when access keys are set, and `frost top
--once` shows the function.

Run with:  /usr/bin/python3 -m pytest -q tests/e2e/test_metrics.py --frost=build/frost

Every wait has a deadline (wait_for); no assertion depends on timing.
"""

import json
import math

import pytest

from conftest import run_frost, wait_for
from fc_helpers import Client
from inst_helpers import IO, Sandbox, list_instances, port_range_args, pyfn_function
from invoke_helpers import invoke
import promparse

BASE_ARGS = [
    "--set", "runtime.start_timeout=10s",
    "--set", "runtime.stop_grace=2s",
    "--set", "sched.node_cpus=16",
]
KEY_ID, KEY_SECRET = "LTAImetricsTest", "s3cr3t-for-the-metrics-tests"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@pytest.fixture
def box():
    b = Sandbox()
    yield b
    b.cleanup()


@pytest.fixture
def serve(box, frost_factory):
    def start(*args, key=None):
        argv = port_range_args() + BASE_ARGS + list(args)
        srv = frost_factory(*argv, data_dir=box.data_dir())
        srv.fc = Client.of(srv, key=key)
        return srv

    return start


def scrape(srv, client=None):
    """GET /metrics, parsed strictly: {family: promparse.Family}."""
    r = (client or srv.fc).raw("GET", "/metrics", check=False)
    assert r.status == 200, "GET /metrics: %d %r" % (r.status, r.body[:500])
    assert r.header("content-type") == CONTENT_TYPE, r.headers
    return promparse.parse(r.body)


def value(fams, family, sample=None, **labels):
    f = fams.get(family)
    return f.get(sample, **labels) if f else None


def create(srv, name, **kw):
    kw.setdefault("timeout", 20)
    return srv.fc.create_function(pyfn_function(name, **kw))


# ------------------------------------------------------------- the parser


def test_parser_is_strict():
    """The parser must be able to fail: each broken exposition is refused."""
    good = ("# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\"} 3\n"
            "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3.5\nh_count 2\n")
    fams = promparse.parse(good)
    assert fams["a_total"].get(x="1") == 3 and fams["h"].type == "histogram"
    bad = [
        good[:-1],  # no final newline
        good.replace("a_total{x=\"1\"} 3", "a_total{x=\"1\"} -3"),  # negative counter
        good.replace("x=\"1\"", "x=\"1\",x=\"2\""),  # a label twice
        good.replace("x=\"1\"", "x=\"\\q\""),  # a bad escape
        good.replace("x=\"1\"", "__x=\"1\""),  # a reserved label
        good + "a_total{x=\"2\"} 1\n",  # a family that comes back
        good.replace("h_count 2", "h_count 3"),  # +Inf bucket != _count
        good.replace("h_bucket{le=\"1\"} 1", "h_bucket{le=\"1\"} 5"),  # not cumulative
        good.replace("h_bucket{le=\"+Inf\"} 2\n", ""),  # no +Inf
        good.replace("h_sum 3.5\n", ""),  # no _sum
        good + "# TYPE a_total counter\n",  # TYPE after samples
        good.replace("a_total{x=\"1\"} 3", "a_total{x=\"1\"} 3\na_total{x=\"1\"} 4"),  # a series twice
        good.replace(" 3\n", " three\n"),  # not a number
        good.encode() + b"bad\xff 1\n",  # not UTF-8
    ]
    for text in bad:
        with pytest.raises(promparse.PromParseError):
            promparse.parse(text)


# --------------------------------------------------------------- counters


def test_counters_match_requests(serve):
    srv = serve()
    create(srv, "mx")
    before = scrape(srv)
    assert value(before, "frost_function_invocations_total", function="mx") in (None, 0)

    sent = 0
    by_type = {}  # x-fc-error-type -> answers that carried it
    instances = set()

    def tally(r):
        nonlocal sent
        sent += 1
        t = r.header("x-fc-error-type")
        if t:
            by_type[t] = by_type.get(t, 0) + 1
        if r.header("x-fc-instance-id"):
            instances.add(r.header("x-fc-instance-id"))
        return r

    n_ok, n_crash, n_handled = 6, 2, 3
    oks = 0
    for i in range(n_ok):
        r = tally(invoke(srv, "mx", b"ok-%d" % i, check=False))
        oks += r.status == 200
    assert oks >= n_ok - 1, by_type  # a cold start may give up once on a slow machine
    # A crash mid-request: Frost answers 502 FunctionCrashed, UnhandledInvocationError.
    for _ in range(n_crash):
        r = tally(invoke(srv, "mx", b"__exit__", check=False))
        assert r.status >= 500 and r.header("x-fc-error-type"), (r, r.headers)
    # The function's own error: its answer carries x-fc-error-type.
    for _ in range(n_handled):
        r = tally(invoke(srv, "mx", b"x", headers=[("x-pyfn-header", "x-fc-error-type: HandledInvocationError")],
                         check=False))
        assert r.header("x-fc-error-type") == "HandledInvocationError", r.headers
    assert by_type.get("UnhandledInvocationError", 0) >= n_crash, by_type

    # Counted when the answer ends: wait until every answer is in.
    fams = wait_for(lambda: (lambda f: f if value(f, "frost_function_invocations_total", function="mx") == sent
                             else None)(scrape(srv)), IO, "invocations_total{mx} to reach %d" % sent)
    errs = {s.labels["error_type"]: s.value for s in fams["frost_function_errors_total"].select(function="mx")}
    assert errs == {k: float(v) for k, v in by_type.items()}, (errs, by_type)
    for fam in ("frost_function_invocation_duration_seconds", "frost_function_queue_wait_seconds"):
        h = promparse.histogram(fams[fam], function="mx")
        assert h["count"] == sent, (fam, h)
        assert h["sum"] >= 0 and h["buckets"][0][0] == 0.0005 and h["buckets"][-1][0] == math.inf, h
    assert value(fams, "frost_function_requests_in_flight", function="mx") == 0
    assert value(fams, "frost_function_requests_queued", function="mx") == 0

    # Every instance that answered was a cold start (crashes make new ones).
    cold = sum(s.value for s in fams["frost_function_cold_starts_total"].select(function="mx"))
    assert cold >= len(instances) >= 1, (cold, instances)
    total = promparse.histogram(fams["frost_function_cold_start_seconds"], function="mx", phase="total")
    assert total["count"] == cold, total
    for phase in ("spawn", "listen"):
        assert promparse.histogram(fams["frost_function_cold_start_seconds"], function="mx",
                                   phase=phase)["count"] == cold, phase

    # The instance gauges agree with ListInstances once things settle.
    def agree():
        f = scrape(srv)
        live = [i for i in list_instances(srv.fc, "mx") if i.get("state") not in ("stopped",)]
        n = sum(s.value for s in f["frost_function_instances"].select(function="mx"))
        return f if n == len(live) else None

    fams = wait_for(agree, IO, "frost_function_instances{mx} to match ListInstances")
    # Per-instance CPU and memory come from cgroups (when frost has them).
    for i in list_instances(srv.fc, "mx"):
        if "memoryBytes" in i:
            mem = fams.get("frost_instance_memory_bytes")
            assert mem and mem.get(function="mx", instance=i["instanceId"], kind=i["kind"]) is not None, i


def test_unknown_functions_add_no_series(serve):
    srv = serve()
    for i in range(5):
        r = invoke(srv, "nope-%d" % i, b"x", check=False)
        assert r.status == 404, r
    fams = scrape(srv)
    for fam in fams.values():
        for s in fam.samples:
            assert not s.labels.get("function", "").startswith("nope-"), s
    assert value(fams, "frost_functions_tracked") == 0


def test_gpu_devices(serve):
    srv = serve("--gpus", "sim:1xT4-16GB,1xA10-24GB")
    fams = scrape(srv)
    tot = fams["frost_gpu_memory_total_bytes"]
    assert len(tot.samples) == 2, tot.samples
    for s in tot.samples:
        assert s.labels["simulated"] == "true", s
    assert tot.select(type="T4")[0].value == 16 * 1024 ** 3
    assert tot.select(type="A10")[0].value == 24 * 1024 ** 3
    for s in fams["frost_gpu_memory_reserved_bytes"].samples:
        assert s.value == 0, s
    info = fams["frost_gpu_info"].samples
    assert all(s.labels["backend"] == "sim" and "simulated" in s.labels["name"] for s in info), info


def test_signed_scrapes(serve):
    srv = serve("--set", "auth.keys=%s:%s" % (KEY_ID, KEY_SECRET), key=(KEY_ID, KEY_SECRET))
    unsigned = Client.of(srv).raw("GET", "/metrics", check=False)
    assert unsigned.status in (401, 403), unsigned
    assert "frost_" not in unsigned.body.decode("utf-8", "replace")
    fams = scrape(srv)  # srv.fc signs
    assert "frost_build_info" in fams
    r = run_frost(srv.frost_bin, ["top", "--once", "--endpoint", "http://%s:%d" % (srv.host, srv.port),
                                  "--access-key-id", KEY_ID, "--access-key-secret", KEY_SECRET])
    assert r.returncode == 0, r.stderr


def test_bearer_token_scrapes(serve):
    """auth.metrics_token lets Prometheus (which cannot sign) scrape a server
    with keys; a wrong token, another scheme or no header does not."""
    token = "prom-3f9a1c7e"
    srv = serve("--set", "auth.keys=%s:%s" % (KEY_ID, KEY_SECRET), "--set",
                "auth.metrics_token=" + token, key=(KEY_ID, KEY_SECRET))
    anon = Client.of(srv)
    ok = anon.raw("GET", "/metrics", headers=[("Authorization", "Bearer " + token)], check=False)
    assert ok.status == 200 and b"frost_build_info" in ok.body, ok
    for bad in ("Bearer " + token[:-1], "Bearer " + token + "x", "Bearer "):
        r = anon.raw("GET", "/metrics", headers=[("Authorization", bad)], check=False)
        assert r.status == 401 and r.code == "InvalidAccessToken", (bad, r)
    # Another scheme is taken for a (bad) signature, as on the API.
    r = anon.raw("GET", "/metrics", headers=[("Authorization", "Basic " + token)], check=False)
    assert r.status == 400 and r.code == "IncompleteSignature" and b"frost_" not in r.body, r
    # The token opens /metrics only, never the API.
    r = anon.raw("GET", "/2023-03-30/functions", headers=[("Authorization", "Bearer " + token)],
                 check=False)
    assert r.status == 400 and r.code == "IncompleteSignature", r


# ------------------------------------------------------------------ top


def test_top_once(serve):
    srv = serve("--gpus", "sim:1xT4-16GB")
    create(srv, "topfn")
    create(srv, "idlefn")
    wait_for(lambda: invoke(srv, "topfn", b"x", check=False).status == 200, IO, "topfn to answer")
    wait_for(lambda: sum(s.value for s in scrape(srv)["frost_function_cold_starts_total"].select(
        function="topfn")), IO, "topfn's cold start in /metrics")
    ep = ["--endpoint", "http://%s:%d" % (srv.host, srv.port)]
    r = run_frost(srv.frost_bin, ["top", "--once"] + ep)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "\x1b" not in out, "control codes in --once output: %r" % out
    lines = out.splitlines()
    row = [l for l in lines if l.startswith("topfn ")]
    assert row, out
    assert [l for l in lines if l.startswith("idlefn ")], out  # listed, never invoked
    assert "T4" in out and "simulated" in out, out
    assert "cost today" in out, out

    r = run_frost(srv.frost_bin, ["top", "--once", "--json"] + ep)
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    fn = {f["name"]: f for f in j["functions"]}
    assert fn["topfn"]["coldStarts"] >= 1 and sum(fn["topfn"]["instances"].values()) >= 1, fn
    assert fn["idlefn"]["invocations"] == 0, fn
    assert j["gpus"][0]["simulated"] is True and j["gpus"][0]["totalBytes"] == 16 * 1024 ** 3, j

    r = run_frost(srv.frost_bin, ["top", "--json"] + ep)
    assert r.returncode == 2 and "--once" in r.stderr, r.stderr
    r = run_frost(srv.frost_bin, ["top", "--once", "--endpoint", "http://127.0.0.1:9"])
    assert r.returncode == 1, (r.stdout, r.stderr)
