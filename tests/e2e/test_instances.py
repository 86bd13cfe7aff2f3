"""The instance runtime of `frost serve` (src/runtime/), driven through the
/_test instance routes (--test-routes) and observed through the FC API
(ListInstances, instance logs), the instance itself (tests/functions/pyfn.py)
and the host (/proc, /sys/fs/cgroup).

Run with:  /usr/bin/python3 -m pytest -q tests/e2e/test_instances.py --frost=build/frost

Tests that need root and cgroups (uid drop, limits, freezer, orphan sweep)
skip elsewhere. Every wait has a deadline; nothing sleeps and hopes.
"""

import os
import signal
import socket
import stat
import threading
import time

import pytest

from conftest import wait_for
from fc_helpers import Client
from inst_helpers import (
    IO,
    Proc,
    Sandbox,
    answers,
    cgroup_dirs,
    freeze_op,
    frost_isolation,
    frost_events,
    function_uid,
    inst_json,
    inst_request,
    instance_cgroup_dirs,
    keyed,
    list_instances,
    need_isolation,
    need_root_and_cgroups,
    port_range_args,
    pyfn_function,
    read_children,
    read_file,
    start_instance,
    start_ok,
    stop_instance,
)

START_TIMEOUT = ["--set", "runtime.start_timeout=3s"]


# ------------------------------------------------------------------ fixtures


@pytest.fixture
def box():
    b = Sandbox()
    yield b
    # Runs after frost_factory stopped every frost (see serve).
    left = b.leftover_cgroups()
    b.cleanup()
    assert not left, "frost left its cgroups behind after a clean exit: %r" % left


@pytest.fixture
def serve(box, frost_factory):
    """serve(*args, env=None) -> a frost serve --test-routes on a data dir the
    function user can reach. (box is set up before frost_factory, so frost is
    stopped before the sandbox is removed.)"""

    def start(*args, env=None, data_dir=None):
        argv = port_range_args() + list(args)
        srv = frost_factory(*argv, env=env, data_dir=data_dir or box.data_dir())
        srv.fc = Client.of(srv)
        srv.argv = argv
        return srv

    return start


def create(srv, name, **kw):
    return srv.fc.create_function(pyfn_function(name, **kw))


