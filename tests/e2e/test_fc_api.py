"""The FC 3.0 management API of `frost serve` (/2023-03-30/): functions, code
packages, provision / async-invoke / concurrency configs, triggers, signed
requests, durability across restarts and crashes.

Every answer is checked for x-fc-request-id (and errors for a JSON body whose
RequestId matches it) by fc_helpers.Client.
"""

import base64
import datetime
import hashlib
import http.client
import json
import os
import signal
import stat
import threading

import pytest

from conftest import run_frost, wait_for
from fc_helpers import (
    FC,
    Client,
    b64,
    container_function,
    make_zip,
    restart,
    sign_headers,
)

KEY_ID = "LTAIexampleKeyId"
KEY_SECRET = "exampleSecret0123456789"
AUTH_KEYS = "auth.keys=%s:%s" % (KEY_ID, KEY_SECRET)
CAPTURES = "/work/shared/fc-sdk-captures/requests.jsonl"
# Two of the captured SDK requests (/work/shared/fc-sdk-captures/requests.jsonl,
# ListFunctions and CreateFunction), kept here so the test runs where that
# folder is absent.
EMBEDDED_CAPTURES = [
    '{"method": "GET", "target": "/2023-03-30/functions?limit=10&prefix=gpu-", "headers": [["host", "127.0.0.1:18999"], ["x-acs-version", "2023-03-30"], ["x-acs-action", "ListFunctions"], ["user-agent", "AlibabaCloud (linux; x64) Node.js/v20.20.2 Core/1.0.1 TeaDSL/2"], ["x-acs-date", "2026-11-22T03:45:24Z"], ["x-acs-signature-nonce", "2eb067a046eb59d55cbad246961838af8093e3f24198489530f71151c0de832b"], ["accept", "application/json"], ["x-acs-content-sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"], ["x-acs-credentials-provider", "static_ak"], ["Authorization", "ACS3-HMAC-SHA256 Credential=LTAIexampleKeyId,SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=1a65db4bc30523fd5dd4c0a7389b8c3acf8595024086eba7ec73e6d69f6f4794"], ["Connection", "keep-alive"]], "body_base64": ""}',
    '{"method": "POST", "target": "/2023-03-30/functions", "headers": [["host", "127.0.0.1:18999"], ["x-acs-version", "2023-03-30"], ["x-acs-action", "CreateFunction"], ["user-agent", "AlibabaCloud (linux; x64) Node.js/v20.20.2 Core/1.0.1 TeaDSL/2"], ["x-acs-date", "2026-11-22T03:45:25Z"], ["x-acs-signature-nonce", "a6807cf88ee534eb67420ccf577efbcc12c5d7bc258756d377b365a1dc8099f0"], ["accept", "application/json"], ["content-type", "application/json; charset=utf-8"], ["x-acs-content-sha256", "744d83f7b98d196b477f3fe3fb7deb2a59a9366a389d3507496e8280c947a332"], ["x-acs-credentials-provider", "static_ak"], ["Authorization", "ACS3-HMAC-SHA256 Credential=LTAIexampleKeyId,SignedHeaders=content-type;host;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=a1e0f2e5f7f7c57d4c8fe44f0c0cf62c150634268b9e4cde638fb27c624789aa"], ["Connection", "keep-alive"], ["Transfer-Encoding", "chunked"]], "body_base64": "eyJjcHUiOjIsImN1c3RvbUNvbnRhaW5lckNvbmZpZyI6eyJpbWFnZSI6InJlZ2lzdHJ5LmV4YW1wbGUvbnMvcGFkZGxlLXBvcm4tZGV0ZWN0aW9uOnYxIiwicG9ydCI6OTAwMH0sImVudmlyb25tZW50VmFyaWFibGVzIjp7IkZDR1BVX1JVTlRJTUVfU0hNU0laRSI6Ijg1ODk5MzQ1OTIifSwiZnVuY3Rpb25OYW1lIjoiZ3B1LXBvcm4tZGV0ZWN0aW9uIiwiZ3B1Q29uZmlnIjp7ImdwdU1lbW9yeVNpemUiOjgxOTIsImdwdVR5cGUiOiJmYy5ncHUudGVzbGEuMSJ9LCJpbnN0YW5jZUNvbmN1cnJlbmN5IjoxLCJtZW1vcnlTaXplIjo4MTkyLCJydW50aW1lIjoiY3VzdG9tLWNvbnRhaW5lciIsInRpbWVvdXQiOjEyMDB9"}',
]

OUTPUT_ONLY = ("functionArn", "functionId", "createdTime", "lastModifiedTime", "state", "lastUpdateStatus",
               "codeSize")


@pytest.fixture
def srv(frost_factory):
    return frost_factory()


@pytest.fixture
def fc(srv):
    c = Client.of(srv)
    yield c
    c.close()


def expect_error(r, status, code, field=None):
    assert r.status == status, r
    assert r.code == code, r
    if field is not None:
        assert field in r.message, "message does not name %s: %r" % (field, r.message)


def tick_past(stamp):
    """Waits until the wall clock shows a second later than stamp (with a
    margin: time(2) in the server is the coarse clock, a tick behind)."""

    def later():
        now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(milliseconds=50)
        return now.strftime("%Y-%m-%dT%H:%M:%SZ") > stamp

    wait_for(later, 3, "the clock to pass %s" % stamp)


def bootstrap_zip():
    return make_zip([
        ("bootstrap", b"#!/bin/sh\nexec python3 -m http.server 9000\n", 0o755),
        ("lib/data.txt", b"hello frost\n", 0o644),
        ("bin/tool", b"#!/bin/sh\necho tool\n", 0o755),
    ])


def custom_function(name, zip_bytes, **extra):
    doc = {
        "functionName": name,
        "runtime": "custom.debian10",
        "handler": "index.handler",
        "customRuntimeConfig": {"command": ["./bootstrap"], "port": 9000},
        "code": {"zipFile": b64(zip_bytes)},
    }
    doc.update(extra)
    return doc


def code_dir_entries(srv):
    d = os.path.join(srv.data_dir, "code")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


# ------------------------------------------------------------------- functions


def test_function_crud(fc, srv):
    doc = container_function("crud-fn", description="first", futureField={"nested": [1, "two"]},
                             anotherUnknown=7)
    created = fc.create_function(doc)
    for k in OUTPUT_ONLY:
        assert k in created, "%s missing from %r" % (k, created)
    assert created["functionName"] == "crud-fn"
    assert created["functionArn"].startswith("acs:fc:") and created["functionArn"].endswith(":functions/crud-fn")
    assert created["state"] == "Active"
    assert created["lastUpdateStatus"] == "Successful"
    assert created["codeSize"] == 0
    assert created["createdTime"] == created["lastModifiedTime"]
    datetime.datetime.strptime(created["createdTime"], "%Y-%m-%dT%H:%M:%SZ")
    # Defaults filled.
    assert created["timeout"] == 3
    assert created["memorySize"] == 512
    assert created["cpu"] == 0.5
    assert created["diskSize"] == 512
    assert created["instanceConcurrency"] == 1
    assert created["internetAccess"] is True
    # Unknown members kept as they were sent.
    assert created["futureField"] == {"nested": [1, "two"]}
    assert created["anotherUnknown"] == 7
    assert created["customContainerConfig"]["image"] == "registry.example/ns/app:v1"

    assert fc.get_function("crud-fn") == created
    r = fc.call("GET", "/functions/crud-fn", query={"qualifier": "LATEST"})
    assert r.status == 200 and r.json == created

    # Timestamps have one-second resolution: make sure the update is later.
    tick_past(created["createdTime"])
    updated = fc.ok("PUT", "/functions/crud-fn", {"timeout": 60, "description": "second", "memorySize": 1024})
    assert updated["timeout"] == 60
    assert updated["description"] == "second"
    assert updated["memorySize"] == 1024
    assert updated["createdTime"] == created["createdTime"]
    assert updated["lastModifiedTime"] != created["lastModifiedTime"]
    assert updated["lastModifiedTime"] > created["lastModifiedTime"]
    assert updated["functionId"] == created["functionId"]
    assert updated["functionArn"] == created["functionArn"]
    assert updated["futureField"] == {"nested": [1, "two"]}
    assert fc.get_function("crud-fn") == updated

    # The name cannot change through an update.
    expect_error(fc.call("PUT", "/functions/crud-fn", {"functionName": "other"}), 400, "InvalidArgument",
                 "functionName")
    # An invalid update changes nothing.
    expect_error(fc.call("PUT", "/functions/crud-fn", {"timeout": 0}), 400, "InvalidArgument", "timeout")
    assert fc.get_function("crud-fn") == updated

    r = fc.call("DELETE", "/functions/crud-fn")
    assert r.status == 204, r
    assert r.body == b""
    expect_error(fc.call("GET", "/functions/crud-fn"), 404, "FunctionNotFound")
    expect_error(fc.call("DELETE", "/functions/crud-fn"), 404, "FunctionNotFound")
    expect_error(fc.call("PUT", "/functions/crud-fn", {"timeout": 5}), 404, "FunctionNotFound")
    assert fc.ok("GET", "/functions")["functions"] == []


