"""Helpers for the instance runtime end-to-end tests (test_instances.py):
the pyfn test function as an FC custom-runtime function, the /_test instance
routes, talking to an instance directly, and looking at its processes and
cgroups from the outside (/proc, /sys/fs/cgroup).

stdlib + pytest only.
"""

import http.client
import json
import os
import pwd
import random
import shutil
import socket
import tempfile

import pytest

from conftest import REPO_ROOT, wait_for
from fc_helpers import b64, make_zip

PYFN = os.path.join(REPO_ROOT, "tests", "functions", "pyfn.py")
IO = 20.0  # deadline for one answer that should come promptly


# --------------------------------------------------------------- environment


def cgroups_writable():
    return os.path.isdir("/sys/fs/cgroup") and os.access("/sys/fs/cgroup", os.W_OK)


def need_root_and_cgroups():
    """Skips the calling test unless we are root on a host with writable cgroups."""
    if os.geteuid() != 0:
        pytest.skip("needs root (instances drop to runtime.user and get cgroups only as root)")
    if not cgroups_writable():
        pytest.skip("needs a writable /sys/fs/cgroup")


def frost_isolation(srv):
    """What the running frost says it got: runtime_ready isolation=... ("none",
    "hybrid cgroups"…)."""
    ready = wait_for(lambda: srv.log_lines("runtime_ready"), IO, "runtime_ready in frost's log")
    return ready[-1].get("isolation", "none")


def need_isolation(srv):
    """Skips unless the running frost says it got cgroups."""
    need_root_and_cgroups()
    iso = frost_isolation(srv)
    if iso == "none":
        pytest.skip("frost found no usable cgroups on this host (isolation=none)")
    return iso


def function_uid():
    """The uid instances run as when frost runs as root: runtime.user
    (frost-fn), else nobody, as frost falls back."""
    for name in ("frost-fn", "nobody"):
        try:
            return pwd.getpwnam(name).pw_uid
        except KeyError:
            pass
    return None


class Sandbox:
    """A directory tree the function user can reach: frost's data dir must
    sit below world-traversable dirs (pytest's tmp_path is under a 0700 dir,
    so a dropped instance could not even chdir into its code), and the
    instances write marks into a world-writable dir."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="frost-inst-")
        os.chmod(self.root, 0o711)
        self.marks = os.path.join(self.root, "marks")
        os.mkdir(self.marks)
        os.chmod(self.marks, 0o1777)
        self.n = 0

    def data_dir(self):
        self.n += 1
        return os.path.join(self.root, "data%d" % self.n)

    def leftover_cgroups(self):
        """Frost's parent cgroups ("frost-<tag>", one per data dir, below
        our own groups) that still exist: none may once every frost using
        this sandbox has exited cleanly."""
        try:
            ours = cgroup_dirs(os.getpid()).values()
        except OSError:
            return []
        out = []
        for k in range(1, self.n + 1):
            name = cgroup_parent_name(os.path.join(self.root, "data%d" % k))
            out += [os.path.join(d, name) for d in ours if os.path.isdir(os.path.join(d, name))]
        return out

    def mark(self, name):
        return os.path.join(self.marks, name)

    def cleanup(self):
        shutil.rmtree(self.root, ignore_errors=True)


def port_range_args(width=64):
    """A runtime.port_range of `width` ports at a random start (any port, not
    a multiple of the width: concurrent frosts then almost never begin at the
    same port) between frost's default range and the ephemeral ports.
    Frost checks that a port is free when it picks it, but an instance of
    another frost that binds it between that check and our instance's own
    bind would answer our readiness probes (see test_instances.py)."""
    first = random.randrange(22000, 32700 - width)
    return ["--set", "runtime.port_range=%d-%d" % (first, first + width - 1)]


# --------------------------------------------------------------- the function


def cgroup_parent_name(data_dir):
    """The name of frost's parent cgroups for a data dir: "frost-" and the
    32-bit FNV-1a of its real path (src/runtime/instance.c, rt_new)."""
    h = 2166136261
    for c in os.path.realpath(data_dir).encode():
        h = ((h ^ c) * 16777619) & 0xFFFFFFFF
    return "frost-%08x" % h


def pyfn_zip():
    with open(PYFN, "rb") as f:
        return make_zip([("pyfn.py", f.read(), 0o755)])


def pyfn_function(name, env=None, memory=128, health_url=None, init=None, prestop=None, **extra):
    """A custom.debian12 function running pyfn.py. init / prestop: hook dicts
    ({"handler": ..., "timeout": ...}) for instanceLifecycleConfig."""
    crc = {"command": ["python3", "pyfn.py"]}
    if health_url:
        crc["healthCheckConfig"] = {"httpGetUrl": health_url}
    doc = {
        "functionName": name,
        "runtime": "custom.debian12",
        "handler": "index.handler",
        "memorySize": memory,
        "customRuntimeConfig": crc,
        "code": {"zipFile": b64(pyfn_zip())},
        "environmentVariables": dict(env or {}),
    }
    lc = {}
    if init:
        lc["initializer"] = init
    if prestop:
        lc["preStop"] = prestop
    if lc:
        doc["instanceLifecycleConfig"] = lc
    doc.update(extra)
    return doc


# ------------------------------------------------------------ /_test routes


def start_instance(srv, fn, timeout=IO):
    """POST /_test/functions/{fn}/instances: (status, json). 200 when Ready,
    500 + {"error"} when the instance failed."""
    r = srv.request("POST", "/_test/functions/%s/instances" % fn, body=b"", timeout=timeout)
    return r.status, r.json()


def start_ok(srv, fn, timeout=IO):
    st, j = start_instance(srv, fn, timeout)
    assert st == 200, "instance of %s did not start: %d %r\nfrost log:\n%s" % (
        fn, st, j, srv.stderr_text()[-3000:])
    assert j["status"] == "Running" and j["pid"] > 0 and j["port"] > 0, j
    return j


def stop_instance(srv, iid, timeout=IO):
    """DELETE /_test/instances/{id}: (status, json); 200 once it is gone."""
    r = srv.request("DELETE", "/_test/instances/%s" % iid, timeout=timeout)
    return r.status, r.json()


def freeze_op(srv, iid, op, timeout=IO):
    r = srv.request("POST", "/_test/instances/%s/%s" % (iid, op), body=b"", timeout=timeout)
    return r.status, r.json()


def list_instances(fc, fn):
    return fc.ok("GET", "/functions/%s/instances" % fn)["instances"]


# ------------------------------------------------------- the instance itself


def inst_request(port, method, path, timeout=IO, body=None):
    """One request straight to an instance: (status, bytes). Raises on
    timeouts and broken connections."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=body if body is not None else (b"" if method == "POST" else None))
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def inst_json(port, path, timeout=IO):
    st, body = inst_request(port, "GET", path, timeout)
    assert st == 200, (path, st, body)
    return json.loads(body)


