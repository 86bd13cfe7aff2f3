"""The client side of the CLI: `frost deploy` (Serverless Devs fc3 s.yaml),
`frost function list|get|remove`, `frost provision put|get|list|remove`,
settings resolution and signed requests, checked against a real `frost serve`
with plain urllib GETs.
"""

import hashlib
import json
import os
import stat
import urllib.error
import urllib.request

import pytest

from conftest import assert_no_sanitizer_report, run_frost
from fc_helpers import restart

FC = "/2023-03-30"
KEY_ID = "cliKeyId"
KEY_SECRET = "cliSecret0123456789"

# Seed 002's s.yaml, with the provision config of its provision.json folded
# in, plus concurrency and async configs, and a custom-runtime function whose
# code is a local folder.
S_YAML = """\
edition: 3.0.0
name: container-demo
access: default
vars:
  region: cn-shanghai
  gpu_mem: 8192
resources:
  gpu-best-practive:
    component: fc3
    props:
      region: ${vars.region}
      description: This is the demo function deployment
      handler: not-used
      timeout: 1200
      memorySize: 8192
      cpu: 2
      gpuMemorySize: 8192
      diskSize: 512
      instanceConcurrency: 1
      runtime: custom-container
      environmentVariables:
        FCGPU_RUNTIME_SHMSIZE: '8589934592'
        WORKERS: 4
      customContainerConfig:
        image: >-
          registry.cn-shanghai.aliyuncs.com/serverless_devs/gpu-console-supervising:paddle-porn-detection
        port: 9000
      internetAccess: true
      logConfig:
        enableRequestMetrics: true
        enableInstanceMetrics: true
        logBeginRule: DefaultRegex
        project: z****
        logstore: log****
      functionName: gpu-porn-detection
      gpuConfig:
        gpuMemorySize: ${vars.gpu_mem}
        gpuType: fc.gpu.tesla.1
      triggers:
        - triggerName: httpTrigger
          triggerType: http
          triggerConfig:
            authType: anonymous
            methods:
              - GET
              - POST
      provisionConfig:
        mode: sync
        defaultTarget: 1
        alwaysAllocateGPU: false
        targetTrackingPolicies:
          - name: scaling-policy-demo
            startTime: '2024-07-01T16:00:00.000Z'
            endTime: '2024-07-30T16:00:00.000Z'
            metricType: ProvisionedConcurrencyUtilization
            metricTarget: 0.3
            minCapacity: 2
            maxCapacity: 30
      concurrencyConfig:
        reservedConcurrency: 10
      asyncInvokeConfig:
        maxAsyncRetryAttempts: 1
        maxAsyncEventAgeInSeconds: 3600
  web:
    component: fc3
    props:
      functionName: cli-web
      runtime: custom.debian10
      memorySize: 512
      timeout: ${env(WEB_TIMEOUT)}
      code: ./code
      customRuntimeConfig:
        command: [./bootstrap]
        port: 9000
      triggers:
        - triggerName: web
          triggerType: http
          triggerConfig: {authType: anonymous, methods: [GET]}
"""

PROVISION_JSON = {
    "targetTrackingPolicies": [
        {
            "name": "scaling-policy-demo",
            "startTime": "2024-07-01T16:00:00.000Z",
            "endTime": "2024-07-30T16:00:00.000Z",
            "metricType": "ProvisionedConcurrencyUtilization",
            "metricTarget": 0.3,
            "minCapacity": 2,
            "maxCapacity": 30,
        }
    ]
}


# ------------------------------------------------------------------- helpers


def endpoint(srv):
    return srv.addr if srv.addr.startswith("unix:") else "http://" + srv.addr


def cli(frost_bin, srv, args, cwd, env=None, expect=0, home=None):
    """Runs `frost ARGS` against srv; checks the exit status (None = any)."""
    e = {"HOME": home or str(cwd), "WEB_TIMEOUT": "60"}
    if srv is not None:
        e["FROST_ENDPOINT"] = endpoint(srv)
    e.update(env or {})
    r = run_frost(frost_bin, args, env=e, cwd=str(cwd), timeout=60)
    assert_no_sanitizer_report(r.stderr)
    if expect is not None:
        assert r.returncode == expect, "frost %s exited %s\nstdout:\n%s\nstderr:\n%s" % (
            " ".join(args), r.returncode, r.stdout, r.stderr)
    return r