def test_create_twice_is_409(fc):
    first = fc.create_function(container_function("dup-fn"))
    r = fc.call("POST", "/functions", container_function("dup-fn", timeout=9))
    expect_error(r, 409, "FunctionAlreadyExists")
    assert fc.get_function("dup-fn") == first
    # After a delete the name is free again.
    assert fc.call("DELETE", "/functions/dup-fn").status == 204
    again = fc.create_function(container_function("dup-fn"))
    assert again["functionId"] != first["functionId"]


def test_output_only_fields_are_not_taken_from_the_input(fc):
    doc = container_function("out-only", functionArn="acs:fc:x:y:functions/evil", functionId="evil",
                             createdTime="1999-01-01T00:00:00Z", state="Failed", codeSize=123)
    created = fc.create_function(doc)
    assert created["functionArn"].endswith(":functions/out-only")
    assert created["functionId"] != "evil"
    assert created["createdTime"] != "1999-01-01T00:00:00Z"
    assert created["state"] == "Active"
    assert created["codeSize"] == 0


@pytest.mark.parametrize(
    "doc, field",
    [
        (container_function("1bad"), "functionName"),
        (container_function("bad name"), "functionName"),
        (container_function("x" * 65), "functionName"),
        ({"runtime": "custom-container", "customContainerConfig": {"image": "r/x:1"}}, "functionName"),
        (container_function("t0", timeout=0), "timeout"),
        (container_function("t1", timeout=86401), "timeout"),
        (container_function("g", gpuConfig={"gpuType": "fc.gpu.tesla.1", "gpuMemorySize": 1000}),
         "gpuConfig.gpuMemorySize"),
        (container_function("g2", gpuConfig={"gpuType": "fc.gpu.nope.1", "gpuMemorySize": 1024}), "gpuConfig.gpuType"),
        (dict(container_function("rt"), runtime="python3.10"), "runtime"),
        (container_function("env", environmentVariables={"FC_FUNCTION_NAME": "x"}), "environmentVariables"),
        (container_function("mem", memorySize=100), "memorySize"),
        (container_function("disk", diskSize=1000), "diskSize"),
        (container_function("ic", instanceConcurrency=201), "instanceConcurrency"),
        (container_function("ty", timeout="3"), "timeout"),
        ({"functionName": "nocode", "runtime": "custom.debian10", "handler": "h"}, "code"),
    ],
    ids=["name-digit", "name-space", "name-long", "name-missing", "timeout-0", "timeout-big", "gpu-mem-1000",
         "gpu-type", "runtime", "env-FC_", "memory", "disk", "concurrency", "timeout-string", "custom-no-code"],
)
def test_create_validation(fc, doc, field):
    r = fc.call("POST", "/functions", doc)
    expect_error(r, 400, "InvalidArgument", field)
    assert fc.ok("GET", "/functions")["functions"] == []


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"", b"[1, 2]", b'"a string"', b"42", b"null",
     b'{"functionName": "a", "functionName": "b", "runtime": "custom-container"}'],
    ids=["bad-json", "empty", "array", "string", "number", "null", "duplicate-key"],
)
def test_create_bad_body(fc, body):
    r = fc.call("POST", "/functions", raw_body=body)
    expect_error(r, 400, "InvalidArgument")
    assert fc.ok("GET", "/functions")["functions"] == []


def test_list_paging(fc):
    names = ["page-%02d" % i for i in range(25)]
    # Created out of order, plus others outside the prefix.
    for n in reversed(names):
        fc.create_function(container_function(n))
    for n in ("pagf-0", "pag-0", "other-1", "A-first"):
        fc.create_function(container_function(n))

    seen, token, pages = [], None, 0
    while True:
        q = {"prefix": "page-", "limit": 7}
        if token:
            q["nextToken"] = token
        j = fc.ok("GET", "/functions", query=q)
        assert len(j["functions"]) <= 7
        pages += 1
        seen += [f["functionName"] for f in j["functions"]]
        token = j.get("nextToken")
        if not token:
            break
        assert len(j["functions"]) == 7, j
        assert pages < 10
    assert seen == names
    assert pages == 4

    # Without a prefix: everything, in name order, once.
    everything = [f["functionName"] for f in fc.list_all("/functions", "functions", page=10)]
    assert everything == sorted(names + ["pagf-0", "pag-0", "other-1", "A-first"])
    # Default limit is 20.
    j = fc.ok("GET", "/functions")
    assert len(j["functions"]) == 20 and j.get("nextToken")
    # limit=100 returns all 29 at once, no token.
    j = fc.ok("GET", "/functions", query={"limit": 100})
    assert len(j["functions"]) == 29 and not j.get("nextToken")
    # A prefix nothing matches.
    assert fc.ok("GET", "/functions", query={"prefix": "zzz"})["functions"] == []
    # Exactly one page: no nextToken.
    j = fc.ok("GET", "/functions", query={"prefix": "page-", "limit": 25})
    assert len(j["functions"]) == 25 and not j.get("nextToken")

    for bad in ("0", "101", "-1", "abc", ""):
        expect_error(fc.call("GET", "/functions", query={"limit": bad}), 400, "InvalidArgument", "limit")


def test_list_filters_that_match_nothing(fc):
    """A filter no function can match gives an empty list, however long or
    oddly encoded it is; it never widens to "everything"."""
    fc.create_function(container_function("abc"))
    fc.ok("PUT", "/functions/abc/concurrency", {"reservedConcurrency": 1})
    fc.ok("PUT", "/functions/abc/provision-config", {"defaultTarget": 1})
    fc.ok("POST", "/functions/abc/triggers", http_trigger("web"))
    for n in (65, 127, 128, 200, 1000):
        long = "z" * n
        r = fc.call("GET", "/functions", query={"prefix": long})
        assert r.status == 400 or (r.status == 200 and r.json["functions"] == []), (n, r)
        for path, field in (("/concurrency-configs", "configs"), ("/provision-configs", "provisionConfigs"),
                            ("/async-invoke-configs", "configs")):
            r = fc.call("GET", path, query={"functionName": long})
            assert r.status == 400 or (r.status == 200 and r.json[field] == []), (path, n, r)
        r = fc.call("GET", "/functions/abc/triggers", query={"prefix": long})
        assert r.status == 400 or (r.status == 200 and r.json["triggers"] == []), (n, r)
    # A malformed escape is refused, or matches nothing.
    r = fc.raw("GET", FC + "/functions?prefix=%zz")
    assert r.status == 400 or (r.status == 200 and r.json["functions"] == []), r
    r = fc.raw("GET", FC + "/concurrency-configs?functionName=%zz")
    assert r.status == 400 or (r.status == 200 and r.json["configs"] == []), r


