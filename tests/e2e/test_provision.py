"""Provisioned instances (src/sched/, src/scale/, docs/provision.md): the
target is kept ready and reported truthfully, requests prefer provisioned
instances, idle mode freezes them between requests and gives their GPU
memory back, target tracking scales out at once and in after the
stabilisation window, scheduled actions fire at their time, and code updates
roll without dropping below the target.

Run with:  /usr/bin/python3 -m pytest -q tests/e2e/test_provision.py --frost=build/frost
"""

import datetime
import json
import os
import time

from conftest import wait_for
from inst_helpers import (IO, frost_isolation, instance_cgroup_dirs, keyed, list_instances,
                          need_isolation, read_file)
from invoke_helpers import assert_fc_error, invoke
from test_cli_deploy import cli
from fc_helpers import Client, restart
from inst_helpers import port_range_args
from test_invoke import BASE_ARGS, box, create, held, serve  # noqa: F401 - fixtures

FAST = ["--set", "sched.scale_interval=100ms", "--set", "sched.freeze_delay=50ms"]


def gpu(mb, gpu_type="fc.gpu.tesla.1"):
    return {"gpuConfig": {"gpuMemorySize": mb, "gpuType": gpu_type}}


def put_provision(srv, fn, cfg, expect=200):
    r = srv.fc.call("PUT", "/functions/%s/provision-config" % fn, cfg)
    assert r.status == expect, r
    return r.json


def get_provision(srv, fn):
    return srv.fc.ok("GET", "/functions/%s/provision-config" % fn)


def provisioned(srv, fn, state=None):
    """Provisioned instances of fn that are not stopped (optionally in a state)."""
    out = []
    for i in list_instances(srv.fc, fn):
        if not i["kind"].startswith("provisioned") or i["status"] in ("Stopped", "Failed"):
            continue
        if state is None or i["state"] == state:
            out.append(i)
    return out


def wait_current(srv, fn, n, timeout=IO):
    def check():
        p = get_provision(srv, fn)
        return p if p["current"] == n and p["target"] == n else None

    return wait_for(check, timeout, "%s to have %d provisioned instances" % (fn, n))


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def proc_state(pid):
    st = read_file("/proc/%d/stat" % pid)
    return st[st.rindex(")") + 2]


def is_frozen(srv, inst):
    """The kernel says the instance is frozen: its cgroup (v2 cgroup.events
    frozen 1, or the v1 freezer) or, without cgroups, a stopped process."""
    if frost_isolation(srv) != "none":
        dirs = instance_cgroup_dirs(inst["pid"], inst["instanceId"])
        v2 = dirs.get("v2")
        events = os.path.join(v2, "cgroup.events") if v2 else None
        if events and os.path.exists(events) and keyed(events, "frozen") is not None:
            return keyed(events, "frozen") == "1"
        fz = dirs.get("freezer")
        if fz:
            return read_file(os.path.join(fz, "freezer.state")).strip() == "FROZEN"
    return proc_state(inst["pid"]) in "Tt"


# ------------------------------------------------------------ seed 002 walkthrough


