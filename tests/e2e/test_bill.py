"""Metering and bills end to end (src/meter/, src/api/fc_bill.c,
src/cli/bill.c, docs/billing.md): a scripted load on a real pyfn function,
then `frost bill` reports the active time the test measured (requests that
overlap on one instance counted once), GPU functions are priced per
GPU-memory-GB·s and set beside dedicated cards, a restart bills nothing
twice, a provisioned instance in idle mode accrues frozen time at the idle
price, and bad inputs get FC-style errors.

Run with:  /usr/bin/python3 -m pytest -q tests/e2e/test_bill.py --frost=build/frost

No sleeps: the load's durations come from the function (x-pyfn-sleep-ms) and
the clock is only read, never waited on; every wait has a deadline.
"""

import csv
import io
import json
import os
import signal
import threading
import time
import urllib.parse

import pytest

from conftest import run_frost, wait_for
from fc_helpers import FC, Client
from inst_helpers import IO, list_instances, port_range_args
from invoke_helpers import invoke
from test_invoke import BASE_ARGS, box, create  # noqa: F401 - fixtures

# Every price set, so the test knows what each resource costs.
PRICES = [
    "--set", "prices.currency=CNY",
    "--set", "prices.gpu_memory_active=0.0007",
    "--set", "prices.gpu_memory_idle=0.0002",
    "--set", "prices.gpu_types=",
    "--set", "prices.vcpu_active=0.00002",
    "--set", "prices.vcpu_idle=0.000001",
    "--set", "prices.memory=0.000003",
    "--set", "prices.invocation=0.00000015",
    "--set", "dedicated.card_hour=14",
]
SLACK = 0.15  # s: scheduling and response overhead frost may count on top of a request


@pytest.fixture
def start(box, frost_factory):  # noqa: F811 - box is a fixture
    """start(*args, data_dir=None) -> a frost serve with PRICES, srv.fc and
    srv.data_dir; pass data_dir to restart on an earlier server's state."""

    def go(*args, data_dir=None):
        argv = port_range_args() + BASE_ARGS + PRICES + list(args)
        srv = frost_factory(*argv, data_dir=data_dir or box.data_dir())
        srv.fc = Client.of(srv)
        return srv

    return go


def endpoint(srv):
    return "http://%s:%d" % (srv.host, srv.port)


def api_bill(srv, **params):
    """GET /bills: (status, json)."""
    q = urllib.parse.urlencode(params)
    r = srv.request("GET", FC + "/bills" + ("?" + q if q else ""))
    return r.status, r.json()


def cli_bill(frost_bin, srv, *args):
    p = run_frost(frost_bin, ["bill", "--endpoint", endpoint(srv)] + list(args))
    return p


def bill_json(frost_bin, srv, *args):
    p = cli_bill(frost_bin, srv, "--json", *args)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def item(bill, fn, kind=None):
    rows = [i for i in bill["items"] if i["functionName"] == fn and (kind is None or i["kind"] == kind)]
    assert len(rows) == 1, bill["items"]
    return rows[0]


def total_active(srv, fn):
    st, b = api_bill(srv, functionName=fn)
    assert st == 200, b
    return b["total"]["activeSeconds"]


def no_request_in_flight(srv, fn):
    """Every instance of fn is idle (the scheduler saw its last answer end)."""
    return all(i.get("state") != "ready/active" for i in list_instances(srv.fc, fn))


def timed_invoke(srv, fn, sleep_ms, **kw):
    t = time.monotonic()
    r = invoke(srv, fn, b"x", headers=[("x-pyfn-sleep-ms", str(sleep_ms))], **kw)
    assert r.status == 200, r
    return time.monotonic() - t, r


def check_costs(row, p_gpu_a=0.0007, p_gpu_i=0.0002, p_cpu_a=0.00002, p_cpu_i=0.000001,
                p_mem=0.000003, p_inv=0.00000015):
    """Each cost is its quantity times its price; the total is their sum."""
    assert row["costGpu"] == pytest.approx(
        row["gpuMemoryGBSecondsActive"] * p_gpu_a + row["gpuMemoryGBSecondsIdle"] * p_gpu_i, abs=1e-8)
    assert row["costVcpu"] == pytest.approx(
        row["vcpuSecondsActive"] * p_cpu_a + row["vcpuSecondsIdle"] * p_cpu_i, abs=1e-8)
    assert row["costMemory"] == pytest.approx(row["memoryGBSeconds"] * p_mem, abs=1e-8)
    assert row["costInvocations"] == pytest.approx(row["invocations"] * p_inv, abs=1e-12)
    assert row["cost"] == pytest.approx(
        row["costGpu"] + row["costVcpu"] + row["costMemory"] + row["costInvocations"], abs=1e-8)