def in_parallel(*calls):
    """Runs the calls (zero-argument functions) at once; their results in order."""
    out = [None] * len(calls)
    errs = []

    def run(i, f):
        try:
            out[i] = f()
        except BaseException as e:  # noqa: B902 - re-raised below
            errs.append(e)

    ts = [threading.Thread(target=run, args=(i, f)) for i, f in enumerate(calls)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    if errs:
        raise errs[0]
    return out


def wait_gone(procs, what):
    wait_for(lambda: not [p for p in procs if p.alive()], IO, "%s to be gone (%r)" % (what, procs))


def wait_dirs_gone(dirs, what):
    wait_for(lambda: not [d for d in dirs if os.path.exists(d)], IO,
             "the cgroup dirs of %s to be removed (%r)" % (what, dirs))


def wait_unlisted(srv, fn, iid):
    wait_for(lambda: iid not in [i["instanceId"] for i in list_instances(srv.fc, fn)], IO,
             "instance %s to leave ListInstances" % iid)


# ----------------------------------------------------------------- readiness


def test_ready_by_tcp_after_listen_delay(serve):
    """No healthCheckConfig: a TCP connect decides; a server that listens only
    after a second still becomes ready, and shows up in ListInstances."""
    srv = serve()
    create(srv, "tcp-ready", env={"LISTEN_DELAY": "1"})
    j = start_ok(srv, "tcp-ready")
    assert j["frozen"] is False and j["kind"] == "on-demand" and "error" not in j, j
    assert answers(j["port"], IO)
    listed = list_instances(srv.fc, "tcp-ready")
    assert [(i["instanceId"], i["status"], i["pid"], i["port"]) for i in listed] == \
        [(j["instanceId"], "Running", j["pid"], j["port"])], listed
    ready = frost_events(srv, "instance_ready", instance=j["instanceId"])
    assert len(ready) == 1, srv.stderr_text()[-2000:]


def test_ready_by_http_health_check(serve):
    """healthCheckConfig.httpGetUrl: the runtime probes that URL (pyfn logs
    the probe) before the instance is Ready."""
    srv = serve()
    create(srv, "http-ready", health_url="/healthz")
    j = start_ok(srv, "http-ready")
    assert answers(j["port"], IO)

    def probed():
        r = srv.fc.call("GET", "/functions/http-ready/instances/%s/logs" % j["instanceId"])
        return r.status == 200 and b'"GET /healthz HTTP/1.1" 200' in r.body

    wait_for(probed, IO, "the HTTP health check in the instance log")


def test_never_ready_fails_at_start_deadline(serve):
    """An HTTP check that answers 500, and a server that never listens: both
    fail once runtime.start_timeout passes, with an error about readiness,
    and leave nothing behind."""
    srv = serve(*START_TIMEOUT)
    create(srv, "sick", health_url="/healthz", env={"HEALTH_STATUS": "500"})
    create(srv, "mute", env={"NEVER_LISTEN": "1"})
    (st1, j1), (st2, j2) = in_parallel(lambda: start_instance(srv, "sick"),
                                       lambda: start_instance(srv, "mute"))
    for st, j, check in ((st1, j1, "HTTP"), (st2, j2, "TCP")):
        assert st == 500, (st, j)
        assert "did not become ready" in j.get("error", ""), j
        assert check in j["error"], j
        assert j["status"] in ("Failed", "Stopped"), j
    for fn, j in (("sick", j1), ("mute", j2)):
        wait_unlisted(srv, fn, j["instanceId"])
        failed = frost_events(srv, "instance_failed", instance=j["instanceId"])
        assert failed and "did not become ready" in failed[0]["reason"], srv.stderr_text()[-3000:]
    wait_for(lambda: len(srv.log_lines("instance_stopped")) >= 2, IO, "both instances stopped")


def free_port():
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def test_readiness_is_the_instances_own_listener(serve):
    """Another process that listens on the instance's port first (another
    frost's instance, any program) must not make the instance Ready: the
    function's own server cannot bind (pyfn exits with code 1) and Frost
    would otherwise send it traffic meant for this function."""
    port = free_port()
    srv = serve("--set", "runtime.port_range=%d-%d" % (port, port))
    create(srv, "late", env={"LISTEN_DELAY": "1"})
    res = {}
    t = threading.Thread(target=lambda: res.update(r=start_instance(srv, "late")))
    t.start()
    impostor = socket.socket()
    try:
        wait_for(lambda: list_instances(srv.fc, "late"), IO, "the instance to be Starting")
        impostor.bind(("0.0.0.0", port))
        impostor.listen(16)
    finally:
        t.join(IO)
        impostor.close()
    st, j = res["r"]
    assert st == 500, ("the instance was declared %s on port %d, where only another process "
                       "listened: %r" % (j.get("state"), port, j))


# ------------------------------------------------------------------ contract


def test_environment_contract(serve):
    """The FC environment, the function's variables, and nothing of Frost's
    own: FROST_* variables (known config keys or not) and the rest of frost's
    environment stay out."""
    srv = serve(env={"FROST_REGION": "cn-frosttest", "FROST_X_HARMLESS": "leak-canary",
                     "SENTINEL_FROM_FROST_ENV": "leak-canary"})
    wait_for(lambda: frost_events(srv, "config_env_ignored"), IO, "config_env_ignored")
    assert "FROST_X_HARMLESS" in frost_events(srv, "config_env_ignored")[0]["variables"]
    doc = create(srv, "envfn", memory=256, env={"MY_VAR": "hello world", "WITH_EQ": "a=b;c"})
    j = start_ok(srv, "envfn")
    env = inst_json(j["port"], "/env")
    me = inst_json(j["port"], "/whoami")
    port = str(j["port"])
    assert env["FC_SERVER_PORT"] == port and env["FC_CUSTOM_LISTEN_PORT"] == port, env
    assert env["FC_FUNCTION_NAME"] == "envfn"
    assert env["FC_INSTANCE_ID"] == j["instanceId"]
    assert env["FC_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["FC_REGION"] == "cn-frosttest"
    # acs:fc:<region>:<account>:functions/<name>
    arn = doc["functionArn"].split(":")
    assert arn[2] == "cn-frosttest", doc["functionArn"]
    assert env["FC_ACCOUNT_ID"] == arn[3], (env, doc["functionArn"])
    code = os.path.join(srv.data_dir, "code", doc["codeChecksum"])
    assert os.path.realpath(env["FC_FUNC_CODE_PATH"]) == os.path.realpath(code), env
    assert os.path.realpath(me["cwd"]) == os.path.realpath(env["FC_FUNC_CODE_PATH"]), (me, env)
    assert env["MY_VAR"] == "hello world" and env["WITH_EQ"] == "a=b;c"
    leaked = sorted(k for k in env if k.upper().startswith("FROST_"))
    assert not leaked, "FROST_ variables reached the instance: %r" % leaked
    assert "leak-canary" not in env.values(), env
    assert "SENTINEL_FROM_FROST_ENV" not in env


# ----------------------------------------------------------------- isolation


def test_runs_as_function_user_without_data_dir_access(serve):
    """As root, instances run as runtime.user in their code dir, and can read
    neither the data dir nor the logs (a readable path is the control)."""
    need_root_and_cgroups()
    srv = serve()
    logs = os.path.join(srv.data_dir, "logs")
    create(srv, "probe-data", env={"DATA_DIR_PROBE": srv.data_dir})
    create(srv, "probe-logs", env={"DATA_DIR_PROBE": logs})
    create(srv, "probe-self", env={"DATA_DIR_PROBE": "."})
    insts = in_parallel(*(lambda fn=fn: start_ok(srv, fn) for fn in ("probe-data", "probe-logs", "probe-self")))
    assert os.path.isdir(logs)
    uid = function_uid()
    for fn, j in zip(("probe-data", "probe-logs", "probe-self"), insts):
        me = inst_json(j["port"], "/whoami")
        assert me["uid"] != 0 and me["gid"] != 0, me
        assert uid is None or me["uid"] == uid, (me, uid)
        assert me["pid"] == j["pid"], "the instance's pid is the function's own (exec, no wrapper)"
        code = os.path.join(srv.data_dir, "code", srv.fc.get_function(fn)["codeChecksum"])
        assert os.path.realpath(me["cwd"]) == os.path.realpath(code), me
        assert me["data_dir_readable"] is (fn == "probe-self"), (fn, me)


def test_cgroups_and_limits(serve):
    """The instance lives in cgroups named after its id, with its memory
    limit (memorySize MiB), the pids limit and a cpu quota for its cpu."""
    need_root_and_cgroups()
    srv = serve("--set", "runtime.pids_max=77")
    need_isolation(srv)
    create(srv, "limited", memory=512, cpu=0.25)
    j = start_ok(srv, "limited")
    iid = j["instanceId"]
    lines = read_file("/proc/%d/cgroup" % j["pid"]).splitlines()
    v2 = [ln for ln in lines if ln.startswith("0::")]
    assert v2 and iid in v2[0], lines
    mine = instance_cgroup_dirs(j["pid"], iid)
    assert "v2" in mine, (mine, cgroup_dirs(j["pid"]))
    if "memory" in mine:
        limit = int(read_file(os.path.join(mine["memory"], "memory.limit_in_bytes")))
    else:
        limit = int(read_file(os.path.join(mine["v2"], "memory.max")))
    assert limit == 512 << 20, (limit, mine)
    if "pids" in mine:
        assert read_file(os.path.join(mine["pids"], "pids.max")).strip() == "77"
    elif os.path.exists(os.path.join(mine["v2"], "pids.max")):
        assert read_file(os.path.join(mine["v2"], "pids.max")).strip() == "77"
    cpu = next((d for k, d in mine.items() if "cpu" in k.split(",")), None)
    if cpu:
        quota = int(read_file(os.path.join(cpu, "cpu.cfs_quota_us")))
        period = int(read_file(os.path.join(cpu, "cpu.cfs_period_us")))
        assert quota * 4 == period, (quota, period)
    elif os.path.exists(os.path.join(mine["v2"], "cpu.max")):
        quota, period = read_file(os.path.join(mine["v2"], "cpu.max")).split()
        assert int(quota) * 4 == int(period), (quota, period)
    # Everything the instance runs is in there: the group's procs is its pid.
    procs = read_file(os.path.join(mine["v2"], "cgroup.procs")).split()
    assert procs == [str(j["pid"])], procs


def test_oom_kill_is_reported(serve):
    """Allocating past memorySize gets the instance OOM-killed: frost reports
    it failed with an OOM error, then it is stopped and gone."""
    need_root_and_cgroups()
    srv = serve()
    need_isolation(srv)
    create(srv, "hog", memory=128)
    j = start_ok(srv, "hog")
    iid, proc = j["instanceId"], Proc(j["pid"])
    dirs = list(instance_cgroup_dirs(j["pid"], iid).values())
    seen = []
    try:
        st, body = inst_request(j["port"], "POST", "/alloc?mb=400", timeout=IO)
        pytest.fail("the instance allocated 400 MiB with a 128 MiB limit: %d %r" % (st, body))
    except (ConnectionError, socket.timeout, TimeoutError, OSError) as e:
        assert not isinstance(e, (socket.timeout, TimeoutError)), "the allocation hung: %r" % e

    # Whatever is still observable: a Failed entry in ListInstances, or the
    # answer to a stop of an instance that is already failing.
    for i in list_instances(srv.fc, "hog"):
        seen.append(i)
    st, stopped = stop_instance(srv, iid)
    assert st in (200, 404), (st, stopped)
    if st == 200:
        assert stopped["status"] == "Stopped" and "OOM" in stopped.get("error", ""), stopped
    for i in seen:
        if i["status"] == "Failed":
            assert "OOM" in i.get("error", ""), i

    def failed():
        ev = frost_events(srv, "instance_failed", instance=iid)
        return ev[0] if ev else None

    ev = wait_for(failed, IO, "instance_failed for %s" % iid)
    assert "OOM" in ev["reason"] and "128" in ev["reason"], ev
    wait_unlisted(srv, "hog", iid)
    wait_gone([proc], "the OOM-killed instance")
    wait_dirs_gone(dirs, iid)


# --------------------------------------------------------------- initializer


def test_initializer_called_once(serve, box):
    mark = box.mark("init-ok")
    srv = serve()
    create(srv, "init-ok", env={"INIT_MARK": mark}, init={"handler": "init", "timeout": 2})
    j = start_ok(srv, "init-ok")
    lines = read_file(mark).splitlines()
    assert len(lines) == 1 and lines[0].strip(), lines
    assert answers(j["port"], IO)


@pytest.mark.parametrize("env,expect", [
    ({"INIT_STATUS": "500"}, "initializer returned 500"),
    ({"INIT_SLEEP": "5"}, "timed out"),
], ids=["status-500", "timeout"])
def test_initializer_failure(serve, env, expect):
    srv = serve()
    create(srv, "init-bad", env=env, init={"handler": "init", "timeout": 2})
    st, j = start_instance(srv, "init-bad")
    assert st == 500 and expect in j.get("error", ""), (st, j)
    if "timed out" in expect:
        assert "initializer" in j["error"], j
    wait_unlisted(srv, "init-bad", j["instanceId"])
    wait_for(lambda: frost_events(srv, "instance_stopped", instance=j["instanceId"]), IO,
             "instance_stopped for the failed instance")


# ---------------------------------------------------------------------- stop


def test_stop_calls_prestop(serve, box):
    mark = box.mark("prestop")
    srv = serve()
    create(srv, "ps", env={"PRESTOP_MARK": mark}, prestop={"handler": "pre", "timeout": 3})
    j = start_ok(srv, "ps")
    proc = Proc(j["pid"])
    st, out = stop_instance(srv, j["instanceId"])
    assert st == 200 and out["status"] == "Stopped", (st, out)
    assert read_file(mark).strip(), "pre-stop wrote no request id"
    assert not proc.alive()
    assert list_instances(srv.fc, "ps") == []


def test_stop_bounded_when_prestop_hangs(serve, box):
    """A pre-stop hook that outlives its timeout does not hold the stop: the
    answer comes before the hook would have finished (10 s), and the hook
    never got to write its mark."""
    mark = box.mark("prestop-slow")
    srv = serve()
    create(srv, "ps-slow", env={"PRESTOP_MARK": mark, "PRESTOP_SLEEP": "10"},
           prestop={"handler": "pre", "timeout": 1})
    j = start_ok(srv, "ps-slow")
    iid, proc = j["instanceId"], Proc(j["pid"])
    stop = {}
    t = threading.Thread(target=lambda: stop.update(r=stop_instance(srv, iid, timeout=9)))
    t.start()
    try:
        # While pre-stop runs: Stopping, a second stop is refused, so is a freeze.
        wait_for(lambda: [i for i in list_instances(srv.fc, "ps-slow") if i["status"] == "Stopping"],
                 IO, "ListInstances to show %s Stopping" % iid)
        st2, second = stop_instance(srv, iid)
        assert st2 == 409, (st2, second)
        st3, fz = freeze_op(srv, iid, "freeze")
        assert st3 == 409 and fz["frozen"] is False, (st3, fz)
    finally:
        t.join(15)
    st, out = stop["r"]
    assert st == 200 and out["status"] == "Stopped", (st, out)
    assert not proc.alive()
    assert not os.path.exists(mark)
    wait_for(lambda: frost_events(srv, "instance_prestop_failed", instance=j["instanceId"]), IO,
             "instance_prestop_failed")


def test_stop_kills_what_ignores_sigterm(serve):
    srv = serve("--set", "runtime.stop_grace=1s")
    create(srv, "stubborn", env={"IGNORE_SIGTERM": "1"})
    j = start_ok(srv, "stubborn")
    proc = Proc(j["pid"])
    st, out = stop_instance(srv, j["instanceId"])
    assert st == 200 and out["status"] == "Stopped", (st, out)
    assert not proc.alive()
    assert frost_events(srv, "instance_kill", instance=j["instanceId"]), srv.stderr_text()[-2000:]


def test_stop_kills_forked_children(serve, box):
    kids_file = box.mark("kids")
    srv = serve()
    create(srv, "forker", env={"FORK_CHILDREN": "3", "CHILDREN_FILE": kids_file})
    j = start_ok(srv, "forker")
    kids = [Proc(p) for p in read_children(kids_file, 3)]
    main = Proc(j["pid"])
    dirs = []
    if os.geteuid() == 0:
        dirs = list(instance_cgroup_dirs(j["pid"], j["instanceId"]).values())
        for k in kids:
            assert j["instanceId"] in read_file("/proc/%d/cgroup" % k.pid)
    st, out = stop_instance(srv, j["instanceId"])
    assert st == 200, (st, out)
    if dirs:
        # With cgroups the stop ends only once the group is empty.
        alive = [p for p in kids + [main] if p.alive()]
        assert not alive, "processes outlived the stop: %r" % alive
    else:
        # Without, frost signals the session's process group and cannot count
        # it: the children die just after.
        wait_gone(kids + [main], "the instance's processes")
    wait_dirs_gone(dirs, j["instanceId"])


def test_stop_while_starting(serve):
    """A stop of an instance that is not ready yet, issued as soon as it is
    listed: the start answers 500 with the instance Stopped, the stop 200,
    nothing is left, and the instance got its SIGTERM (pyfn exits on it at
    once), so the stop did not have to wait out the stop grace and kill."""
    srv = serve("--set", "runtime.stop_grace=3s")
    create(srv, "slowpoke", env={"NEVER_LISTEN": "1"})
    started = {}
    t = threading.Thread(target=lambda: started.update(r=start_instance(srv, "slowpoke")))
    t.start()
    try:
        starting = wait_for(lambda: [i for i in list_instances(srv.fc, "slowpoke") if i["status"] == "Starting"],
                            IO, "a Starting instance in ListInstances")[0]
        iid, proc = starting["instanceId"], Proc(starting["pid"])
        st, out = stop_instance(srv, iid)
    finally:
        t.join(IO)
    assert st == 200 and out["status"] == "Stopped", (st, out)
    st, j = started["r"]
    assert st == 500 and j["instanceId"] == iid and j["status"] == "Stopped", (st, j)
    assert not proc.alive()
    assert list_instances(srv.fc, "slowpoke") == []
    log = srv.fc.call("GET", "/functions/slowpoke/instances/%s/logs" % iid).body.decode()
    killed = frost_events(srv, "instance_kill", instance=iid)
    assert not killed, ("SIGTERM was lost: the instance ran on and was killed at the stop grace; "
                        "instance log: %r" % log)


@pytest.mark.parametrize("command,expect,log", [
    (["no-such-command-frost-test"], "command not found", "frost-exec: exec no-such-command-frost-test"),
    (["python3", "no-such-script.py"], "exited with code 2", "no-such-script.py"),
], ids=["not-found", "exits-at-once"])
def test_start_fails_fast_when_the_command_does(serve, command, expect, log):
    """A command that cannot run fails the start at once (not at the start
    deadline), says why, and its output is in the instance log. (frost's PATH
    is the instance's: it is set to dirs the function user can search, else
    execvp reports EACCES for a missing command.)"""
    srv = serve(env={"PATH": "/usr/local/bin:/usr/bin:/bin"})
    create(srv, "broken", customRuntimeConfig={"command": command})
    st, j = start_instance(srv, "broken")
    assert st == 500 and expect in j.get("error", ""), (st, j)
    r = srv.fc.call("GET", "/functions/broken/instances/%s/logs" % j["instanceId"])
    assert r.status == 200 and log.encode() in r.body, r
    wait_unlisted(srv, "broken", j["instanceId"])
    st, j = start_instance(srv, "no-such-function")
    assert st == 404, (st, j)


def test_unreachable_code_dir_is_diagnosed(frost_factory, tmp_path):
    """A data dir below a directory the function user cannot enter (pytest's
    own tmp dirs are 0700): the instance cannot chdir to its code, and the
    start says so instead of hanging (exec.h: "frost-exec: <step>")."""
    need_root_and_cgroups()
    os.chmod(str(tmp_path), 0o700)
    srv = frost_factory(*port_range_args(), data_dir=str(tmp_path / "data"))
    srv.fc = Client.of(srv)
    create(srv, "lost")
    st, j = start_instance(srv, "lost")
    assert st == 500 and "could not be started" in j.get("error", ""), (st, j)
    r = srv.fc.call("GET", "/functions/lost/instances/%s/logs" % j["instanceId"])
    assert b"frost-exec: chdir" in r.body, r


# --------------------------------------------------------------- freeze/thaw


def proc_state(pid):
    st = read_file("/proc/%d/stat" % pid)
    return st[st.rindex(")") + 2]


def test_freeze_and_thaw(serve, box):
    """Freezing stops the instance answering (cgroup freezer: cgroup.events
    says frozen 1; without cgroups the process is SIGSTOPped), thawing brings
    it back, the counters count, and a frozen instance can still be stopped,
    its pre-stop hook included."""
    mark = box.mark("icy-prestop")
    srv = serve()
    create(srv, "icy", env={"PRESTOP_MARK": mark}, prestop={"handler": "pre", "timeout": 3})
    j = start_ok(srv, "icy")
    iid, port = j["instanceId"], j["port"]
    events = None
    v2 = None
    if frost_isolation(srv) != "none":
        v2 = instance_cgroup_dirs(j["pid"], iid).get("v2")
        events = os.path.join(v2, "cgroup.events") if v2 else None
        if not (events and os.path.exists(events) and keyed(events, "frozen") is not None):
            events = None  # frozen through the v1 freezer
    if events:
        assert keyed(events, "frozen") == "0"

    st, fz = freeze_op(srv, iid, "freeze")
    assert st == 200 and fz["frozen"] is True and fz["result"] == 0, (st, fz)
    assert fz["freezer"]["freezes"] == 1, fz
    if events:
        assert keyed(events, "frozen") == "1"
    else:
        assert proc_state(j["pid"]) in "Tt", proc_state(j["pid"])
    assert not answers(port, 1.0), "a frozen instance answered"
    listed = list_instances(srv.fc, "icy")
    assert listed[0]["frozen"] is True and listed[0]["status"] == "Running", listed
    st, again = freeze_op(srv, iid, "freeze")
    assert st == 200 and again["frozen"] is True and again["freezer"]["freezes"] == 1, (st, again)

    st, th = freeze_op(srv, iid, "thaw")
    assert st == 200 and th["frozen"] is False, (st, th)
    assert th["freezer"]["freezes"] == 1 and th["freezer"]["thaws"] == 1, th
    if events:
        assert keyed(events, "frozen") == "0"
    assert answers(port, IO)

    # Frozen again, then stopped: the stop thaws it for pre-stop and completes.
    st, fz = freeze_op(srv, iid, "freeze")
    assert st == 200 and fz["frozen"] is True and fz["freezer"]["freezes"] == 2, (st, fz)
    proc = Proc(j["pid"])
    st, out = stop_instance(srv, iid)
    assert st == 200 and out["status"] == "Stopped", (st, out)
    assert read_file(mark).strip(), "pre-stop of a frozen instance was not called"
    assert not proc.alive()
    if v2:
        wait_dirs_gone([v2], iid)
    st, gone = freeze_op(srv, iid, "thaw")
    assert st == 404, (st, gone)


# ---------------------------------------------------------------------- logs


def test_instance_logs_tail_and_modes(serve):
    srv = serve()
    create(srv, "chatty")
    j = start_ok(srv, "chatty")
    iid = j["instanceId"]
    for k in range(8):
        assert inst_request(j["port"], "GET", "/line-%d" % k)[0] == 200

    def tail():
        r = srv.fc.call("GET", "/functions/chatty/instances/%s/logs" % iid, query={"tail": 5})
        assert r.status == 200, r
        return r.body.decode() if "/line-7" in r.body.decode() else None

    text = wait_for(tail, IO, "the last request in the instance log")
    lines = text.splitlines()
    assert 0 < len(lines) <= 5, lines
    assert all(ln.startswith("pyfn[%d]: " % j["pid"]) for ln in lines), lines

    logs = os.path.join(srv.data_dir, "logs")
    fdir = os.path.join(logs, "chatty")
    for d in (logs, fdir):
        assert stat.S_IMODE(os.stat(d).st_mode) == 0o700, d
    files = os.listdir(fdir)
    assert iid + ".log" in files, files
    for f in files:
        assert stat.S_IMODE(os.stat(os.path.join(fdir, f)).st_mode) == 0o600, f

    # The log outlives the instance.
    assert stop_instance(srv, iid)[0] == 200
    r = srv.fc.call("GET", "/functions/chatty/instances/%s/logs" % iid, query={"tail": 100})
    assert r.status == 200 and b"listening on" in r.body, r
    r = srv.fc.call("GET", "/functions/chatty/instances/c-no-such-instance/logs")
    assert r.status == 404, r


# ------------------------------------------------------------------- failure


def test_instance_exit_is_a_failure(serve):
    srv = serve()
    create(srv, "quitter")
    j = start_ok(srv, "quitter")
    iid = j["instanceId"]
    with pytest.raises((ConnectionError, OSError)):
        inst_request(j["port"], "POST", "/exit?code=7")

    def failed():
        ev = frost_events(srv, "instance_failed", instance=iid)
        return ev[0] if ev else None

    ev = wait_for(failed, IO, "instance_failed for %s" % iid)
    assert "exited with code 7" in ev["reason"], ev

    def unlisted_or_failed():
        li = [i for i in list_instances(srv.fc, "quitter") if i["instanceId"] == iid]
        return not li or (li[0]["status"] == "Failed" and "exited with code 7" in li[0].get("error", ""))

    wait_for(unlisted_or_failed, IO, "ListInstances to drop (or fail) %s" % iid)
    wait_unlisted(srv, "quitter", iid)
    r = srv.fc.call("GET", "/functions/quitter/instances/%s/logs" % iid)
    assert b"exiting with 7" in r.body, r


# ------------------------------------------------------------- crash safety


def _kill_leftovers(procs):
    for p in procs:
        if p.alive():
            try:
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_crash_then_restart_stops_orphans(serve, frost_factory, box):
    """frost killed with SIGKILL leaves instances behind (children at least);
    the next frost on the same data dir finds them by their cgroups and stops
    them all before serving."""
    need_root_and_cgroups()
    kids_file = box.mark("crash-kids")
    srv = serve()
    need_isolation(srv)
    create(srv, "solo")
    create(srv, "family", env={"FORK_CHILDREN": "2", "CHILDREN_FILE": kids_file})
    a, b = in_parallel(lambda: start_ok(srv, "solo"), lambda: start_ok(srv, "family"))
    kids = [Proc(p) for p in read_children(kids_file, 2)]
    mains = [Proc(a["pid"]), Proc(b["pid"])]
    dirs = list(instance_cgroup_dirs(a["pid"], a["instanceId"]).values()) + \
        list(instance_cgroup_dirs(b["pid"], b["instanceId"]).values())
    assert dirs
    try:
        srv.expected_exit = -signal.SIGKILL
        srv.proc.send_signal(signal.SIGKILL)
        srv.wait_exit()
        survivors = [p for p in mains + kids if p.alive()]
        print("alive right after frost was killed: %r (of %r)" % (survivors, mains + kids))

        try:
            os.unlink(srv.addr_path)
        except FileNotFoundError:
            pass
        srv2 = frost_factory(*srv.argv, data_dir=srv.data_dir)
        srv2.fc = Client.of(srv2)
        wait_gone(mains + kids, "the instances of the killed frost")
        wait_dirs_gone(dirs, "the orphaned instances")
        swept = frost_events(srv2, "instances_recovered") + frost_events(srv2, "instance_orphan_stopped")
        assert swept, srv2.stderr_text()[-3000:]
        stopped = {e["instance"] for e in frost_events(srv2, "instance_orphan_stopped")}
        assert {a["instanceId"], b["instanceId"]} <= stopped, stopped
        assert list_instances(srv2.fc, "solo") == [] and list_instances(srv2.fc, "family") == []
        # The restarted frost runs instances as before.
        assert answers(start_ok(srv2, "solo")["port"], IO)
    finally:
        _kill_leftovers(mains + kids)


def test_crash_kills_the_direct_child(serve, frost_factory):
    """exec.h: __exec asks to be killed with its parent (PR_SET_PDEATHSIG),
    so the instance's own process dies with a SIGKILLed frost, without
    waiting for a restart."""
    srv = serve()
    create(srv, "orphan")
    j = start_ok(srv, "orphan")
    main = Proc(j["pid"])
    try:
        srv.expected_exit = -signal.SIGKILL
        srv.proc.send_signal(signal.SIGKILL)
        srv.wait_exit()
        wait_for(lambda: not main.alive(), 10, "the instance process %r to die with frost (PDEATHSIG)" % main)
    finally:
        _kill_leftovers([main])
        # A restart sweeps whatever the crash left (cgroups included).
        try:
            os.unlink(srv.addr_path)
        except FileNotFoundError:
            pass
        frost_factory(*srv.argv, data_dir=srv.data_dir)


def test_second_frost_leaves_first_alone(serve):
    """Two frosts on one host (different data dirs) never sweep each other's
    instances: their cgroups are named after the data dir."""
    need_root_and_cgroups()
    srv1 = serve()
    need_isolation(srv1)
    create(srv1, "first")
    j = start_ok(srv1, "first")
    proc = Proc(j["pid"])
    srv2 = serve()
    wait_for(lambda: srv2.log_lines("runtime_ready"), IO, "the second frost's runtime")
    assert not frost_events(srv2, "instances_recovered") and not frost_events(srv2, "instance_orphan_stopped")
    assert proc.alive() and answers(j["port"], IO)
    assert [i["instanceId"] for i in list_instances(srv1.fc, "first")] == [j["instanceId"]]


def test_instance_ids_unique_across_restarts(serve, frost_factory):
    """An instance id names one instance: its log file, its cgroups, its
    ListInstances entry. A frost restarted on the same data dir must not hand
    out an id an earlier run used (here: an instance started right after a
    restart within the same wall-clock second)."""
    srv = serve()
    create(srv, "idfn", env={"NEVER_LISTEN": "1"})

    def one_id(s):
        """Starts an instance, reads its id while it is Starting, stops it
        once pyfn runs (its log says so)."""
        res = {}
        t = threading.Thread(target=lambda: res.update(r=start_instance(s, "idfn")))
        t.start()
        try:
            inst = wait_for(lambda: list_instances(s.fc, "idfn"), IO, "an instance of idfn in ListInstances")[0]
            iid, ran = inst["instanceId"], b"pyfn[%d]: never listening" % inst["pid"]
            logs = "/functions/idfn/instances/%s/logs" % iid
            wait_for(lambda: ran in s.fc.call("GET", logs).body, IO, "pyfn to run")
            assert stop_instance(s, iid)[0] == 200
        finally:
            t.join(IO)
        assert res["r"][0] == 500 and res["r"][1]["status"] == "Stopped", res
        return iid

    # Early in a second, so that the restart below very likely stays in it
    # (the assertion holds either way; the bug only shows within one second).
    wait_for(lambda: time.time() % 1.0 < 0.2, 3, "the start of a wall-clock second")
    first = one_id(srv)
    assert srv.stop() == 0
    srv2 = frost_factory(*srv.argv, data_dir=srv.data_dir)
    srv2.fc = Client.of(srv2)
    second = one_id(srv2)
    assert second != first, "instance id %s given out again after a restart" % first