def test_runtime_switch(fc, srv):
    """Moving a function between custom-container and the custom runtimes:
    a custom runtime needs a code package, as on create."""
    fc.create_function(container_function("sw"))
    r = fc.call("PUT", "/functions/sw", {"runtime": "custom.debian10", "handler": "index.handler"})
    expect_error(r, 400, "InvalidArgument", "code")
    assert fc.get_function("sw")["runtime"] == "custom-container"
    z = bootstrap_zip()
    up = fc.ok("PUT", "/functions/sw", {"runtime": "custom.debian10", "handler": "index.handler",
                                        "code": {"zipFile": b64(z)}})
    assert up["runtime"] == "custom.debian10"
    assert up["codeChecksum"] == hashlib.sha256(z).hexdigest()
    assert "customContainerConfig" not in up
    # Between custom runtimes the package stays.
    up = fc.ok("PUT", "/functions/sw", {"runtime": "custom.debian12"})
    assert up["codeChecksum"] == hashlib.sha256(z).hexdigest()
    # Back to a container: the custom runtime's config goes.
    up = fc.ok("PUT", "/functions/sw", {"runtime": "custom-container",
                                        "customContainerConfig": {"image": "registry.example/ns/app:v2"}})
    assert up["runtime"] == "custom-container"
    assert "customRuntimeConfig" not in up
    assert fc.get_function("sw") == up


# --------------------------------------------------------------- code packages


def test_code_package(fc, srv):
    z = bootstrap_zip()
    sha = hashlib.sha256(z).hexdigest()
    created = fc.create_function(custom_function("code-fn", z))
    assert created["codeChecksum"] == sha
    assert created["codeSize"] == len(z)
    assert "code" not in created, "the zip is not echoed back"
    assert fc.get_function("code-fn")["codeChecksum"] == sha

    tree = os.path.join(srv.data_dir, "code", sha)
    assert os.path.isdir(tree), code_dir_entries(srv)
    with open(os.path.join(tree, "bootstrap"), "rb") as f:
        assert f.read().startswith(b"#!/bin/sh")
    mode = os.stat(os.path.join(tree, "bootstrap")).st_mode
    assert stat.S_ISREG(mode) and mode & 0o100, oct(mode)
    assert os.stat(os.path.join(tree, "bin", "tool")).st_mode & 0o100
    data_mode = os.stat(os.path.join(tree, "lib", "data.txt")).st_mode
    assert not data_mode & 0o111, oct(data_mode)
    with open(os.path.join(tree, "lib", "data.txt"), "rb") as f:
        assert f.read() == b"hello frost\n"
    with open(os.path.join(srv.data_dir, "code", sha + ".zip"), "rb") as f:
        assert f.read() == z
    assert not [e for e in code_dir_entries(srv) if e.startswith(".tmp-")]

    # A symlink that stays inside the tree is kept.
    zl = make_zip([("bootstrap", b"#!/bin/sh\n", 0o755), ("lib/data-v1.txt", b"v1", None),
                   ("lib/data.txt", b"data-v1.txt", stat.S_IFLNK | 0o777), ("bin/boot", b"../bootstrap", stat.S_IFLNK | 0o777)])
    shal = fc.create_function(custom_function("code-links", zl))["codeChecksum"]
    treel = os.path.join(srv.data_dir, "code", shal)
    assert os.readlink(os.path.join(treel, "lib", "data.txt")) == "data-v1.txt"
    with open(os.path.join(treel, "lib", "data.txt"), "rb") as f:
        assert f.read() == b"v1"
    assert os.readlink(os.path.join(treel, "bin", "boot")) == "../bootstrap"
    assert fc.call("DELETE", "/functions/code-links").status == 204

    # The same package for another function shares the stored copy.
    same = fc.create_function(custom_function("code-fn2", z))
    assert same["codeChecksum"] == sha
    assert sorted(e for e in code_dir_entries(srv) if e.startswith(sha)) == sorted([sha, sha + ".zip"])

    # New code through an update.
    z2 = make_zip([("bootstrap", b"#!/bin/sh\necho v2\n", 0o755)])
    sha2 = hashlib.sha256(z2).hexdigest()
    upd = fc.ok("PUT", "/functions/code-fn", {"code": {"zipFile": b64(z2)}})
    assert upd["codeChecksum"] == sha2 and upd["codeSize"] == len(z2)
    assert fc.get_function("code-fn")["codeChecksum"] == sha2
    assert os.stat(os.path.join(srv.data_dir, "code", sha2, "bootstrap")).st_mode & 0o100
    # An update without code keeps the package.
    upd = fc.ok("PUT", "/functions/code-fn", {"timeout": 10})
    assert upd["codeChecksum"] == sha2 and upd["codeSize"] == len(z2)
    # Custom-container functions take no code.
    r = fc.call("POST", "/functions", dict(container_function("cc"), code={"zipFile": b64(z)}))
    expect_error(r, 400, "InvalidArgument", "code")


def _zip_raw_names(entries):
    """A zip whose entry names are taken literally (zipfile would keep them,
    but be explicit: no normalisation)."""
    return make_zip(entries)


MALICIOUS = {
    "zip-slip": lambda: b64(_zip_raw_names([("bootstrap", b"ok", 0o755), ("../x", b"escaped", None)])),
    "zip-slip-deep": lambda: b64(_zip_raw_names([("a/../../x", b"escaped", None)])),
    "absolute": lambda: b64(_zip_raw_names([("/tmp/frost-abs-evil", b"escaped", None)])),
    "symlink-absolute": lambda: b64(make_zip([("bootstrap", b"ok", 0o755),
                                              ("passwd", b"/etc/passwd", stat.S_IFLNK | 0o777)])),
    "symlink-escape": lambda: b64(make_zip([("bootstrap", b"ok", 0o755),
                                            ("lib/up", b"../../x", stat.S_IFLNK | 0o777)])),
    "through-symlink": lambda: b64(make_zip([("lib", b"/tmp", stat.S_IFLNK | 0o777), ("lib/evil", b"x", None)])),
    "duplicate": lambda: b64(make_zip([("bootstrap", b"one", 0o755), ("bootstrap", b"two", 0o755)])),
    "corrupt": lambda: b64(b"PK\x03\x04" + os.urandom(200)),
    "truncated": lambda: b64(bootstrap_zip()[:-30]),
    "not-base64": lambda: "this is *not* base64!!",
    "empty": lambda: "",
}


@pytest.mark.parametrize("kind", sorted(MALICIOUS))
def test_code_package_refused(fc, srv, kind):
    payload = MALICIOUS[kind]()
    before = code_dir_entries(srv)
    r = fc.call("POST", "/functions", {"functionName": "evil", "runtime": "custom", "handler": "h",
                                       "code": {"zipFile": payload}})
    expect_error(r, 400, "InvalidArgument", "code")
    assert "zipFile" in r.message, r
    expect_error(fc.call("GET", "/functions/evil"), 404, "FunctionNotFound")
    assert code_dir_entries(srv) == before
    assert not os.path.exists(os.path.join(srv.data_dir, "x"))
    assert not os.path.exists(os.path.join(srv.data_dir, "code", "x"))
    assert not os.path.exists("/tmp/frost-abs-evil") or kind != "absolute"
    # The name was not left reserved.
    fc.create_function(custom_function("evil", bootstrap_zip()))


def test_code_package_refused_on_update(fc, srv):
    z = bootstrap_zip()
    created = fc.create_function(custom_function("upd-evil", z))
    before = code_dir_entries(srv)
    r = fc.call("PUT", "/functions/upd-evil", {"code": {"zipFile": MALICIOUS["zip-slip"]()}})
    expect_error(r, 400, "InvalidArgument", "code")
    assert fc.get_function("upd-evil") == created
    assert code_dir_entries(srv) == before
    # And the function is not stuck "busy".
    fc.ok("PUT", "/functions/upd-evil", {"timeout": 5})