def api(srv, path):
    """(status, JSON body) of an unsigned GET."""
    try:
        with urllib.request.urlopen("http://%s%s" % (srv.addr, path), timeout=20) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def api_post(srv, path, body):
    req = urllib.request.Request("http://%s%s" % (srv.addr, path), data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=20) as resp:
        return resp.status, json.loads(resp.read())


def make_project(tmp_path, text=S_YAML):
    proj = tmp_path / "proj"
    code = proj / "code"
    (code / "lib").mkdir(parents=True)
    (code / ".git").mkdir()
    (code / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    boot = code / "bootstrap"
    boot.write_text("#!/bin/sh\nexec python3 -m http.server 9000\n")
    boot.chmod(0o755)
    (code / "lib" / "data.txt").write_text("data\n")
    os.symlink("lib/data.txt", str(code / "link"))
    (proj / "s.yaml").write_text(text)
    (proj / "provision.json").write_text(json.dumps(PROVISION_JSON))
    return proj


def deploy_json(frost_bin, srv, proj, *args, env=None, expect=0):
    r = cli(frost_bin, srv, ["deploy", "--json"] + list(args), proj, env=env, expect=expect)
    return json.loads(r.stdout), r


def results(summary):
    """{(functionName, kind, name): result}"""
    return {(c["functionName"], c["kind"], c["name"]): c["result"] for c in summary["changes"]}


def check_deployed(srv):
    st, fn = api(srv, FC + "/functions/gpu-porn-detection")
    assert st == 200, fn
    assert fn["runtime"] == "custom-container"
    assert fn["timeout"] == 1200
    assert fn["instanceConcurrency"] == 1
    assert fn["memorySize"] == 8192
    assert fn["gpuConfig"] == {"gpuMemorySize": 8192, "gpuType": "fc.gpu.tesla.1"}
    assert fn["environmentVariables"] == {"FCGPU_RUNTIME_SHMSIZE": "8589934592", "WORKERS": "4"}
    assert "region" not in fn
    st, trig = api(srv, FC + "/functions/gpu-porn-detection/triggers/httpTrigger")
    assert st == 200, trig
    assert trig["triggerType"] == "http"
    cfg = json.loads(trig["triggerConfig"])
    assert cfg["authType"] == "anonymous"
    assert cfg["methods"] == ["GET", "POST"]
    st, prov = api(srv, FC + "/functions/gpu-porn-detection/provision-config")
    assert st == 200, prov
    assert prov["defaultTarget"] == 1
    assert prov["alwaysAllocateGPU"] is False
    assert prov["targetTrackingPolicies"][0]["maxCapacity"] == 30
    assert "mode" not in prov
    st, conc = api(srv, FC + "/functions/gpu-porn-detection/concurrency")
    assert st == 200 and conc["reservedConcurrency"] == 10, conc
    st, asy = api(srv, FC + "/functions/gpu-porn-detection/async-invoke-config")
    assert st == 200 and asy["maxAsyncRetryAttempts"] == 1, asy
    st, web = api(srv, FC + "/functions/cli-web")
    assert st == 200, web
    assert web["runtime"] == "custom.debian10"
    assert web["timeout"] == 60
    st, wt = api(srv, FC + "/functions/cli-web/triggers/web")
    assert st == 200, wt
    return fn, web


# --------------------------------------------------------------------- tests


def test_deploy_creates_then_unchanged_then_updated(frost_factory, frost_bin, tmp_path):
    srv = frost_factory()
    proj = make_project(tmp_path)

    r = cli(frost_bin, srv, ["deploy"], proj)
    assert "created" in r.stdout
    assert "gpu-porn-detection" in r.stdout and "cli-web" in r.stdout
    assert "provisionConfig.mode" in r.stderr  # the CLI-only key is noted, not sent
    fn, web = check_deployed(srv)

    # The code folder arrived zipped: exec bit, symlink, no .git.
    code = os.path.join(srv.data_dir, "code", web["codeChecksum"])
    boot = os.stat(os.path.join(code, "bootstrap"))
    assert stat.S_IMODE(boot.st_mode) == 0o755
    assert stat.S_IMODE(os.stat(os.path.join(code, "lib", "data.txt")).st_mode) == 0o644
    assert os.readlink(os.path.join(code, "link")) == "lib/data.txt"
    assert not os.path.exists(os.path.join(code, ".git"))
    with open(os.path.join(srv.data_dir, "code", web["codeChecksum"] + ".zip"), "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == web["codeChecksum"]

    # Again: nothing to do. Touching files changes nothing either (the zip is
    # deterministic).
    os.utime(str(proj / "code" / "bootstrap"), (1, 1))
    summary, _ = deploy_json(frost_bin, srv, proj)
    res = results(summary)
    assert set(res.values()) == {"unchanged"}, summary
    assert res[("gpu-porn-detection", "function", "gpu-porn-detection")] == "unchanged"
    assert res[("gpu-porn-detection", "trigger", "httpTrigger")] == "unchanged"
    assert res[("gpu-porn-detection", "provisionConfig", "")] == "unchanged"
    assert res[("gpu-porn-detection", "concurrencyConfig", "")] == "unchanged"
    assert res[("gpu-porn-detection", "asyncInvokeConfig", "")] == "unchanged"
    assert res[("cli-web", "function", "cli-web")] == "unchanged"
    st, again = api(srv, FC + "/functions/gpu-porn-detection")
    assert again["lastModifiedTime"] == fn["lastModifiedTime"]

    # Change a field, a trigger, a config, the code.
    text = (S_YAML.replace("timeout: 1200", "timeout: 600")
            .replace("              - POST", "              - PUT")
            .replace("reservedConcurrency: 10", "reservedConcurrency: 5"))
    (proj / "s.yaml").write_text(text)
    (proj / "code" / "lib" / "data.txt").write_text("more data\n")
    summary, _ = deploy_json(frost_bin, srv, proj, env={"WEB_TIMEOUT": "90"})
    rows = {(c["functionName"], c["kind"], c["name"]): c for c in summary["changes"]}
    f = rows[("gpu-porn-detection", "function", "gpu-porn-detection")]
    assert f["result"] == "updated" and f["changed"] == ["timeout"], f
    t = rows[("gpu-porn-detection", "trigger", "httpTrigger")]
    assert t["result"] == "updated" and t["changed"] == ["triggerConfig"], t
    assert rows[("gpu-porn-detection", "concurrencyConfig", "")]["result"] == "updated"
    assert rows[("gpu-porn-detection", "provisionConfig", "")]["result"] == "unchanged"
    w = rows[("cli-web", "function", "cli-web")]
    assert w["result"] == "updated" and sorted(w["changed"]) == ["code", "timeout"], w
    st, fn2 = api(srv, FC + "/functions/gpu-porn-detection")
    assert fn2["timeout"] == 600
    st, web2 = api(srv, FC + "/functions/cli-web")
    assert web2["timeout"] == 90 and web2["codeChecksum"] == w["codeChecksum"] != web["codeChecksum"]
    st, trig = api(srv, FC + "/functions/gpu-porn-detection/triggers/httpTrigger")
    assert json.loads(trig["triggerConfig"])["methods"] == ["GET", "PUT"]

    # A trigger made elsewhere is kept and reported.
    api_post(srv, FC + "/functions/cli-web/triggers",
             {"triggerName": "other", "triggerType": "http",
              "triggerConfig": json.dumps({"authType": "anonymous", "methods": ["POST"]})})
    r = cli(frost_bin, srv, ["deploy", "--function", "web"], proj, env={"WEB_TIMEOUT": "90"})
    assert "kept" in r.stdout and "other" in r.stdout
    assert "gpu-porn-detection" not in r.stdout  # --function selected one resource
    assert api(srv, FC + "/functions/cli-web/triggers/other")[0] == 200


def test_function_commands(frost_factory, frost_bin, tmp_path):
    srv = frost_factory()
    proj = make_project(tmp_path)
    cli(frost_bin, srv, ["deploy"], proj)

    r = cli(frost_bin, srv, ["function", "list"], proj)
    lines = r.stdout.splitlines()
    assert lines[0].split()[:2] == ["NAME", "RUNTIME"]
    assert any(l.startswith("cli-web ") for l in lines)
    assert any(l.startswith("gpu-porn-detection ") and "fc.gpu.tesla.1" in l for l in lines)

    listed = json.loads(cli(frost_bin, srv, ["function", "list", "--json"], proj).stdout)
    assert sorted(f["functionName"] for f in listed["functions"]) == ["cli-web", "gpu-porn-detection"]
    one = json.loads(cli(frost_bin, srv, ["function", "list", "--json", "--limit", "1"], proj).stdout)
    assert [f["functionName"] for f in one["functions"]] == ["cli-web"]
    pre = json.loads(cli(frost_bin, srv, ["function", "list", "--json", "--prefix", "gpu"], proj).stdout)
    assert [f["functionName"] for f in pre["functions"]] == ["gpu-porn-detection"]

    # Pages are followed: 105 functions come back from one list.
    for i in range(103):
        api_post(srv, FC + "/functions", {
            "functionName": "bulk-%03d" % i, "runtime": "custom-container",
            "customContainerConfig": {"image": "registry.example/x:1"}})
    many = json.loads(cli(frost_bin, srv, ["function", "list", "--json"], proj).stdout)
    assert len(many["functions"]) == 105

    got = json.loads(cli(frost_bin, srv, ["function", "get", "gpu-porn-detection"], proj).stdout)
    assert got["functionName"] == "gpu-porn-detection" and got["timeout"] == 1200

    # Removing asks first; without a terminal and without -y it refuses.
    r = cli(frost_bin, srv, ["function", "remove", "gpu-porn-detection"], proj, expect=2)
    assert "-y" in r.stderr
    assert api(srv, FC + "/functions/gpu-porn-detection")[0] == 200
    r = cli(frost_bin, srv, ["function", "remove", "gpu-porn-detection", "-y"], proj)
    assert "removed" in r.stdout
    st, body = api(srv, FC + "/functions/gpu-porn-detection")
    assert st == 404 and body["Code"] == "FunctionNotFound"
    # Its configs and triggers went with it.
    assert api(srv, FC + "/functions/gpu-porn-detection/provision-config")[0] == 404
    r = cli(frost_bin, srv, ["function", "get", "gpu-porn-detection"], proj, expect=1)
    assert "frost: FunctionNotFound: function gpu-porn-detection does not exist (request " in r.stderr
    r = cli(frost_bin, srv, ["function", "remove", "gpu-porn-detection", "-y"], proj, expect=1)
    assert "FunctionNotFound" in r.stderr


def test_restart_keeps_everything(frost_factory, frost_bin, tmp_path):
    srv = frost_factory()
    proj = make_project(tmp_path)
    cli(frost_bin, srv, ["deploy"], proj)
    srv2 = restart(frost_factory, srv)
    check_deployed(srv2)
    listed = json.loads(cli(frost_bin, srv2, ["function", "list", "--json"], proj).stdout)
    assert sorted(f["functionName"] for f in listed["functions"]) == ["cli-web", "gpu-porn-detection"]
    summary, _ = deploy_json(frost_bin, srv2, proj)
    assert set(results(summary).values()) == {"unchanged"}, summary


def test_provision_commands_like_s(frost_factory, frost_bin, tmp_path):
    srv = frost_factory()
    # One resource: FUNCTION can come from the s.yaml, as with `s provision`.
    single = S_YAML[: S_YAML.index("  web:\n")]
    single = single[: single.index("      provisionConfig:")] + single[single.index("      concurrencyConfig:"):]
    proj = make_project(tmp_path, single)
    cli(frost_bin, srv, ["deploy"], proj)
    assert api(srv, FC + "/functions/gpu-porn-detection/provision-config")[0] == 404

    # Seed 002's command line, word for word after `s`.
    r = cli(frost_bin, srv, ["provision", "put", "--target", "1", "--targetTrackingPolicies",
                             "./provision.json", "--qualifier", "LATEST", "-t", "s.yaml", "-a",
                             "default"], proj)
    assert "gpu-porn-detection" in r.stdout
    st, prov = api(srv, FC + "/functions/gpu-porn-detection/provision-config")
    assert st == 200 and prov["target"] == 1, prov
    assert prov["targetTrackingPolicies"] == PROVISION_JSON["targetTrackingPolicies"]

    r = cli(frost_bin, srv, ["provision", "put", "gpu-porn-detection", "--default-target", "2",
                             "--ac=false", "--ag", "--scheduled-actions",
                             '[{"name": "night", "scheduleExpression": "cron(0 0 22 * * *)", '
                             '"target": 0}]', "--json"], proj)
    put = json.loads(r.stdout)
    assert put["defaultTarget"] == 2 and put["alwaysAllocateCPU"] is False
    assert put["alwaysAllocateGPU"] is True and put["scheduledActions"][0]["name"] == "night"

    got = json.loads(cli(frost_bin, srv, ["provision", "get", "gpu-porn-detection"], proj).stdout)
    assert got["defaultTarget"] == 2
    r = cli(frost_bin, srv, ["provision", "list"], proj)
    assert r.stdout.splitlines()[0].split()[:2] == ["FUNCTION", "TARGET"]
    assert "gpu-porn-detection" in r.stdout
    listed = json.loads(cli(frost_bin, srv, ["provision", "list", "--json"], proj).stdout)
    assert len(listed["provisionConfigs"]) == 1
    cli(frost_bin, srv, ["provision", "remove", "gpu-porn-detection"], proj)
    assert api(srv, FC + "/functions/gpu-porn-detection/provision-config")[0] == 404
    r = cli(frost_bin, srv, ["provision", "remove", "gpu-porn-detection"], proj, expect=1)
    assert "ProvisionConfigNotFound" in r.stderr

    r = cli(frost_bin, srv, ["provision", "put", "gpu-porn-detection", "--target", "x"], proj,
            expect=2)
    assert "--target" in r.stderr
    r = cli(frost_bin, srv, ["provision", "put", "gpu-porn-detection", "--target-tracking-policies",
                             "missing.json"], proj, expect=2)
    assert "missing.json" in r.stderr


def test_signed_requests(frost_factory, frost_bin, tmp_path):
    srv = frost_factory("--set", "auth.keys=%s:%s" % (KEY_ID, KEY_SECRET))
    proj = make_project(tmp_path)
    good = {"FROST_ACCESS_KEY_ID": KEY_ID, "FROST_ACCESS_KEY_SECRET": KEY_SECRET}
    cli(frost_bin, srv, ["deploy"], proj, env=good)
    r = cli(frost_bin, srv, ["function", "list", "--json"], proj, env=good)
    assert len(json.loads(r.stdout)["functions"]) == 2
    summary, _ = deploy_json(frost_bin, srv, proj, env=good)
    assert set(results(summary).values()) == {"unchanged"}

    bad = {"FROST_ACCESS_KEY_ID": KEY_ID, "FROST_ACCESS_KEY_SECRET": "wrong"}
    r = cli(frost_bin, srv, ["function", "list"], proj, env=bad, expect=1)
    assert "SignatureNotMatch" in r.stderr
    r = cli(frost_bin, srv, ["deploy"], proj, env=bad, expect=1)
    assert "SignatureNotMatch" in r.stderr
    r = cli(frost_bin, srv, ["function", "list"], proj, expect=1)
    assert "MissingAuthorization" in r.stderr
    # Flags win over the environment.
    cli(frost_bin, srv, ["function", "list", "--access-key-secret", KEY_SECRET,
                             "--access-key-id", KEY_ID], proj, env=bad)
    # ~/.frost/config supplies what flags and environment do not.
    home = tmp_path / "home"
    (home / ".frost").mkdir(parents=True)
    (home / ".frost" / "config").write_text(
        "# frost CLI settings\nendpoint: %s\naccess_key_id: %s\naccess_key_secret: %s\n"
        % (endpoint(srv), KEY_ID, KEY_SECRET))
    r = cli(frost_bin, None, ["function", "list", "--json"], proj, home=str(home))
    assert len(json.loads(r.stdout)["functions"]) == 2
    # Only an id, no secret: a usage error before anything is sent.
    r = cli(frost_bin, srv, ["function", "list"], proj, env={"FROST_ACCESS_KEY_ID": KEY_ID},
            expect=2)
    assert "secret" in r.stderr


def test_endpoints(frost_factory, frost_bin, tmp_path):
    proj = make_project(tmp_path)
    # ./frost-data/frost.addr of a server started here is found.
    srv = frost_factory(data_dir=str(proj / "frost-data"))
    r = cli(frost_bin, None, ["function", "list"], proj)
    assert r.stdout == "no functions\n"
    # A unix socket.
    sock = str(tmp_path / "frost.sock")
    usrv = frost_factory(listen="unix:" + sock)
    cli(frost_bin, usrv, ["deploy", "--function", "gpu-porn-detection"], proj)
    r = cli(frost_bin, None, ["function", "list", "--json", "--endpoint", "unix:" + sock], proj)
    assert [f["functionName"] for f in json.loads(r.stdout)["functions"]] == ["gpu-porn-detection"]
    # Nothing listening: an actionable message, exit 1.
    srv.stop()
    r = cli(frost_bin, None, ["function", "list", "--endpoint", "http://127.0.0.1:9"], tmp_path,
            expect=1)
    assert "cannot reach frost at http://127.0.0.1:9" in r.stderr
    assert "frost serve" in r.stderr and "FROST_ENDPOINT" in r.stderr
    stale = tmp_path / "stale"
    (stale / "frost-data").mkdir(parents=True)
    (stale / "frost-data" / "frost.addr").write_text("127.0.0.1:9\n")
    r = cli(frost_bin, None, ["function", "list"], stale, expect=1)
    assert "cannot reach frost at http://127.0.0.1:9 (from ./frost-data/frost.addr)" in r.stderr
    r = cli(frost_bin, None, ["function", "list", "--endpoint", "ftp://x"], tmp_path, expect=2)
    assert "ftp://x" in r.stderr


def test_usage_and_input_errors(frost_factory, frost_bin, tmp_path):
    for args in (["deploy", "--help"], ["function", "--help"], ["function", "list", "--help"],
                 ["function", "get", "--help"], ["function", "remove", "--help"],
                 ["provision", "--help"], ["provision", "put", "--help"], ["help", "deploy"]):
        r = cli(frost_bin, None, args, tmp_path)
        assert "Usage: frost" in r.stdout, args
    for args in (["deploy", "--bogus"], ["function"], ["function", "frob"], ["function", "get"],
                 ["provision", "frob"], ["function", "list", "extra"]):
        r = cli(frost_bin, None, args, tmp_path, expect=2)
        assert r.stderr, args

    srv = frost_factory()
    proj = make_project(tmp_path)
    r = cli(frost_bin, srv, ["deploy", "-t", "nope.yaml"], proj, expect=2)
    assert "nope.yaml: cannot open" in r.stderr
    (proj / "bad.yaml").write_text("edition: 1.0.0\nresources: {}\n")
    r = cli(frost_bin, srv, ["deploy", "-t", "bad.yaml"], proj, expect=2)
    assert "bad.yaml:1: edition" in r.stderr
    (proj / "comp.yaml").write_text("edition: 3.0.0\nresources:\n  x:\n    component: fc\n"
                                    "    props: {functionName: x}\n")
    r = cli(frost_bin, srv, ["deploy", "-t", "comp.yaml"], proj, expect=2)
    assert "comp.yaml:4: resources.x.component" in r.stderr
    (proj / "nocode.yaml").write_text(S_YAML.replace("./code", "./missing"))
    r = cli(frost_bin, srv, ["deploy", "-t", "nocode.yaml"], proj, expect=2)
    assert "missing" in r.stderr
    r = cli(frost_bin, srv, ["deploy", "--function", "nope"], proj, expect=2)
    assert "nope" in r.stderr
    assert api(srv, FC + "/functions")[1]["functions"] == []  # nothing was sent
    # The server refuses an invalid field: exit 1 with FC's error.
    (proj / "inv.yaml").write_text(S_YAML.replace("timeout: 1200", "timeout: 999999"))
    r = cli(frost_bin, srv, ["deploy", "-t", "inv.yaml"], proj, expect=1)
    assert "InvalidArgument" in r.stderr and "timeout" in r.stderr