def test_seed_002_walkthrough(serve, frost_bin, tmp_path):
    """`s provision put --target 1 --targetTrackingPolicies ./provision.json`
    with minCapacity 2: current reaches 2; `--target 0` returns once every
    provisioned instance is released."""
    srv = serve("--gpus", "sim:2x24GB", *FAST)
    create(srv, "infer", **gpu(4096))
    now = time.time()
    policy = {"targetTrackingPolicies": [{
        "name": "scaling-policy-demo", "startTime": iso(now - 86400), "endTime": iso(now + 86400),
        "metricType": "ProvisionedConcurrencyUtilization", "metricTarget": 0.3,
        "minCapacity": 2, "maxCapacity": 30}]}
    (tmp_path / "provision.json").write_text(json.dumps(policy))
    cli(frost_bin, srv, ["provision", "put", "infer", "--target", "1", "--targetTrackingPolicies",
                         "./provision.json", "--qualifier", "LATEST"], tmp_path)
    got = wait_current(srv, "infer", 2)
    assert got["targetSource"] == "targetTrackingPolicy:scaling-policy-demo", got
    assert got["currentError"] == "", got
    out = json.loads(cli(frost_bin, srv, ["provision", "list", "--json"], tmp_path).stdout)
    row = out["provisionConfigs"][0]
    assert row["target"] == 2 and row["current"] == 2, row
    assert len(provisioned(srv, "infer")) == 2
    text = cli(frost_bin, srv, ["provision", "list"], tmp_path).stdout
    assert "infer" in text and "CURRENT" in text, text

    r = cli(frost_bin, srv, ["provision", "put", "infer", "--target", "0", "--qualifier", "LATEST"],
            tmp_path)
    # It waited: nothing provisioned is left the moment it returns.
    assert provisioned(srv, "infer") == [], list_instances(srv.fc, "infer")
    assert "current 0" in r.stderr, r.stderr
    assert get_provision(srv, "infer")["current"] == 0


def test_remove_waits_and_requests_prefer_provisioned(serve, held, frost_bin, tmp_path):
    """A request goes to the provisioned instance; a second one at the same
    time (concurrency 1) gets an on-demand instance, which the keep-alive
    releases while the provisioned one stays. `provision remove` waits until
    the provisioned instance is gone."""
    srv = serve("--set", "sched.keepalive=300ms", *FAST)
    create(srv, "pref")
    put_provision(srv, "pref", {"target": 1})
    wait_current(srv, "pref", 1)
    (prov,) = provisioned(srv, "pref")
    assert prov["kind"] == "provisioned" and prov["state"] == "ready/idle", prov
    gate = held.gate("pref")
    a = held.bg(invoke, srv, "pref", b"x", headers=gate.headers("a"))
    gate.wait_started(["a"])
    assert provisioned(srv, "pref", "ready/active"), list_instances(srv.fc, "pref")
    b = held.bg(invoke, srv, "pref", b"x", headers=gate.headers("b"))
    started = gate.wait_started(["a", "b"])
    assert started["a"]["instance"] == prov["instanceId"], started
    assert started["b"]["instance"] != prov["instanceId"], started
    gate.open()
    assert a.get().status == 200 and b.get().status == 200
    wait_for(lambda: [i["instanceId"] for i in list_instances(srv.fc, "pref")
                      if i["status"] == "Running"] == [prov["instanceId"]], IO,
             "the on-demand instance to be released and the provisioned one kept")
    r = invoke(srv, "pref", b"again")
    assert r.header("x-fc-instance-id") == prov["instanceId"]

    cli(frost_bin, srv, ["provision", "remove", "pref"], tmp_path)
    assert provisioned(srv, "pref") == [], list_instances(srv.fc, "pref")
    assert srv.fc.call("GET", "/functions/pref/provision-config").status == 404


# ----------------------------------------------------------------------- idle mode