def test_concurrent_creates_and_updates(srv):
    """Racing creates of one name: one wins, the others get 409. Updates that
    race a code package being stored get 409 ConcurrentUpdateError or win;
    the function ends as one winner left it."""
    z = make_zip([("bootstrap", b"#!/bin/sh\n", 0o755)] + [("f%02d" % i, os.urandom(20000), None) for i in range(50)])
    results = []
    lock = threading.Lock()

    def run(fn):
        c = Client.of(srv)
        try:
            r = fn(c)
        finally:
            c.close()
        with lock:
            results.append(r)

    def create(c):
        return c.call("POST", "/functions", custom_function("race", z))

    ts = [threading.Thread(target=run, args=(create,)) for _ in range(8)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert sorted(r.status for r in results) == [200] + [409] * 7, results
    assert all(r.code == "FunctionAlreadyExists" for r in results if r.status == 409), results
    winner = next(r.json for r in results if r.status == 200)
    fc = Client.of(srv)
    assert fc.get_function("race") == winner

    results.clear()
    zips = [make_zip([("bootstrap", b"v%d" % i, 0o755), ("pad", os.urandom(100000), None)]) for i in range(6)]

    def updater(i):
        return lambda c: c.call("PUT", "/functions/race", {"code": {"zipFile": b64(zips[i])}, "description": "u%d" % i})

    ts = [threading.Thread(target=run, args=(updater(i),)) for i in range(6)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert all(r.status == 200 or (r.status == 409 and r.code == "ConcurrentUpdateError") for r in results), results
    wins = [r.json for r in results if r.status == 200]
    assert wins, results
    final = fc.get_function("race")
    assert final in wins
    i = int(final["description"][1:])
    assert final["codeChecksum"] == hashlib.sha256(zips[i]).hexdigest()
    assert final["createdTime"] == winner["createdTime"] and final["functionId"] == winner["functionId"]
    # Nothing is left busy.
    assert fc.call("DELETE", "/functions/race").status == 204
    fc.close()


# --------------------------------------------------------------------- configs


# What GetProvisionConfig reports about the instances, beside the stored config.
LIVE_PROVISION_FIELDS = ("target", "current", "currentError", "targetSource", "starting", "frozen",
                         "scalingReason")


def stored_part(cfg):
    return {k: v for k, v in cfg.items() if k not in LIVE_PROVISION_FIELDS}


def test_provision_config(fc):
    fc.create_function(container_function("prov-fn"))
    fc.create_function(container_function("prov-other"))
    expect_error(fc.call("GET", "/functions/prov-fn/provision-config"), 404, "ProvisionConfigNotFound")

    put = fc.ok("PUT", "/functions/prov-fn/provision-config",
                {"defaultTarget": 2, "alwaysAllocateGPU": False,
                 "scheduledActions": [{"name": "night", "startTime": "2026-01-01T00:00:00Z",
                                       "endTime": "2036-01-01T00:00:00Z", "target": 0,
                                       "scheduleExpression": "cron(0 0 22 * * *)", "timeZone": "Asia/Shanghai"}]})
    assert put["target"] == 2
    assert put["defaultTarget"] == 2
    assert put["current"] == 0
    assert put["alwaysAllocateGPU"] is False
    assert put["alwaysAllocateCPU"] is True
    assert put["functionArn"].endswith(":functions/prov-fn")
    assert put["scheduledActions"][0]["name"] == "night"
    got = fc.ok("GET", "/functions/prov-fn/provision-config")
    assert stored_part(got) == stored_part(put)
    assert stored_part(fc.ok("GET", "/functions/prov-fn/provision-config",
                             query={"qualifier": "LATEST"})) == stored_part(put)
    # In force now: the nightly action (22:00 Shanghai) fired last, at its target 0.
    assert got["target"] == 0 and got["targetSource"] == "scheduledAction:night", got

    # The deprecated `target` alone.
    put2 = fc.ok("PUT", "/functions/prov-other/provision-config", {"target": 5, "defaultTarget": 2})
    assert put2["target"] == 2 and put2["defaultTarget"] == 2
    put2 = fc.ok("PUT", "/functions/prov-other/provision-config", {"target": 1})
    assert put2["target"] == 1 and put2["current"] == 0

    j = fc.ok("GET", "/provision-configs")
    assert sorted(p["functionArn"].rsplit("/", 1)[1] for p in j["provisionConfigs"]) == ["prov-fn", "prov-other"]
    j = fc.ok("GET", "/provision-configs", query={"functionName": "prov-other"})
    assert [p["target"] for p in j["provisionConfigs"]] == [1]
    j = fc.ok("GET", "/provision-configs", query={"limit": 1})
    assert len(j["provisionConfigs"]) == 1 and j.get("nextToken")
    j2 = fc.ok("GET", "/provision-configs", query={"limit": 1, "nextToken": j["nextToken"]})
    assert len(j2["provisionConfigs"]) == 1 and not j2.get("nextToken")
    assert j["provisionConfigs"][0]["functionArn"] != j2["provisionConfigs"][0]["functionArn"]

    expect_error(fc.call("PUT", "/functions/prov-fn/provision-config", {"defaultTarget": -1}), 400,
                 "InvalidArgument", "defaultTarget")
    expect_error(fc.call("PUT", "/functions/prov-fn/provision-config", {"defaultTarget": 10001}), 400,
                 "InvalidArgument", "defaultTarget")
    expect_error(fc.call("PUT", "/functions/nope/provision-config", {"defaultTarget": 1}), 404, "FunctionNotFound")
    assert stored_part(fc.ok("GET", "/functions/prov-fn/provision-config")) == stored_part(put)

    r = fc.call("DELETE", "/functions/prov-fn/provision-config")
    assert r.status == 204, r
    expect_error(fc.call("GET", "/functions/prov-fn/provision-config"), 404, "ProvisionConfigNotFound")
    expect_error(fc.call("DELETE", "/functions/prov-fn/provision-config"), 404, "ProvisionConfigNotFound")
    j = fc.ok("GET", "/provision-configs")
    assert [p["functionArn"].rsplit("/", 1)[1] for p in j["provisionConfigs"]] == ["prov-other"]


def test_async_invoke_config(fc):
    fc.create_function(container_function("async-fn"))
    fc.create_function(container_function("async-dest"))
    expect_error(fc.call("GET", "/functions/async-fn/async-invoke-config"), 404, "AsyncConfigNotFound")

    put = fc.ok("PUT", "/functions/async-fn/async-invoke-config", {})
    assert put["maxAsyncRetryAttempts"] == 3
    assert put["maxAsyncEventAgeInSeconds"] == 86400
    assert put["functionArn"].endswith(":functions/async-fn")
    assert "createdTime" in put and "lastModifiedTime" in put
    assert fc.ok("GET", "/functions/async-fn/async-invoke-config") == put

    dest = "acs:fc:local:0000000000000000:functions/async-dest"
    put2 = fc.ok("PUT", "/functions/async-fn/async-invoke-config",
                 {"maxAsyncRetryAttempts": 0, "maxAsyncEventAgeInSeconds": 600,
                  "destinationConfig": {"onSuccess": {"destination": dest},
                                        "onFailure": {"destination": dest}}})
    assert put2["maxAsyncRetryAttempts"] == 0
    assert put2["maxAsyncEventAgeInSeconds"] == 600
    assert put2["destinationConfig"]["onSuccess"]["destination"] == dest
    assert put2["createdTime"] == put["createdTime"]
    assert fc.ok("GET", "/functions/async-fn/async-invoke-config") == put2

    for bad, field in [
        ({"destinationConfig": {"onFailure": {"destination": "ftp://example.com/x"}}}, "destination"),
        ({"destinationConfig": {"onSuccess": {"destination": "acs:mns:local:1:queues/q"}}}, "destination"),
        ({"maxAsyncRetryAttempts": 9}, "maxAsyncRetryAttempts"),
        ({"maxAsyncEventAgeInSeconds": 0}, "maxAsyncEventAgeInSeconds"),
        ({"maxAsyncEventAgeInSeconds": 604801}, "maxAsyncEventAgeInSeconds"),
    ]:
        expect_error(fc.call("PUT", "/functions/async-fn/async-invoke-config", bad), 400, "InvalidArgument", field)
    assert fc.ok("GET", "/functions/async-fn/async-invoke-config") == put2

    j = fc.ok("GET", "/async-invoke-configs")
    assert [c["functionArn"].rsplit("/", 1)[1] for c in j["configs"]] == ["async-fn"]
    j = fc.ok("GET", "/async-invoke-configs", query={"functionName": "async-dest"})
    assert j["configs"] == []

    assert fc.call("DELETE", "/functions/async-fn/async-invoke-config").status == 204
    expect_error(fc.call("GET", "/functions/async-fn/async-invoke-config"), 404, "AsyncConfigNotFound")
    assert fc.ok("GET", "/async-invoke-configs")["configs"] == []


def test_concurrency_config(fc):
    fc.create_function(container_function("conc-fn"))
    expect_error(fc.call("GET", "/functions/conc-fn/concurrency"), 404, "ConcurrencyConfigNotFound")
    put = fc.ok("PUT", "/functions/conc-fn/concurrency", {"reservedConcurrency": 5})
    assert put["reservedConcurrency"] == 5
    assert put["functionArn"].endswith(":functions/conc-fn")
    assert fc.ok("GET", "/functions/conc-fn/concurrency") == put
    put0 = fc.ok("PUT", "/functions/conc-fn/concurrency", {"reservedConcurrency": 0})
    assert put0["reservedConcurrency"] == 0
    for bad in ({}, {"reservedConcurrency": -1}, {"reservedConcurrency": "5"}, {"reservedConcurrency": 10001}):
        expect_error(fc.call("PUT", "/functions/conc-fn/concurrency", bad), 400, "InvalidArgument",
                     "reservedConcurrency")
    j = fc.ok("GET", "/concurrency-configs")
    assert [(c["functionArn"].rsplit("/", 1)[1], c["reservedConcurrency"]) for c in j["configs"]] == [("conc-fn", 0)]
    assert fc.call("DELETE", "/functions/conc-fn/concurrency").status == 204
    expect_error(fc.call("GET", "/functions/conc-fn/concurrency"), 404, "ConcurrencyConfigNotFound")
    assert fc.ok("GET", "/concurrency-configs")["configs"] == []
    expect_error(fc.call("PUT", "/functions/none/concurrency", {"reservedConcurrency": 1}), 404, "FunctionNotFound")


def test_config_list_paging(fc):
    """Config lists page over functions in name order: with configs on every
    third of 150 functions, every page size sees each config exactly once."""
    names = ["cfg-%03d" % i for i in range(150)]
    for n in names:
        fc.create_function(container_function(n))
    with_cfg = names[::3]
    for n in with_cfg:
        fc.ok("PUT", "/functions/%s/concurrency" % n, {"reservedConcurrency": 1})
        fc.ok("PUT", "/functions/%s/async-invoke-config" % n, {})
        fc.ok("PUT", "/functions/%s/provision-config" % n, {"defaultTarget": 1})
    for path, field in (("/concurrency-configs", "configs"), ("/async-invoke-configs", "configs"),
                        ("/provision-configs", "provisionConfigs")):
        for page in (1, 7, 50, 100):
            got = [c["functionArn"].rsplit("/", 1)[1] for c in fc.list_all(path, field, page=page)]
            assert got == with_cfg, (path, page)
        j = fc.ok("GET", path, query={"limit": len(with_cfg)})
        assert len(j[field]) == len(with_cfg) and not j.get("nextToken"), path
        j = fc.ok("GET", path)
        assert len(j[field]) == 20 and j.get("nextToken"), path


def test_delete_function_removes_configs_and_triggers(fc):
    fc.create_function(container_function("gone"))
    fc.ok("PUT", "/functions/gone/provision-config", {"defaultTarget": 1})
    fc.ok("PUT", "/functions/gone/async-invoke-config", {})
    fc.ok("PUT", "/functions/gone/concurrency", {"reservedConcurrency": 2})
    fc.ok("POST", "/functions/gone/triggers", http_trigger("t1"))
    assert fc.call("DELETE", "/functions/gone").status == 204
    assert fc.ok("GET", "/provision-configs")["provisionConfigs"] == []
    assert fc.ok("GET", "/async-invoke-configs")["configs"] == []
    assert fc.ok("GET", "/concurrency-configs")["configs"] == []
    # A new function of the same name starts clean.
    fc.create_function(container_function("gone"))
    expect_error(fc.call("GET", "/functions/gone/provision-config"), 404, "ProvisionConfigNotFound")
    expect_error(fc.call("GET", "/functions/gone/concurrency"), 404, "ConcurrencyConfigNotFound")
    expect_error(fc.call("GET", "/functions/gone/triggers/t1"), 404, "TriggerNotFound")
    assert fc.ok("GET", "/functions/gone/triggers")["triggers"] == []


# -------------------------------------------------------------------- triggers


def http_trigger(name, auth="anonymous", methods=("GET", "POST"), **extra):
    doc = {
        "triggerName": name,
        "triggerType": "http",
        "triggerConfig": json.dumps({"authType": auth, "methods": list(methods)}),
    }
    doc.update(extra)
    return doc


def test_triggers(fc, srv):
    fc.create_function(container_function("trig-fn"))
    t = fc.ok("POST", "/functions/trig-fn/triggers", http_trigger("web", description="d1"))
    assert t["triggerName"] == "web"
    assert t["triggerType"] == "http"
    assert isinstance(t["triggerConfig"], str)
    cfg = json.loads(t["triggerConfig"])
    assert cfg["authType"] == "anonymous"
    assert cfg["methods"] == ["GET", "POST"]
    assert t["description"] == "d1"
    assert t["qualifier"] == "LATEST"
    for k in ("triggerId", "createdTime", "lastModifiedTime"):
        assert t.get(k), (k, t)
    url = t["httpTrigger"]["urlInternet"]
    assert url.startswith("http://") and url.endswith("/trig-fn"), url
    assert srv.addr in url, (srv.addr, url)
    assert fc.ok("GET", "/functions/trig-fn/triggers/web") == t

    expect_error(fc.call("POST", "/functions/trig-fn/triggers", http_trigger("web")), 409, "TriggerAlreadyExists")
    expect_error(fc.call("POST", "/functions/nope/triggers", http_trigger("web")), 404, "FunctionNotFound")
    expect_error(fc.call("GET", "/functions/trig-fn/triggers/none"), 404, "TriggerNotFound")
    expect_error(fc.call("PUT", "/functions/trig-fn/triggers/none", {"description": "x"}), 404, "TriggerNotFound")
    expect_error(fc.call("DELETE", "/functions/trig-fn/triggers/none"), 404, "TriggerNotFound")

    # Validation.
    for bad, field in [
        (http_trigger("1bad"), "triggerName"),
        (dict(http_trigger("bt"), triggerType="carrier-pigeon"), "triggerType"),
        (http_trigger("ba", auth="nobody"), "authType"),
        (http_trigger("bm", methods=("FETCH",)), "methods"),
        (dict(http_trigger("bj"), triggerConfig="{not json"), "triggerConfig"),
    ]:
        expect_error(fc.call("POST", "/functions/trig-fn/triggers", bad), 400, "InvalidArgument", field)

    # A second trigger (an object triggerConfig is accepted and stored as a string).
    t2 = fc.ok("POST", "/functions/trig-fn/triggers",
               {"triggerName": "api", "triggerType": "http", "triggerConfig": {"methods": ["PUT"]}})
    assert isinstance(t2["triggerConfig"], str)
    assert json.loads(t2["triggerConfig"])["authType"] == "function"

    tick_past(t["lastModifiedTime"])
    up = fc.ok("PUT", "/functions/trig-fn/triggers/web",
               {"description": "d2", "triggerConfig": json.dumps({"authType": "function", "methods": ["GET"]})})
    assert up["description"] == "d2"
    assert json.loads(up["triggerConfig"]) == dict(json.loads(up["triggerConfig"]), authType="function",
                                                    methods=["GET"])
    assert up["triggerId"] == t["triggerId"]
    assert up["createdTime"] == t["createdTime"]
    assert up["lastModifiedTime"] != t["lastModifiedTime"]
    assert up["httpTrigger"]["urlInternet"] == url
    assert fc.ok("GET", "/functions/trig-fn/triggers/web") == up
    expect_error(fc.call("PUT", "/functions/trig-fn/triggers/web", {"triggerConfig": json.dumps({"methods": []})}),
                 400, "InvalidArgument", "methods")
    assert fc.ok("GET", "/functions/trig-fn/triggers/web") == up

    j = fc.ok("GET", "/functions/trig-fn/triggers")
    assert sorted(x["triggerName"] for x in j["triggers"]) == ["api", "web"]
    # Paging one at a time sees both, once.
    seen, token = [], None
    for _ in range(5):
        q = {"limit": 1}
        if token:
            q["nextToken"] = token
        j = fc.ok("GET", "/functions/trig-fn/triggers", query=q)
        seen += [x["triggerName"] for x in j["triggers"]]
        token = j.get("nextToken")
        if not token:
            break
    assert sorted(seen) == ["api", "web"] and len(seen) == 2

    r = fc.call("DELETE", "/functions/trig-fn/triggers/web")
    assert r.status == 204, r
    expect_error(fc.call("GET", "/functions/trig-fn/triggers/web"), 404, "TriggerNotFound")
    assert [x["triggerName"] for x in fc.ok("GET", "/functions/trig-fn/triggers")["triggers"]] == ["api"]
    # The name can be used again.
    fc.ok("POST", "/functions/trig-fn/triggers", http_trigger("web"))


# ------------------------------------------------------------ misc. protocol


def test_qualifier_other_than_latest(fc):
    fc.create_function(container_function("q-fn"))
    fc.ok("PUT", "/functions/q-fn/provision-config", {"defaultTarget": 1})
    for path in ("/functions/q-fn", "/functions/q-fn/provision-config", "/functions/q-fn/async-invoke-config",
                 "/functions/q-fn/concurrency"):
        for q in ("1", "prod", "v2"):
            expect_error(fc.call("GET", path, query={"qualifier": q}), 400, "InvalidArgument", "qualifier")
    expect_error(fc.call("PUT", "/functions/q-fn/provision-config", {"defaultTarget": 3}, query={"qualifier": "prod"}),
                 400, "InvalidArgument", "qualifier")
    assert fc.ok("GET", "/functions/q-fn/provision-config")["target"] == 1
    assert fc.ok("GET", "/functions/q-fn", query={"qualifier": "LATEST"})["functionName"] == "q-fn"


def test_unknown_routes(fc):
    for method, target in [("GET", FC + "/nope"), ("GET", FC + "/functions/a/b/c/d"), ("GET", "/2016-08-15/services"),
                           ("POST", FC + "/provision-configs"), ("PATCH", FC + "/functions/x")]:
        r = fc.raw(method, target)
        assert r.status in (404, 405), (method, target, r)
    r = fc.raw("GET", FC + "/nope")
    assert r.status == 404 and r.code == "NotFound", r
    r = fc.raw("DELETE", FC + "/functions")
    assert r.status in (404, 405), r


def test_request_ids_are_unique(fc):
    fc.create_function(container_function("rid"))
    ids = set()
    for _ in range(20):
        r = fc.call("GET", "/functions/rid")
        ids.add(r.header("x-fc-request-id"))
        r = fc.call("GET", "/functions/missing")
        assert r.json["RequestId"] == r.header("x-fc-request-id")
        ids.add(r.header("x-fc-request-id"))
    assert len(ids) == 40


# ------------------------------------------------------------------ durability


def test_restart_keeps_everything(frost_factory):
    srv = frost_factory()
    fc = Client.of(srv)
    z = bootstrap_zip()
    docs = {}
    docs["r-container"] = fc.create_function(container_function("r-container", futureField=[1, 2, 3],
                                                                gpuConfig={"gpuType": "fc.gpu.tesla.1",
                                                                           "gpuMemorySize": 4096}))
    docs["r-custom"] = fc.create_function(custom_function("r-custom", z))
    docs["r-upd"] = fc.create_function(container_function("r-upd"))
    docs["r-upd"] = fc.ok("PUT", "/functions/r-upd", {"timeout": 77})
    fc.create_function(container_function("r-deleted"))
    fc.ok("PUT", "/functions/r-deleted/concurrency", {"reservedConcurrency": 1})
    assert fc.call("DELETE", "/functions/r-deleted").status == 204
    prov = fc.ok("PUT", "/functions/r-container/provision-config", {"defaultTarget": 1, "alwaysAllocateGPU": False})
    asy = fc.ok("PUT", "/functions/r-container/async-invoke-config", {"maxAsyncRetryAttempts": 1})
    conc = fc.ok("PUT", "/functions/r-custom/concurrency", {"reservedConcurrency": 3})
    trig = fc.ok("POST", "/functions/r-custom/triggers", http_trigger("web"))
    trig2 = fc.ok("POST", "/functions/r-container/triggers",
                  {"triggerName": "tick", "triggerType": "timer",
                   "triggerConfig": json.dumps({"cronExpression": "@every 5m", "enable": True, "payload": "x"})})
    fc.ok("POST", "/functions/r-custom/triggers", http_trigger("deleted"))
    assert fc.call("DELETE", "/functions/r-custom/triggers/deleted").status == 204
    fc.close()

    srv2 = restart(frost_factory, srv)
    fc = Client.of(srv2)
    listed = fc.list_all("/functions", "functions")
    assert [f["functionName"] for f in listed] == sorted(docs)
    for name, doc in docs.items():
        assert fc.get_function(name) == doc
    prov2 = fc.ok("GET", "/functions/r-container/provision-config")
    assert stored_part(prov2) == stored_part(prov)
    asy2 = fc.ok("GET", "/functions/r-container/async-invoke-config")
    assert asy2 == asy
    assert fc.ok("GET", "/functions/r-custom/concurrency") == conc
    # The trigger URL names the new server's address; the rest is unchanged.
    got = fc.ok("GET", "/functions/r-custom/triggers/web")
    assert {k: v for k, v in got.items() if k != "httpTrigger"} == {k: v for k, v in trig.items() if k != "httpTrigger"}
    assert srv2.addr in got["httpTrigger"]["urlInternet"]
    assert fc.ok("GET", "/functions/r-container/triggers/tick") == trig2
    expect_error(fc.call("GET", "/functions/r-custom/triggers/deleted"), 404, "TriggerNotFound")
    expect_error(fc.call("GET", "/functions/r-deleted"), 404, "FunctionNotFound")
    assert fc.ok("GET", "/concurrency-configs")["configs"] == [conc]
    assert os.path.isdir(os.path.join(srv2.data_dir, "code", hashlib.sha256(z).hexdigest()))
    # Still writable, and names are still taken.
    expect_error(fc.call("POST", "/functions", container_function("r-upd")), 409, "FunctionAlreadyExists")
    fc.create_function(container_function("r-new"))
    fc.close()


def _create_burst(srv, round_no, acked, kill_at, threads_n=8, per_thread=200):
    """threads_n clients create functions as fast as they can; once kill_at
    creates of this round were acknowledged the server gets SIGKILL. Every
    create answered 200 goes into acked (name -> document). Returns how many
    this round acknowledged."""
    lock = threading.Lock()
    started = threading.Event()
    errors = []
    mine = {}

    def worker(t):
        c = Client.of(srv, timeout=10)
        started.wait()
        try:
            for i in range(per_thread):
                name = "burst-%d-%d-%03d" % (round_no, t, i)
                doc = container_function(name, description="round %d thread %d item %d" % (round_no, t, i),
                                         environmentVariables={"N": str(i)})
                try:
                    r = c.call("POST", "/functions", doc, check=False)
                except (OSError, http.client.HTTPException):  # the server died
                    return
                with lock:
                    if r.status == 200:
                        mine[name] = r.json
                    else:
                        errors.append(r)
                        return
        finally:
            c.close()

    ts = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(threads_n)]
    for t in ts:
        t.start()
    started.set()

    def enough():
        with lock:
            return len(mine) >= kill_at or not any(t.is_alive() for t in ts)

    wait_for(enough, 60, "%d creates to be acknowledged" % kill_at)
    assert any(t.is_alive() for t in ts), "the burst ended before the kill: make it bigger"
    srv.expected_exit = -signal.SIGKILL
    srv.proc.send_signal(signal.SIGKILL)
    srv.wait_exit()
    for t in ts:
        t.join(timeout=30)
        assert not t.is_alive()
    assert not errors, errors[:3]
    assert len(mine) < threads_n * per_thread, "every create finished before the kill"
    acked.update(mine)
    return len(mine)


def test_sigkill_during_create_burst(frost_factory):
    """Creates acknowledged before a kill -9 are all there after a restart;
    three rounds, the kill at different points of the burst."""
    srv = frost_factory()
    acked = {}
    for round_no, kill_at in enumerate((320, 60, 700)):
        n = _create_burst(srv, round_no, acked, kill_at)
        assert n >= kill_at
        srv = restart(frost_factory, srv, sig=signal.SIGKILL)
        fc = Client.of(srv)
        listed = {f["functionName"]: f for f in fc.list_all("/functions", "functions")}
        missing = sorted(set(acked) - set(listed))
        assert not missing, "round %d: %d acknowledged creates lost, e.g. %s" % (round_no, len(missing), missing[:5])
        for name, doc in acked.items():
            got = fc.call("GET", "/functions/" + name)
            assert got.status == 200, (name, got)
            assert got.json == doc, name
        # Whatever else survived is whole.
        for name, doc in listed.items():
            assert name.startswith("burst-"), name
            assert doc["functionName"] == name and doc.get("functionId") and doc.get("createdTime")
        # Unacknowledged leftovers can be deleted; names acknowledged stay taken.
        for name in sorted(set(listed) - set(acked))[:5]:
            assert fc.call("DELETE", "/functions/" + name).status == 204
        some = sorted(acked)[0]
        expect_error(fc.call("POST", "/functions", container_function(some)), 409, "FunctionAlreadyExists")
        fc.close()
    # After the last recovery the server takes writes and stops cleanly.
    fc = Client.of(srv)
    fc.create_function(container_function("after-crash"))
    fc.close()
    assert srv.stop() == 0


def test_sigkill_keeps_acknowledged_changes(frost_factory):
    """Updates, deletes, configs and triggers answered before a kill -9 are
    all there (or gone) after the restart."""
    srv = frost_factory()
    fc = Client.of(srv)
    for i in range(10):
        fc.create_function(container_function("k-%d" % i))
    updated = {i: fc.ok("PUT", "/functions/k-%d" % i, {"timeout": 100 + i}) for i in range(0, 10, 2)}
    for i in (1, 3):
        assert fc.call("DELETE", "/functions/k-%d" % i).status == 204
    prov = fc.ok("PUT", "/functions/k-4/provision-config", {"defaultTarget": 2})
    asy = fc.ok("PUT", "/functions/k-5/async-invoke-config", {"maxAsyncRetryAttempts": 5})
    conc = fc.ok("PUT", "/functions/k-6/concurrency", {"reservedConcurrency": 6})
    fc.ok("PUT", "/functions/k-7/concurrency", {"reservedConcurrency": 7})
    assert fc.call("DELETE", "/functions/k-7/concurrency").status == 204
    trig = fc.ok("POST", "/functions/k-8/triggers", http_trigger("web"))
    trig = fc.ok("PUT", "/functions/k-8/triggers/web", {"description": "after update"})
    fc.close()

    srv = restart(frost_factory, srv, sig=signal.SIGKILL)
    fc = Client.of(srv)
    names = [f["functionName"] for f in fc.list_all("/functions", "functions")]
    assert names == ["k-%d" % i for i in (0, 2, 4, 5, 6, 7, 8, 9)]
    for i, doc in updated.items():
        assert fc.get_function("k-%d" % i) == doc
    assert stored_part(fc.ok("GET", "/functions/k-4/provision-config")) == stored_part(prov)
    assert fc.ok("GET", "/functions/k-5/async-invoke-config") == asy
    assert fc.ok("GET", "/functions/k-6/concurrency") == conc
    expect_error(fc.call("GET", "/functions/k-7/concurrency"), 404, "ConcurrencyConfigNotFound")
    got = fc.ok("GET", "/functions/k-8/triggers/web")
    assert got["description"] == "after update" and got["triggerId"] == trig["triggerId"]
    fc.close()


def test_sigkill_during_code_uploads(frost_factory):
    """Functions with code packages acknowledged before a kill -9 have their
    unpacked tree after the restart; unfinished packages leave nothing that
    gets in the way of uploading them again."""
    srv = frost_factory()
    threads_n, per_thread = 4, 40
    zips, boots = {}, {}
    for t in range(threads_n):
        for i in range(per_thread):
            name = "code-%d-%02d" % (t, i)
            boots[name] = b"#!/bin/sh\necho %d %d\n" % (t, i)
            zips[name] = make_zip([("bootstrap", boots[name], 0o755), ("data.bin", os.urandom(30000), None)])
    acked = {}
    errors = []
    lock = threading.Lock()

    def worker(t):
        c = Client.of(srv, timeout=10)
        try:
            for i in range(per_thread):
                name = "code-%d-%02d" % (t, i)
                try:
                    r = c.call("POST", "/functions", custom_function(name, zips[name]), check=False)
                except (OSError, http.client.HTTPException):
                    return
                with lock:
                    if r.status != 200:
                        errors.append(r)
                        return
                    acked[name] = r.json
        finally:
            c.close()

    ts = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(threads_n)]
    for t in ts:
        t.start()

    def enough():
        with lock:
            return len(acked) >= 30 or not any(t.is_alive() for t in ts)

    wait_for(enough, 60, "30 code uploads to be acknowledged")
    assert any(t.is_alive() for t in ts), "the uploads ended before the kill"
    srv = restart(frost_factory, srv, sig=signal.SIGKILL)
    for t in ts:
        t.join(timeout=30)
        assert not t.is_alive()
    assert not errors, errors[:3]
    fc = Client.of(srv)
    code = os.path.join(srv.data_dir, "code")
    for name, doc in acked.items():
        assert fc.get_function(name) == doc
        sha = hashlib.sha256(zips[name]).hexdigest()
        assert doc["codeChecksum"] == sha
        with open(os.path.join(code, sha + ".zip"), "rb") as f:
            assert f.read() == zips[name]
        boot = os.path.join(code, sha, "bootstrap")
        assert os.stat(boot).st_mode & 0o100
        with open(boot, "rb") as f:
            assert f.read() == boots[name]
    # Everything not acknowledged can be uploaded now (or exists whole).
    listed = {f["functionName"] for f in fc.list_all("/functions", "functions")}
    for name in sorted(set(zips) - set(acked)):
        if name in listed:
            assert fc.get_function(name)["codeChecksum"] == hashlib.sha256(zips[name]).hexdigest()
            continue
        doc = fc.create_function(custom_function(name, zips[name]))
        assert doc["codeChecksum"] == hashlib.sha256(zips[name]).hexdigest()
        assert os.path.isfile(os.path.join(code, doc["codeChecksum"], "bootstrap"))
    fc.close()