# ----------------------------------------------------------------- the load


def test_bill_matches_measured_active_time(start, frost_bin):
    """Sequential requests of known length, then three at once on one
    instance (concurrency 4): the bill's active time lies between what the
    function slept and what the test measured around the calls, and the
    overlapping requests count once."""
    srv = start("--set", "sched.keepalive=30s")
    doc = create(srv, "echo", instanceConcurrency=4, memorySize=512)
    assert invoke(srv, "echo", b"warm").status == 200  # the cold start is not measured
    wait_for(lambda: no_request_in_flight(srv, "echo"), IO, "the warm-up to end")
    before = total_active(srv, "echo")

    slept, measured = 0.0, 0.0
    for ms in (200, 350, 500):
        d, _ = timed_invoke(srv, "echo", ms)
        slept += ms / 1000
        measured += d

    results = []

    def one():
        results.append(timed_invoke(srv, "echo", 600))

    t0 = time.monotonic()
    threads = [threading.Thread(target=one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(IO)
    span = time.monotonic() - t0
    assert len(results) == 3
    assert len({r.header("x-fc-instance-id") for _, r in results}) == 1, "not one instance"
    slept += 0.6
    measured += span
    wait_for(lambda: no_request_in_flight(srv, "echo"), IO, "the load to end")

    b = bill_json(frost_bin, srv, "echo")
    row = item(b, "echo", "on-demand")
    active = b["total"]["activeSeconds"] - before
    assert slept - 0.01 <= active <= measured + SLACK, (slept, active, measured)
    # Counted once: three 0.6 s requests side by side are not 1.8 s.
    assert active < slept + 1.2 - 0.3, (slept, active)
    assert row["activeSeconds"] == b["total"]["activeSeconds"]
    assert row["billedActiveSeconds"] == pytest.approx(row["activeSeconds"], abs=1e-6)
    assert row["billedIdleSeconds"] == 0  # on-demand: idle time is free
    assert row["idleSeconds"] > 0
    assert row["vcpuSecondsActive"] == pytest.approx(row["activeSeconds"] * doc["cpu"], abs=1e-3)
    assert row["memoryGBSeconds"] == pytest.approx(row["activeSeconds"] * 0.5, abs=1e-3)
    assert row["peakCards"] == 0 and row["dedicatedCost"] == 0 and row["savingPercent"] is None
    check_costs(row)
    assert b["currency"] == "CNY" and b["by"] == "all" and b["functionName"] == "echo"

    # The human table names the function and the total.
    p = cli_bill(frost_bin, srv, "echo")
    assert p.returncode == 0, p.stderr
    assert "echo" in p.stdout and "on-demand" in p.stdout and "TOTAL" in p.stdout, p.stdout


def test_echo_py_bursts_with_scale_to_zero(start, frost_bin, tmp_path):
    """examples/echo-py deployed with `frost deploy`, a 300 ms keep-alive, and
    three bursts of requests of known length, each burst starting from zero
    instances: the bill's active time lies between what the function slept
    and what the test measured around its calls (cold starts included, since
    the initializer runs in them), and the idle keep-alive between bursts is
    not billed to on-demand instances."""
    from test_examples import ECHO, deploy

    srv = start("--set", "sched.keepalive=300ms")
    deploy(frost_bin, srv, os.path.join(ECHO, "s.yaml"), str(tmp_path))
    before = total_active(srv, "echo-py")

    def live():
        return [i for i in list_instances(srv.fc, "echo-py") if i["status"] != "Stopped"]

    slept, measured, instances = 0.0, 0.0, set()
    for burst in range(3):
        wait_for(lambda: not live(), IO, "echo-py to scale to zero before burst %d" % burst)
        for ms in (120, 250):
            t = time.monotonic()
            r = invoke(srv, "echo-py", b"x", headers=[("x-echo-sleep-ms", str(ms))])
            assert r.status == 200 and r.body == b"x", r
            measured += time.monotonic() - t
            slept += ms / 1000
            instances.add(r.header("x-fc-instance-id"))
    assert len(instances) == 3, "each burst should have had its own instance: %r" % instances
    wait_for(lambda: not live(), IO, "echo-py to scale to zero after the load")

    b = bill_json(frost_bin, srv, "echo-py")
    row = item(b, "echo-py", "on-demand")
    active = b["total"]["activeSeconds"] - before
    assert slept - 0.01 <= active <= measured + SLACK, (slept, active, measured)
    assert row["billedIdleSeconds"] == 0 and row["idleSeconds"] > 0, row
    assert row["invocations"] >= 6, row
    check_costs(row)


def test_gpu_function_beside_dedicated_cards(start, frost_bin):
    """A 4 GB slice of a 16 GB T4: GPU-memory-GB·s at the active price, one
    dedicated card at 14 an hour over the same hours, and the saving."""
    srv = start("--gpus", "sim:1xT4-16GB", "--set", "sched.keepalive=30s")
    create(srv, "cv", gpuConfig={"gpuMemorySize": 4096, "gpuType": "fc.gpu.tesla.1"})
    timed_invoke(srv, "cv", 300)
    wait_for(lambda: no_request_in_flight(srv, "cv"), IO, "the request to end")
    b = bill_json(frost_bin, srv, "cv")
    row = item(b, "cv")
    assert row["gpuType"] == "T4"
    assert row["activeSeconds"] >= 0.3
    assert row["gpuMemoryGBSecondsActive"] == pytest.approx(4 * row["billedActiveSeconds"], abs=1e-3)
    assert row["peakCards"] == 1 and row["peakGpuMemoryGB"] == 4
    assert row["dedicatedCost"] == pytest.approx(14 * row["dedicatedHours"], rel=1e-6)
    assert row["dedicatedHours"] > 0
    assert row["savingPercent"] == pytest.approx(
        (row["dedicatedCost"] - row["cost"]) / row["dedicatedCost"] * 100, abs=0.01)
    check_costs(row)
    tot = b["total"]
    assert tot["peakCards"] == 1 and tot["dedicatedCost"] == pytest.approx(row["dedicatedCost"])

    # By hour: the item's hour, and a period row with the same money.
    b = bill_json(frost_bin, srv, "cv", "--by", "hour")
    assert b["by"] == "hour" and len(b["periods"]) >= 1
    assert sum(p["cost"] for p in b["periods"]) == pytest.approx(tot["cost"], abs=1e-6)

    # CSV: one header, every row kind, the same numbers.
    p = cli_bill(frost_bin, srv, "--csv")
    assert p.returncode == 0, p.stderr
    rows = list(csv.DictReader(io.StringIO(p.stdout)))
    assert {r["scope"] for r in rows} == {"item", "function", "period", "total"}
    cv = [r for r in rows if r["scope"] == "item" and r["functionName"] == "cv"][0]
    assert float(cv["peakCards"]) == 1 and float(cv["dedicatedCost"]) > 0
    assert float(cv["activeSeconds"]) >= 0.3


def test_restart_bills_nothing_twice(start, frost_bin):
    """A clean restart keeps every second and adds none; after kill -9 at
    most the unwritten last minute is gone, and the next restart adds
    nothing either."""
    srv = start("--set", "sched.keepalive=30s")
    create(srv, "r")
    for ms in (200, 300):
        timed_invoke(srv, "r", ms)
    wait_for(lambda: no_request_in_flight(srv, "r"), IO, "the load to end")
    first = total_active(srv, "r")
    assert first >= 0.5
    assert srv.stop() == 0

    srv2 = start(data_dir=srv.data_dir)
    assert total_active(srv2, "r") == pytest.approx(first, abs=0.002)
    timed_invoke(srv2, "r", 250)
    wait_for(lambda: no_request_in_flight(srv2, "r"), IO, "the request to end")
    second = total_active(srv2, "r")
    assert first + 0.25 - 0.01 <= second <= first + 0.25 + 2.0, (first, second)
    srv2.expected_exit = None
    srv2.send_signal(signal.SIGKILL)
    srv2.wait_exit()
    os.unlink(srv2.addr_path)  # stale after kill -9: the next server writes its own

    srv3 = start(data_dir=srv.data_dir)
    third = total_active(srv3, "r")
    # What the last flush (once a minute) wrote survives: never more.
    assert first - 0.002 <= third <= second + 0.002, (first, second, third)
    assert srv3.stop() == 0
    srv4 = start(data_dir=srv.data_dir)
    assert total_active(srv4, "r") == pytest.approx(third, abs=0.002)


def test_idle_mode_accrues_frozen_time_at_the_idle_price(start, frost_bin):
    """A provisioned instance with alwaysAllocateGPU false freezes while
    idle: its frozen time grows in the bill and is priced at the idle GPU
    price (its 16 GB slice), a request thaws it and is active time."""
    srv = start("--gpus", "sim:1x24GB", "--set", "sched.scale_interval=100ms",
                "--set", "sched.freeze_delay=50ms")
    create(srv, "idle", timeout=30, gpuConfig={"gpuMemorySize": 16384, "gpuType": "fc.gpu.tesla.1"})
    r = srv.fc.call("PUT", "/functions/idle/provision-config",
                    {"target": 1, "alwaysAllocateGPU": False})
    if r.status != 200:
        pytest.skip("provision configs with idle mode are not available: %r" % (r,))

    def instance():
        for i in list_instances(srv.fc, "idle"):
            if i["kind"].startswith("provisioned") and i["status"] not in ("Stopped", "Failed"):
                return i
        return None

    inst = wait_for(instance, IO, "the provisioned instance")
    if inst["kind"] != "provisioned-idle":
        pytest.skip("the scheduler has no idle mode yet (kind %s)" % inst["kind"])
    wait_for(lambda: (instance() or {}).get("state") == "frozen", IO, "the instance to freeze")

    def frozen_seconds():
        st, b = api_bill(srv, functionName="idle")
        assert st == 200, b
        rows = [i for i in b["items"] if i["kind"] == "provisioned-idle"]
        return rows[0]["frozenSeconds"] if rows else 0

    f1 = wait_for(frozen_seconds, IO, "frozen time in the bill")
    wait_for(lambda: frozen_seconds() >= f1 + 0.3, IO, "frozen time to grow")

    d, _ = timed_invoke(srv, "idle", 300, timeout=60)
    wait_for(lambda: (instance() or {}).get("state") == "frozen", IO, "the instance to refreeze")
    b = bill_json(frost_bin, srv, "idle")
    row = item(b, "idle", "provisioned-idle")
    assert row["activeSeconds"] >= 0.3
    assert row["frozenSeconds"] >= f1 + 0.3
    # Idle and frozen time at the idle price, on the 16 GB slice.
    assert row["billedIdleSeconds"] == pytest.approx(row["idleSeconds"] + row["frozenSeconds"], abs=1e-6)
    assert row["billedActiveSeconds"] == pytest.approx(row["activeSeconds"], abs=1e-6)
    assert row["gpuMemoryGBSecondsIdle"] == pytest.approx(16 * row["billedIdleSeconds"], abs=1e-3)
    assert row["gpuMemoryGBSecondsActive"] == pytest.approx(16 * row["billedActiveSeconds"], abs=1e-3)
    check_costs(row)


# ------------------------------------------------------------ bad inputs


def test_bill_api_errors(start):
    srv = start()
    bad = [
        ({"since": "yesterday-ish"}, "since"),
        ({"until": "2024-13-01"}, "until"),
        ({"since": "2024-07-01T16:00:00"}, "since"),  # no zone
        ({"since": "2024-07-02", "until": "2024-07-01"}, "before"),
        ({"since": "now", "until": "now"}, "before"),
        ({"by": "week"}, "by"),
        ({"functionName": "bad name"}, "functionName"),
        ({"functionName": "x" * 65}, "functionName"),
        ({"since": "1" * 70}, "since"),
    ]
    for params, word in bad:
        st, j = api_bill(srv, **params)
        assert st == 400, (params, st, j)
        assert j["Code"] == "InvalidArgument" and j["RequestId"], (params, j)
        assert word in j["Message"], (params, j)
    r = srv.request("POST", FC + "/bills", body=b"{}")
    assert r.status == 405 and r.json()["Code"] == "MethodNotAllowed", r

    # A function without usage (or that never existed) has an empty bill.
    st, j = api_bill(srv, functionName="nobody", since="-1h", by="hour")
    assert st == 200, j
    assert j["items"] == [] and j["total"]["cost"] == 0 and j["total"]["savingPercent"] is None
    assert j["requestId"]
    st, j = api_bill(srv, since="2024-07-01T00:00:00+08:00", until="1719792000000")
    assert st == 200, j
    assert j["since"] == "2024-06-30T16:00:00.000Z" and j["until"] == "2024-07-01T00:00:00.000Z"


def test_bill_cli_errors(start, frost_bin):
    srv = start()
    for args in (["--by", "week"], ["--since", "nope"], ["--until", "2024-02-30"],
                 ["--json", "--csv"], ["a", "b"], ["--frobnicate"]):
        p = cli_bill(frost_bin, srv, *args)
        assert p.returncode == 2, (args, p.returncode, p.stdout, p.stderr)
        assert "frost bill" in p.stderr, p.stderr
    # Errors from the server: exit 1 with its code.
    p = cli_bill(frost_bin, srv, "--since", "2024-07-02", "--until", "2024-07-01")
    assert p.returncode == 1 and "InvalidArgument" in p.stderr, (p.returncode, p.stderr)
    p = cli_bill(frost_bin, srv, "bad.name")
    assert p.returncode == 1 and "functionName" in p.stderr, (p.returncode, p.stderr)
    p = run_frost(frost_bin, ["bill", "--help"])
    assert p.returncode == 0 and "--by" in p.stdout