def test_idle_mode_freezes_between_requests_and_releases_gpu(serve, box):
    """alwaysAllocateGPU false: between requests the provisioned instance is
    frozen (cgroup and /proc agree) and holds no GPU memory, so an on-demand
    instance of another function can use it; a request thaws it (taking the
    memory back) and succeeds; while the memory is taken it waits instead of
    over-committing."""
    srv = serve("--gpus", "sim:1x24GB", "--set", "sched.keepalive=500ms", *FAST)
    create(srv, "idle", timeout=30, **gpu(16384))
    create(srv, "other", **gpu(16384))
    cfg = put_provision(srv, "idle", {"target": 1, "alwaysAllocateGPU": False})
    assert cfg["alwaysAllocateGPU"] is False
    wait_current(srv, "idle", 1)
    inst = wait_for(lambda: (provisioned(srv, "idle", "frozen") or [None])[0], IO,
                    "the idle provisioned instance to freeze")
    assert inst["kind"] == "provisioned-idle", inst
    assert inst["gpuMemoryMb"] == 0 and inst["frozen"] is True, inst
    assert is_frozen(srv, inst)
    assert inst["phaseMs"].get("frozen", -1) >= 0 and "ready/idle" in inst["phaseMs"], inst

    # Its 16 GB are free: the other function's 16 GB instance fits beside it.
    r = invoke(srv, "other", b"x")
    assert r.status == 200, r
    # Now the device is full: the idle function's request waits for the other
    # instance's keep-alive to end, then thaws and is served.
    t0 = time.monotonic()
    r = invoke(srv, "idle", b"hello", timeout=60)
    assert r.status == 200 and r.body == b"hello", r
    assert r.header("x-fc-instance-id") == inst["instanceId"]
    assert time.monotonic() - t0 >= 0.3, "thawed while the device was full"
    assert not [i for i in list_instances(srv.fc, "other") if i["status"] == "Running"]
    after = [i for i in list_instances(srv.fc, "idle") if i["instanceId"] == inst["instanceId"]][0]
    assert after["freezer"]["wakes"] >= 1, after
    # Idle again: frozen again, memory released again.
    again = wait_for(lambda: (provisioned(srv, "idle", "frozen") or [None])[0], IO, "refreeze")
    assert again["freezer"]["freezes"] >= 2 and again["gpuMemoryMb"] == 0, again


def test_more_idle_instances_than_fit_all_serve(serve):
    """Three 16 GB provisioned-idle instances on one 24 GB device: they can
    only exist because frozen ones hold no device memory. Each serves a
    request (wake-ups rotate to the least recently used)."""
    srv = serve("--gpus", "sim:1x24GB", *FAST)
    create(srv, "many", timeout=30, **gpu(16384))
    put_provision(srv, "many", {"target": 3, "alwaysAllocateGPU": False})
    wait_current(srv, "many", 3, timeout=90)

    def all_frozen():
        insts = provisioned(srv, "many")
        return insts if len(insts) == 3 and all(i["state"] == "frozen" for i in insts) else None

    ids = {i["instanceId"] for i in wait_for(all_frozen, 60, "three frozen instances")}
    served = set()
    for n in range(3):
        wait_for(all_frozen, IO, "every instance frozen before request %d" % n)
        r = invoke(srv, "many", b"r%d" % n, timeout=60)
        assert r.status == 200 and r.body == b"r%d" % n, r
        served.add(r.header("x-fc-instance-id"))
    assert served == ids, (served, ids)


def test_provisioned_gpu_exhausted_reports_current_error(serve):
    """Two always-allocated 16 GB instances on one 16 GB T4: current stays 1
    and currentError says why; requests still get served by the one."""
    srv = serve("--gpus", "sim:1xT4-16GB", *FAST)
    create(srv, "tight", **gpu(16384))
    put_provision(srv, "tight", {"target": 2})

    def check():
        p = get_provision(srv, "tight")
        return p if p["current"] == 1 and p["currentError"] else None

    p = wait_for(check, IO, "current 1 with an error")
    assert p["target"] == 2, p
    assert "16384 MB" in p["currentError"] and "T4" in p["currentError"], p
    assert invoke(srv, "tight", b"x").status == 200


# ------------------------------------------------------------------ autoscaling


def test_target_tracking_scales_out_then_in_after_stabilisation(serve, held):
    stab = 2.0
    srv = serve("--set", "sched.scale_window=1s", "--set", "sched.scale_in_stabilization=2s", *FAST)
    create(srv, "hpa")
    put_provision(srv, "hpa", {"targetTrackingPolicies": [{
        "name": "util", "metricType": "ProvisionedConcurrencyUtilization", "metricTarget": 0.5,
        "minCapacity": 1, "maxCapacity": 3}]})
    wait_current(srv, "hpa", 1)
    gate = held.gate("hpa")
    calls = [held.bg(invoke, srv, "hpa", b"x", headers=gate.headers("c%d" % i)) for i in range(2)]
    gate.wait_started(["c0", "c1"])
    # 2 in flight on 1 slot: utilisation 2 / 0.5 -> 4, clamped to 3.
    p = wait_current(srv, "hpa", 3)
    assert "ProvisionedConcurrencyUtilization" in p.get("scalingReason", ""), p
    gate.open()
    for c in calls:
        assert c.get().status == 200
    t_idle = time.monotonic()

    def scaled_in():
        p = get_provision(srv, "hpa")
        return p if p["target"] == 1 else None

    wait_for(scaled_in, 30, "scale in")
    waited = time.monotonic() - t_idle
    assert waited >= stab - 0.25, "scaled in after %.2f s, before the %.1f s stabilisation" % (
        waited, stab)
    wait_current(srv, "hpa", 1)