# ------------------------------------------------------------------------ auth


@pytest.fixture
def auth_srv(frost_factory):
    return frost_factory("--set", AUTH_KEYS)


def send(srv, method, target, headers, body=None):
    c = Client.of(srv)
    try:
        return c.raw(method, target, body, headers=headers)
    finally:
        c.close()


def signed(srv, method, path, query="", body=b"", secret=KEY_SECRET, key_id=KEY_ID, **kw):
    hs = sign_headers(key_id, secret, method, path, query, "%s:%d" % (srv.host, srv.port), body,
                      content_type="application/json" if body else None, **kw)
    return hs


def test_auth_unsigned_is_401(auth_srv):
    fc = Client.of(auth_srv)
    for method, path in [("GET", "/functions"), ("POST", "/functions"), ("GET", "/functions/x"),
                         ("GET", "/provision-configs")]:
        r = fc.call(method, path, container_function("x") if method == "POST" else None)
        expect_error(r, 401, "MissingAuthorization")
    fc.close()


def test_auth_signed_requests(auth_srv):
    srv = auth_srv
    fc = Client.of(srv, key=(KEY_ID, KEY_SECRET))
    created = fc.create_function(container_function("signed-fn"))
    assert fc.get_function("signed-fn") == created
    j = fc.ok("GET", "/functions", query={"prefix": "signed-", "limit": 10})
    assert [f["functionName"] for f in j["functions"]] == ["signed-fn"]
    fc.ok("PUT", "/functions/signed-fn", {"timeout": 9})
    fc.ok("PUT", "/functions/signed-fn/provision-config", {"defaultTarget": 1}, query={"qualifier": "LATEST"})
    fc.ok("POST", "/functions/signed-fn/triggers", http_trigger("web"))
    assert fc.call("DELETE", "/functions/signed-fn").status == 204
    fc.close()