def answers(port, timeout):
    """True when the instance answers GET / within timeout, False on a timeout."""
    try:
        st, _ = inst_request(port, "GET", "/", timeout=timeout)
        return st == 200
    except (socket.timeout, TimeoutError):
        return False


# ------------------------------------------------------------- /proc, cgroups


def proc_starttime(pid):
    """Field 22 of /proc/PID/stat (start time in ticks), None if gone or a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    rest = s[s.rindex(")") + 2:].split()
    if rest[0] in ("Z", "X"):
        return None
    return rest[19]


class Proc:
    """A process remembered by pid and start time, so pid reuse is not
    mistaken for survival."""

    def __init__(self, pid):
        self.pid = pid
        self.start = proc_starttime(pid)
        assert self.start is not None, "process %d does not exist" % pid

    def alive(self):
        st = proc_starttime(self.pid)
        return st is not None and st == self.start

    def __repr__(self):
        return "<pid %d>" % self.pid


def read_children(path, n):
    """The pids pyfn wrote to CHILDREN_FILE, once all n are there."""

    def read():
        try:
            with open(path) as f:
                pids = [int(x) for x in f.read().split()]
        except (FileNotFoundError, ValueError):
            return None
        return pids if len(pids) == n else None

    return wait_for(read, IO, "%d pids in %s" % (n, path))


def _cgroup_mounts():
    """[(fstype, superopts set, root, mountpoint)] of the cgroup mounts."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            a, b = pre.split(), post.split()
            if b and b[0] in ("cgroup", "cgroup2"):
                out.append((b[0], set(b[2].split(",")) if len(b) > 2 else set(), a[3], a[4]))
    return out


def cgroup_dirs(pid):
    """{hierarchy: directory} of pid's cgroups: "v2" for the unified tree,
    else the v1 controller list ("memory", "cpu", "name=systemd"…)."""
    with open("/proc/%d/cgroup" % pid) as f:
        lines = f.read().splitlines()
    mounts = _cgroup_mounts()
    out = {}
    for line in lines:
        hid, ctrls, path = line.split(":", 2)
        if hid == "0" and ctrls == "":
            key, cands = "v2", [m for m in mounts if m[0] == "cgroup2"]
        else:
            want = set(ctrls.split(","))
            key, cands = ctrls, [m for m in mounts if m[0] == "cgroup" and want <= m[1]]
        for _, _, root, mp in cands:
            rel = path
            if root != "/" and (path == root or path.startswith(root + "/")):
                rel = path[len(root):]
            d = os.path.normpath(mp + "/" + rel)
            if os.path.isdir(d):
                out[key] = d
                break
    return out


def instance_cgroup_dirs(pid, iid):
    """The cgroup dirs of pid that belong to instance iid (named after it)."""
    return {k: d for k, d in cgroup_dirs(pid).items() if os.path.basename(d) == iid}


def read_file(path):
    with open(path) as f:
        return f.read()


def keyed(path, key):
    """The value of `key` in a flat keyed cgroup file (cgroup.events…)."""
    for line in read_file(path).splitlines():
        k, _, v = line.partition(" ")
        if k == key:
            return v.strip()
    return None


def frost_events(srv, event, **match):
    """frost's log lines of one event whose fields contain match's values."""
    return [kv for kv in srv.log_lines(event) if all(v in kv.get(k, "") for k, v in match.items())]