def test_scheduled_action_fires_at_its_time(serve):
    """at(...) written in Asia/Shanghai time, a few seconds ahead: the target
    stays 0 until then, and becomes 2 from then on."""
    srv = serve(*FAST)
    create(srv, "sched")
    fire = int(time.time()) + 4
    local = datetime.datetime.fromtimestamp(fire, datetime.timezone(datetime.timedelta(hours=8)))
    put_provision(srv, "sched", {"defaultTarget": 0, "scheduledActions": [{
        "name": "morning", "scheduleExpression": "at(%s)" % local.strftime("%Y-%m-%dT%H:%M:%S"),
        "timeZone": "Asia/Shanghai", "target": 2}]})

    def fired():
        p = get_provision(srv, "sched")
        if p["target"] == 2:
            return time.time()
        return None

    seen = wait_for(fired, 30, "the scheduled action")
    assert seen >= fire - 0.2, "fired %.2f s early" % (fire - seen)
    p = wait_current(srv, "sched", 2)
    assert p["targetSource"] == "scheduledAction:morning", p


def test_unknown_time_zone_is_refused(serve):
    srv = serve()
    create(srv, "tz")
    r = srv.fc.call("PUT", "/functions/tz/provision-config", {"scheduledActions": [{
        "name": "a", "scheduleExpression": "cron(0 0 8 * * *)", "timeZone": "Mars/Olympus_Mons",
        "target": 1}]})
    assert_fc_error(r, 400, "InvalidArgument")
    assert "Mars/Olympus_Mons" in r.json["Message"], r.json


# -------------------------------------------------------------------- updates


def test_code_update_rolls_without_dropping_below_target(serve):
    srv = serve(*FAST)
    create(srv, "roll", env={"REV": "1"})
    put_provision(srv, "roll", {"target": 2})
    wait_current(srv, "roll", 2)
    old = {i["instanceId"] for i in provisioned(srv, "roll")}
    srv.fc.ok("PUT", "/functions/roll", {"environmentVariables": {"REV": "2"}})
    low = 99
    deadline = time.monotonic() + 60
    while True:
        insts = provisioned(srv, "roll")
        running = [i for i in insts if i["status"] == "Running"]
        low = min(low, len(running))
        ids = {i["instanceId"] for i in running}
        if len(running) == 2 and not ids & old:
            break
        assert time.monotonic() < deadline, "the roll did not finish: %r" % insts
        time.sleep(0.02)
    assert low >= 2, "only %d provisioned instances were running during the roll" % low
    r = invoke(srv, "roll", b"x", headers=[("x-pyfn-env", "REV")])
    assert r.header("x-pyfn-env-value") == "2"