def test_auth_replay_skew_and_wrong_secret(auth_srv):
    srv = auth_srv
    path = FC + "/functions"
    hs = signed(srv, "GET", path, "limit=5")
    r = send(srv, "GET", path + "?limit=5", hs)
    assert r.status == 200, r
    # The same request again: the nonce was used.
    expect_error(send(srv, "GET", path + "?limit=5", hs), 403, "SignatureNonceUsed")

    # A date 20 minutes off, either way.
    for delta in (-20, 20):
        when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=delta)
        hs = signed(srv, "GET", path, date=when.strftime("%Y-%m-%dT%H:%M:%SZ"))
        expect_error(send(srv, "GET", path, hs), 403, "RequestTimeTooSkewed")
    # A few minutes off is within the window.
    when = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=3)
    assert send(srv, "GET", path, signed(srv, "GET", path, date=when.strftime("%Y-%m-%dT%H:%M:%SZ"))).status == 200

    expect_error(send(srv, "GET", path, signed(srv, "GET", path, secret="wrongSecret")), 403, "SignatureNotMatch")
    expect_error(send(srv, "GET", path, signed(srv, "GET", path, key_id="LTAIunknown")), 403, "InvalidAccessKeyId")

    # Signed for one request, sent as another.
    body = json.dumps(container_function("tamper")).encode()
    hs = signed(srv, "POST", path, body=body)
    other = json.dumps(container_function("tampeR")).encode()
    r = send(srv, "POST", path, hs, other)
    assert r.status in (400, 403), r
    assert r.code in ("ContentSHA256Mismatch", "SignatureNotMatch"), r
    hs = signed(srv, "GET", path, "prefix=a")
    expect_error(send(srv, "GET", path + "?prefix=b", hs), 403, "SignatureNotMatch")
    hs = signed(srv, "GET", path + "/a")
    expect_error(send(srv, "GET", path + "/b", hs), 403, "SignatureNotMatch")
    # A signed header's value changed after signing.
    hs = [(k, (v + "x" if k == "x-acs-action" else v)) for k, v in signed(srv, "GET", path)]
    expect_error(send(srv, "GET", path, hs), 403, "SignatureNotMatch")
    # Nothing was created by the refused requests.
    fc = Client.of(srv, key=(KEY_ID, KEY_SECRET))
    assert fc.ok("GET", "/functions")["functions"] == []
    fc.close()


def test_auth_refused_requests_do_not_burn_nonces(auth_srv):
    """A nonce is stored only once the signature matched: a forged request
    with someone's nonce does not block the genuine one."""
    srv = auth_srv
    path = FC + "/functions"
    nonce = "ab" * 32
    bad = signed(srv, "GET", path, secret="wrongSecret", nonce=nonce)
    expect_error(send(srv, "GET", path, bad), 403, "SignatureNotMatch")
    good = signed(srv, "GET", path, nonce=nonce)
    assert send(srv, "GET", path, good).status == 200


def load_captures():
    if os.path.exists(CAPTURES):
        with open(CAPTURES) as f:
            return [json.loads(line) for line in f if line.strip()]
    return [json.loads(line) for line in EMBEDDED_CAPTURES]


def test_auth_captured_sdk_request_is_refused(auth_srv):
    """The captured SDK requests are signed for 2026-11-22T03:45Z: by now
    they are stale (RequestTimeTooSkewed) or, replayed, used
    (SignatureNonceUsed)."""
    caps = load_captures()
    srv = auth_srv
    cap = caps[0]
    assert cap["method"] == "GET" and cap["target"].startswith(FC + "/functions")
    hs = [(k, v) for k, v in cap["headers"] if k.lower() not in ("connection",)]
    body = base64.b64decode(cap["body_base64"]) if cap["body_base64"] else None
    codes = []
    for _ in range(2):
        r = send(srv, cap["method"], cap["target"], hs, body)
        codes.append((r.status, r.code))
    assert codes[-1] in ((403, "RequestTimeTooSkewed"), (403, "SignatureNonceUsed")), codes
    assert codes[0] in ((200, None), (403, "RequestTimeTooSkewed")), codes
    # The captured create (a body, chunked by the SDK) is refused too and
    # creates nothing.
    create = next(c for c in caps if c["method"] == "POST" and c["target"] == FC + "/functions")
    body = base64.b64decode(create["body_base64"])
    hs = [(k, v) for k, v in create["headers"] if k.lower() not in ("connection", "transfer-encoding")]
    r = send(srv, "POST", create["target"], hs, body)
    assert r.status == 403 and r.code in ("RequestTimeTooSkewed", "SignatureNonceUsed"), r
    fc = Client.of(srv, key=(KEY_ID, KEY_SECRET))
    assert fc.ok("GET", "/functions")["functions"] == []
    fc.close()