def test_scale_in_finishes_requests_in_flight(serve, held, box):
    """Target 1 -> 0 while a request runs on the provisioned instance: the
    request completes, then the instance is released (pre-stop honoured)."""
    mark = box.mark("drain-prestop")
    srv = serve(*FAST)
    create(srv, "drain", env={"PRESTOP_MARK": mark}, prestop={"handler": "pre", "timeout": 3})
    put_provision(srv, "drain", {"target": 1})
    wait_current(srv, "drain", 1)
    (inst,) = provisioned(srv, "drain")
    gate = held.gate("drain")
    call = held.bg(invoke, srv, "drain", b"x", headers=gate.headers("d"))
    gate.wait_started(["d"])
    put_provision(srv, "drain", {"target": 0})
    assert get_provision(srv, "drain")["current"] == 0
    # Still there, still busy: nothing in flight is dropped.
    still = [i for i in list_instances(srv.fc, "drain") if i["instanceId"] == inst["instanceId"]]
    assert still and still[0]["status"] == "Running" and still[0]["state"] == "ready/active", still
    gate.open()
    r = call.get()
    assert r.status == 200 and r.header("x-fc-instance-id") == inst["instanceId"], r
    wait_for(lambda: not provisioned(srv, "drain"), IO, "the instance to be released")
    assert os.path.exists(mark), "the pre-stop hook did not run"


def test_cli_always_allocate_gpu_forms(serve, frost_bin, tmp_path):
    srv = serve()
    create(srv, "forms")
    for args, want in ((["--always-allocate-gpu", "false"], False), (["--ag=true"], True),
                       (["forms", "--ag", "false"], False), (["--ag"], True)):
        argv = ["provision", "put"] + (["forms"] if args[0] != "forms" else []) + args + \
            ["--target", "0", "--json"]
        out = json.loads(cli(frost_bin, srv, argv, tmp_path).stdout)
        assert out["alwaysAllocateGPU"] is want, (args, out)
    r = cli(frost_bin, srv, ["provision", "put", "forms", "--ag", "maybe"], tmp_path, expect=2)
    assert "maybe" in r.stderr, r.stderr


def test_provisioned_instances_come_back_after_a_restart(serve, frost_factory):
    """The provision config is durable; a restarted Frost starts its
    provisioned instances again (new processes, the same target)."""
    srv = serve(*FAST)
    create(srv, "back")
    put_provision(srv, "back", {"target": 2})
    wait_current(srv, "back", 2)
    before = {i["pid"] for i in provisioned(srv, "back")}
    srv2 = restart(frost_factory, srv, *(port_range_args() + BASE_ARGS + FAST))
    srv2.fc = Client.of(srv2)
    wait_current(srv2, "back", 2)
    after = provisioned(srv2, "back")
    assert len(after) == 2 and not {i["pid"] for i in after} & before, after


def test_shutdown_while_a_checkpoint_copies(serve):
    """SIGTERM while an idle-mode instance is being checkpointed (a slow
    modelled copy): Frost waits for the copy to report back, then exits 0."""
    srv = serve("--gpus", "sim:1x24GB", "--set", "gpu.sim_bandwidth=2GB", *FAST)
    create(srv, "slowck", timeout=30, **gpu(4096))
    put_provision(srv, "slowck", {"target": 1, "alwaysAllocateGPU": False})
    wait_for(lambda: provisioned(srv, "slowck", "freezing"), IO, "the checkpoint to start")
    assert srv.stop() == 0, srv.stderr_text()[-3000:]


def test_cpu_utilization_policy_reads_the_cgroup(serve, held):
    """CPUUtilization comes from the instances' cgroups: a request burning
    CPU on the one provisioned instance (0.1 vCPU quota) puts it near 1.0,
    over the 0.5 target, so the target grows to 2."""
    srv = serve("--set", "sched.scale_window=1s", "--set", "sched.scale_in_stabilization=60s",
                *FAST)
    need_isolation(srv)  # the metric is read from cgroups
    create(srv, "burn", timeout=30)
    put_provision(srv, "burn", {"targetTrackingPolicies": [{
        "name": "cpu", "metricType": "CPUUtilization", "metricTarget": 0.5,
        "minCapacity": 1, "maxCapacity": 2}]})
    wait_current(srv, "burn", 1)
    call = held.bg(invoke, srv, "burn", b"x", headers=[("x-pyfn-spin-ms", "4000")], timeout=40)
    p = wait_current(srv, "burn", 2, timeout=30)
    assert "CPUUtilization" in p.get("scalingReason", ""), p
    assert call.get().status == 200