def test_auth_state_survives_restart(frost_factory):
    srv = frost_factory("--set", AUTH_KEYS)
    fc = Client.of(srv, key=(KEY_ID, KEY_SECRET))
    doc = fc.create_function(container_function("auth-restart"))
    fc.close()
    srv2 = restart(frost_factory, srv, "--set", AUTH_KEYS)
    fc = Client.of(srv2, key=(KEY_ID, KEY_SECRET))
    assert fc.get_function("auth-restart") == doc
    fc.close()
    expect_error(Client.of(srv2).call("GET", "/functions/auth-restart"), 401, "MissingAuthorization")


@pytest.mark.parametrize("listen", ["0.0.0.0:0", "[::]:0"])
def test_unsigned_non_loopback_refuses_to_start(frost_bin, tmp_path, listen):
    d = str(tmp_path / "d")
    try:
        r = run_frost(frost_bin, ["serve", "--listen", listen, "--data-dir", d], timeout=15)
    except Exception as e:  # subprocess.TimeoutExpired: it started serving
        pytest.fail("frost serve on 0.0.0.0 without auth.keys did not refuse to start: %s" % e)
    assert r.returncode != 0, r
    assert "auth.keys" in r.stderr, r.stderr
    assert not os.path.exists(os.path.join(d, "frost.addr"))


def test_signed_non_loopback_starts(frost_factory):
    srv = frost_factory("--set", AUTH_KEYS, listen="0.0.0.0:0")
    c = Client("127.0.0.1", srv.port)
    expect_error(c.call("GET", "/functions"), 401, "MissingAuthorization")
    c.close()
    c = Client("127.0.0.1", srv.port, key=(KEY_ID, KEY_SECRET))
    assert c.ok("GET", "/functions")["functions"] == []
    c.close()
