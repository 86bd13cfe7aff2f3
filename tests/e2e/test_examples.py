"""The example functions in examples/: echo-py (Python, standard library) and ocr-c
(C + libtesseract).

Each function is first run directly, as Frost would run it (FC_SERVER_PORT set, its
command started in its code folder), and talked to over HTTP. Then both are deployed with
`frost deploy -t examples/<x>/s.yaml` to a real `frost serve` and used through it
(InvokeFunction, the HTTP trigger); echo-py's lifecycle hooks are checked on an instance
started by hand through the --test-routes.

Run with:  /usr/bin/python3 -m pytest -q tests/e2e/test_examples.py --frost=build/frost

ocr-c tests skip (saying why) when libtesseract-dev, libleptonica-dev or the English model
(tesseract-ocr-eng) are missing: scripts/install-deps.sh installs them. Every wait has a
deadline; nothing sleeps and hopes.
"""

import base64
import http.client
import importlib.util
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
import zlib

import pytest

from conftest import REPO_ROOT, HttpConn, assert_no_sanitizer_report, run_frost, wait_for
from inst_helpers import Sandbox, function_uid, port_range_args, start_instance, stop_instance

FC = "/2023-03-30"
EXAMPLES = os.path.join(REPO_ROOT, "examples")
ECHO = os.path.join(EXAMPLES, "echo-py")
OCR = os.path.join(EXAMPLES, "ocr-c")
IO = 20.0  # deadline for one answer that should come promptly
TESSDATA = "/usr/share/tesseract-ocr/5/tessdata"  # Debian's tesseract-ocr-eng


# ------------------------------------------------------------ running a function


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Function:
    """A function's command run by hand, the way Frost starts an instance: in its code
    folder, with FC_SERVER_PORT and friends in a clean environment."""

    def __init__(self, argv, cwd, log_path, env=None, instance="i-test-1", name="example"):
        self.port = free_port()
        self.instance = instance
        self.log_path = log_path
        self._log = open(log_path, "wb")
        base = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": "/tmp",
            "LANG": "C.UTF-8",
            "FC_SERVER_PORT": str(self.port),
            "FC_CUSTOM_LISTEN_PORT": str(self.port),
            "FC_INSTANCE_ID": instance,
            "FC_FUNCTION_NAME": name,
            "FC_FUNC_CODE_PATH": cwd,
        }
        base.update(env or {})
        self.proc = subprocess.Popen(argv, cwd=cwd, env=base, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT)

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_listening(self, timeout=IO):
        def up():
            if self.proc.poll() is not None:
                pytest.fail("function exited with %s before listening:\n%s" % (self.proc.returncode, self.log()))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                return False

        wait_for(up, timeout, "the function to listen on %d" % self.port)
        return self

    def wait_exit(self, timeout=IO):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail("function did not exit within %.0fs:\n%s" % (timeout, self.log()))

    def conn(self, timeout=IO):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def raw(self, timeout=IO):
        return HttpConn(("127.0.0.1", self.port), timeout=timeout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=IO)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


@pytest.fixture
def spawn(tmp_path):
    """spawn(argv, cwd, env=None, wait=True) -> a listening Function; all stopped after."""
    started = []

    def start(argv, cwd, env=None, wait=True, **kw):
        fn = Function(argv, cwd, str(tmp_path / ("fn%d.log" % len(started))), env, **kw)
        started.append(fn)
        return fn.wait_listening() if wait else fn

    yield start
    for fn in started:
        fn.stop()


def call(conn, method, path, body=None, headers=None):
    """One request on an http.client connection: (status, {lower name: value}, body)."""
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    data = r.read()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


# ------------------------------------------------------------------ echo-py


def echo(spawn, **env):
    return spawn(["python3", "server.py"], os.path.join(ECHO, "code"), env=env)


def test_echo_invoke_echoes_body_and_describes_request(spawn):
    fn = echo(spawn)
    c = fn.conn()
    body = bytes(range(256)) * 4  # not UTF-8: must come back byte for byte
    st, hs, data = call(c, "POST", "/invoke?a=1&b=x%20y", body, {
        "Content-Type": "application/x-test",
        "x-fc-request-id": "req-1",
        "x-fc-function-name": "echo-py",
        "x-fc-control-path": "/invoke",
        "x-fc-access-key-secret": "must-not-come-back",
    })
    assert st == 200
    assert data == body
    assert hs["content-type"] == "application/x-test"
    assert hs["x-echo-method"] == "POST"
    assert hs["x-echo-path"] == "/invoke"
    assert hs["x-echo-query"] == "a=1&b=x%20y"
    assert hs["x-echo-request-id"] == "req-1"
    assert hs["x-echo-function-name"] == "echo-py"
    assert hs["x-echo-control-path"] == "/invoke"
    assert hs["x-echo-instance"] == fn.instance
    assert hs["x-echo-body-length"] == str(len(body))
    assert hs["x-echo-count"] == "1"
    assert "must-not-come-back" not in json.dumps(hs)

    # Keep-alive: the next requests reuse the same connection.
    sock = c.sock
    for n in (2, 3):
        st, hs, data = call(c, "POST", "/invoke", b"again")
        assert (st, data, hs["x-echo-count"]) == (200, b"again", str(n))
        assert c.sock is sock, "the connection was not kept alive"
    st, hs, data = call(c, "POST", "/invoke", b"")  # an empty event
    assert (st, data, hs["x-echo-body-length"]) == (200, b"", "0")
    c.close()


def test_echo_initialize_and_pre_stop(spawn):
    fn = echo(spawn, ECHO_INIT_MS="300")
    c = fn.conn()
    st, hs, _ = call(c, "POST", "/invoke", b"x")
    assert hs["x-echo-initialized"] == "false"

    t0 = time.monotonic()
    st, _, data = call(c, "POST", "/initialize", b"", {"x-fc-request-id": "init-1",
                                                          "x-fc-control-path": "/initialize"})
    assert st == 200
    assert time.monotonic() - t0 >= 0.3, "ECHO_INIT_MS was not honoured"
    doc = json.loads(data)
    assert doc["initialized"] is True and doc["instance"] == fn.instance and doc["calls"] == 1

    st, hs, _ = call(c, "POST", "/invoke", b"x")
    assert hs["x-echo-initialized"] == "true"
    st, _, data = call(c, "GET", "/pre-stop")
    assert st == 200 and json.loads(data)["count"] == 2
    c.close()
    assert "initialized (call 1, request init-1)" in fn.log()

    # Frost's stop: SIGTERM after /pre-stop, answered with a clean exit.
    fn.proc.send_signal(signal.SIGTERM)
    assert fn.wait_exit() == 0


def test_echo_trigger_requests_pass_through(spawn):
    fn = echo(spawn)
    c = fn.conn()
    for method in ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
        body = ("%s body \u00e9" % method).encode() if method != "GET" else None
        st, hs, data = call(c, method, "/some/path/?q=1&r=%C3%A9", body,
                               {"X-Custom": "v1", "Authorization": "secret"})
        assert st == 200, (method, data)
        doc = json.loads(data)
        assert doc["method"] == method
        assert doc["path"] == "/some/path/"
        assert doc["query"] == "q=1&r=%C3%A9"
        assert doc["headers"]["x-custom"] == "v1"
        assert doc["headers"]["authorization"] == "<redacted>"
        assert ["X-Custom", "v1"] in doc["rawHeaders"]
        assert doc["instance"] == fn.instance and doc["functionName"] == "example"
        assert doc["bodyEncoding"] == "utf-8"
        assert doc["body"] == (body.decode() if body else "")

    # HEAD: the head of the GET answer, no body; the connection stays usable.
    st, hs, data = call(c, "HEAD", "/p")
    assert st == 200 and data == b"" and int(hs["content-length"]) > 0
    # A body that is not UTF-8 comes back in base64.
    blob = b"\xff\x00\xfe binary"
    st, _, data = call(c, "POST", "/bin", blob)
    doc = json.loads(data)
    assert doc["bodyEncoding"] == "base64" and base64.b64decode(doc["body"]) == blob
    # The control path header wins over the path: a trigger request for /invoke.
    st, _, data = call(c, "POST", "/invoke", b"t", {"x-fc-control-path": "/http-invoke"})
    assert json.loads(data)["path"] == "/invoke"
    c.close()

    # A chunked request body (a trigger request may arrive so), then a pipelined request.
    with fn.raw() as rc:
        rc.send(b"POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
                b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
        first = rc.read_response("POST").json()
        assert (first["path"], first["body"], first["bodyLength"]) == ("/chunked", "hello world", 11)
        assert rc.read_response("GET").json()["path"] == "/next"
        # Broken framing: 400, and the connection is closed.
        r = rc.request("POST", "/bad", headers=[("Transfer-Encoding", "chunked")], body=b"zz\r\n")
        assert r.status == 400 and r.wants_close()
        assert rc.wait_closed(IO)


def test_echo_serves_requests_concurrently(spawn):
    """instanceConcurrency > 1 relies on this: N slow requests at once take about as long
    as one, not N times as long."""
    n, sleep_ms = 8, 1000
    fn = echo(spawn, ECHO_SLEEP_MS=str(sleep_ms))
    results = []
    lock = threading.Lock()

    def one(i):
        c = fn.conn()
        try:
            st, hs, data = call(c, "POST", "/invoke", b"%d" % i)
            with lock:
                results.append((st, data, hs["x-echo-sleep-ms"]))
        finally:
            c.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(IO)
    elapsed = time.monotonic() - t0
    assert sorted(results) == sorted((200, b"%d" % i, str(sleep_ms)) for i in range(n))
    # Serially this takes n seconds; overlapping, about one.
    assert elapsed < n * sleep_ms / 1000.0 / 2, "requests did not overlap: %.1fs" % elapsed

    # The per-request override.
    c = fn.conn()
    st, hs, _ = call(c, "POST", "/invoke", b"", {"x-echo-sleep-ms": "0"})
    assert hs["x-echo-sleep-ms"] == "0"
    c.close()


def test_echo_sleep_mix(spawn):
    fn = echo(spawn, ECHO_SLEEP_MIX="50:0, 50:20")
    c = fn.conn()
    seen = set()
    for _ in range(80):  # missing one of two 50 % choices 80 times: p = 2^-79
        st, hs, _ = call(c, "POST", "/invoke", b"")
        seen.add(hs["x-echo-sleep-ms"])
    c.close()
    assert seen == {"0", "20"}


def test_echo_bad_sleep_mix_refuses_to_start(spawn):
    fn = spawn(["python3", "server.py"], os.path.join(ECHO, "code"), env={"ECHO_SLEEP_MIX": "80:10,x"},
               wait=False)
    assert fn.wait_exit() != 0
    assert "ECHO_SLEEP_MIX" in fn.log()


def test_echo_fail_after_exits(spawn):
    fn = echo(spawn, ECHO_FAIL_AFTER="3")
    c = fn.conn()
    # Control requests do not count.
    assert call(c, "POST", "/initialize", b"")[0] == 200
    assert call(c, "GET", "/pre-stop")[0] == 200
    assert call(c, "POST", "/invoke", b"1")[0] == 200
    assert call(c, "GET", "/via/trigger")[0] == 200
    st, _, data = call(c, "POST", "/invoke", b"3")  # the third is answered in full...
    assert (st, data) == (200, b"3")
    assert fn.wait_exit() == 3  # ...and then the process is gone
    c.close()
    assert "ECHO_FAIL_AFTER=3 reached" in fn.log()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", fn.port), timeout=IO).close()


# -------------------------------------------------------------------- ocr-c

def load_text_png():
    """examples/ocr-c/text_png.py, the example's test-image maker (PNGs of text drawn with
    a block font: no PIL, no ImageMagick and its fonts)."""
    spec = importlib.util.spec_from_file_location("text_png", os.path.join(OCR, "text_png.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


text_png = load_text_png()
render_png = text_png.render_png
PANGRAM = "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG 0123456789"


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def tesseract_missing():
    """Why ocr-c cannot be built or run here, or None."""
    if shutil.which("pkg-config") is None:
        return "pkg-config is not installed"
    if subprocess.run(["pkg-config", "--exists", "tesseract", "lept"]).returncode != 0:
        return "libtesseract-dev / libleptonica-dev are not installed (scripts/install-deps.sh)"
    if not os.environ.get("TESSDATA_PREFIX") and not os.path.exists(os.path.join(TESSDATA, "eng.traineddata")):
        return "the English model is not installed (tesseract-ocr-eng, scripts/install-deps.sh)"
    return None


@pytest.fixture(scope="module")
def ocr_example(tmp_path_factory):
    """A copy of examples/ocr-c with code/ocr built by its Makefile (the copy keeps the
    tests from writing into the source tree)."""
    why = tesseract_missing()
    if why:
        pytest.skip("ocr-c: " + why)
    dst = str(tmp_path_factory.mktemp("ocr") / "ocr-c")
    shutil.copytree(OCR, dst, ignore=shutil.ignore_patterns("ocr"))  # not a stale binary
    r = subprocess.run(["make", "-C", dst], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=300)
    assert r.returncode == 0, "make -C examples/ocr-c failed:\n" + r.stdout
    assert os.access(os.path.join(dst, "code", "ocr"), os.X_OK)
    return dst


def ocr(spawn, example, **env):
    return spawn(["./ocr"], os.path.join(example, "code"), env=dict(env, OMP_THREAD_LIMIT="1"))


def check_ocr(doc):
    text = doc["text"].lower()
    assert "hello" in text and "frost" in text, doc
    assert isinstance(doc["confidence"], int) and 0 <= doc["confidence"] <= 100, doc
    assert isinstance(doc["ms"], (int, float)) and doc["ms"] >= 0, doc


def test_ocr_build_sh(tmp_path):
    """code/build.sh builds the same binary where make is not at hand."""
    why = tesseract_missing()
    if why:
        pytest.skip("ocr-c: " + why)
    code = str(tmp_path / "code")
    shutil.copytree(os.path.join(OCR, "code"), code, ignore=shutil.ignore_patterns("ocr"))
    r = subprocess.run(["sh", "build.sh"], cwd=code, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stdout
    assert os.access(os.path.join(code, "ocr"), os.X_OK)


def test_ocr_initialize_then_invoke(spawn, ocr_example):
    fn = ocr(spawn, ocr_example)
    c = fn.conn(timeout=60)
    st, _, data = call(c, "GET", "/")
    assert st == 200 and json.loads(data)["initialized"] is False
    st, _, data = call(c, "POST", "/initialize", b"", {"x-fc-control-path": "/initialize"})
    assert st == 200, data
    doc = json.loads(data)
    assert doc["initialized"] is True and doc["lang"] == "eng"
    png = render_png("HELLO FROST")
    st, hs, data = call(c, "POST", "/invoke", png, {"Content-Type": "image/png"})
    assert st == 200, data
    assert hs["content-type"] == "application/json"
    doc = json.loads(data)
    check_ocr(doc)
    assert (doc["width"], doc["height"]) == png_dims(png)

    # Keep-alive through errors: each 400 leaves the connection usable.
    sock = c.sock
    st, _, data = call(c, "POST", "/invoke", b"")
    assert st == 400 and json.loads(data)["error"] == "EmptyBody"
    st, _, data = call(c, "POST", "/invoke", b"this is not a PNG at all")
    assert st == 400 and json.loads(data)["error"] == "NotAnImage"
    st, _, data = call(c, "POST", "/invoke", png[:len(png) // 2])  # truncated
    assert st == 400 and json.loads(data)["error"] == "NotAnImage"
    st, _, data = call(c, "POST", "/invoke", bomb_png())
    assert st == 400 and json.loads(data)["error"] == "ImageTooLarge"
    st, _, data = call(c, "POST", "/invoke", png)  # still fine after the errors
    assert st == 200
    check_ocr(json.loads(data))
    assert c.sock is sock, "the connection was not kept alive"
    st, _, data = call(c, "GET", "/pre-stop")
    assert st == 200
    c.close()

    fn.proc.send_signal(signal.SIGTERM)
    assert fn.wait_exit() == 0
    assert "ocr: stopping" in fn.log()


def png_dims(png):
    return struct.unpack(">II", png[16:24])


def bomb_png():
    """A few hundred bytes that claim 60000 x 60000 pixels."""
    return (b"\x89PNG\r\n\x1a\n"
            + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 60000, 60000, 8, 0, 0, 0, 0))
            + png_chunk(b"IDAT", zlib.compress(b"\x00" * 1000))
            + png_chunk(b"IEND", b""))


def test_ocr_invoke_before_initialize_loads_lazily(spawn, ocr_example):
    fn = ocr(spawn, ocr_example)
    c = fn.conn(timeout=60)
    # Every glyph of the example's font, at two sizes.
    for scale in (3, 6):
        st, _, data = call(c, "POST", "/invoke", render_png(PANGRAM, scale))
        assert st == 200, data
        assert json.loads(data)["text"].split() == PANGRAM.split(), (scale, data)
    st, _, data = call(c, "GET", "/status")
    doc = json.loads(data)
    assert doc["initialized"] is True and doc["requests"] == 2 and doc["instance"] == fn.instance
    # A later /initialize finds the model loaded.
    st, _, data = call(c, "POST", "/initialize", b"")
    assert st == 200 and json.loads(data)["alreadyLoaded"] is True
    c.close()


def test_ocr_http_framing(spawn, ocr_example):
    """What a proxy or curl may send: Expect: 100-continue, chunked bodies, pipelining,
    HTTP/1.0, and garbage."""
    fn = ocr(spawn, ocr_example)
    png = render_png("HELLO FROST")
    with fn.raw(timeout=60) as rc:
        # Expect: 100-continue: the interim answer comes before the body is sent.
        rc.send(b"POST /invoke HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                b"Content-Length: %d\r\n\r\n" % len(png))
        interim = rc.read_response("POST", interim=True)
        assert interim.status == 100
        rc.send(png)
        r = rc.read_response("POST")
        assert r.status == 200
        check_ocr(r.json())
        # A chunked body and a pipelined request behind it, answered in order.
        pieces = [png[i:i + 1000] for i in range(0, len(png), 1000)]
        rc.send(b"".join([
            b"POST /invoke HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"".join(b"%x\r\n" % len(p) + p + b"\r\n" for p in pieces),
            b"0\r\n\r\n",
            b"GET /pre-stop HTTP/1.1\r\nHost: x\r\n\r\n",
        ]))
        r = rc.read_response("POST")
        assert r.status == 200
        check_ocr(r.json())
        assert rc.read_response("GET").json()["ok"] is True
        # A body over the limit is refused from its head alone.
        r = rc.request("POST", "/invoke", headers=[("Content-Length", "999999999")])
        assert r.status == 413 and r.wants_close()
        assert rc.wait_closed(IO)
    with fn.raw() as rc:
        rc.send(b"NONSENSE\r\n\r\n")
        r = rc.read_response()
        assert r.status == 400 and r.json()["error"] == "BadRequest"
        assert rc.wait_closed(IO)
    with fn.raw() as rc:  # HTTP/1.0 without keep-alive: answered, then closed
        rc.send(b"GET / HTTP/1.0\r\n\r\n")
        r = rc.read_response()
        assert r.status == 200 and r.wants_close()
        assert rc.wait_closed(IO)
    assert fn.proc.poll() is None


# ------------------------------------------------------------ deployed to Frost


@pytest.fixture
def box():
    """A data dir the function user can reach (pytest's tmp_path is under a 0700 dir).
    Requested before frost_factory, so frost is stopped before it is removed."""
    b = Sandbox()
    yield b
    b.cleanup()


def deploy(frost_bin, srv, s_yaml, home):
    """`frost deploy -t s_yaml --json` against srv: {functionName/kind/name: result}."""
    r = run_frost(frost_bin, ["deploy", "-t", s_yaml, "--json"], timeout=60,
                  env={"FROST_ENDPOINT": "http://" + srv.addr, "HOME": home})
    assert_no_sanitizer_report(r.stderr)
    assert r.returncode == 0, "frost deploy -t %s exited %d\n%s\n%s" % (s_yaml, r.returncode, r.stdout, r.stderr)
    summary = json.loads(r.stdout)
    return {"%s/%s/%s" % (c["functionName"], c["kind"], c["name"]): c["result"] for c in summary["changes"]}


def api_get(srv, path):
    r = srv.request("GET", FC + path)
    assert r.status == 200, (path, r.status, r.body)
    return r.json()


def instance_uid(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                return int(line.split()[1])
    return None


def instance_log(srv, fn, iid):
    r = srv.request("GET", "%s/functions/%s/instances/%s/logs?tail=50" % (FC, fn, iid))
    return r.body.decode("utf-8", "replace") if r.status == 200 else ""


def start_running(srv, fn, timeout=IO):
    """start_ok, with the instance's own log in the failure message."""
    st, j = start_instance(srv, fn, timeout)
    assert st == 200 and j["status"] == "Running", "instance of %s did not start: %d %r\ninstance log:\n%s" % (
        fn, st, j, instance_log(srv, fn, j.get("instanceId", "-")))
    return j


def serve(box, frost_factory):
    return frost_factory(*port_range_args(), data_dir=box.data_dir())


def invoke(srv, fn, body, headers=None, timeout=IO):
    """InvokeFunction through Frost: the raw Response."""
    return srv.request("POST", "%s/functions/%s/invocations" % (FC, fn), headers=headers, body=body,
                       timeout=timeout)


def test_examples_deploy(box, frost_factory, frost_bin, tmp_path):
    """Both s.yaml files, straight from the source tree, as `frost deploy -t` reads them."""
    srv = serve(box, frost_factory)
    home = str(tmp_path)
    echo_yaml, ocr_yaml = os.path.join(ECHO, "s.yaml"), os.path.join(OCR, "s.yaml")
    assert deploy(frost_bin, srv, echo_yaml, home) == {
        "echo-py/function/echo-py": "created", "echo-py/trigger/http": "created"}
    assert deploy(frost_bin, srv, ocr_yaml, home) == {
        "ocr-c/function/ocr-c": "created", "ocr-c/trigger/http": "created"}

    fn = api_get(srv, "/functions/echo-py")
    assert fn["runtime"] == "custom.debian12"
    assert fn["customRuntimeConfig"]["command"] == ["python3", "server.py"]
    assert fn["instanceConcurrency"] > 1
    assert set(fn["instanceLifecycleConfig"]) == {"initializer", "preStop"}
    cfg = json.loads(api_get(srv, "/functions/echo-py/triggers/http")["triggerConfig"])
    assert cfg["authType"] == "anonymous"
    assert set(cfg["methods"]) == {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"}

    fn = api_get(srv, "/functions/ocr-c")
    assert fn["runtime"] == "custom.debian12"
    assert fn["customRuntimeConfig"]["command"] == ["./ocr"]
    assert fn["instanceConcurrency"] == 1
    assert fn["environmentVariables"]["OMP_THREAD_LIMIT"] == "1"
    assert set(fn["instanceLifecycleConfig"]) == {"initializer", "preStop"}
    cfg = json.loads(api_get(srv, "/functions/ocr-c/triggers/http")["triggerConfig"])
    assert cfg["authType"] == "anonymous"

    names = {f["functionName"] for f in api_get(srv, "/functions")["functions"]}
    assert {"echo-py", "ocr-c"} <= names
    # Deploying again changes nothing.
    for path in (echo_yaml, ocr_yaml):
        assert set(deploy(frost_bin, srv, path, home).values()) == {"unchanged"}


def test_echo_under_frost(box, frost_factory, frost_bin, tmp_path):
    """echo-py run by Frost: InvokeFunction and the HTTP trigger reach it with FC's
    headers; an instance started by hand gets /initialize and, when stopped, /pre-stop."""
    srv = serve(box, frost_factory)
    deploy(frost_bin, srv, os.path.join(ECHO, "s.yaml"), str(tmp_path))

    r = invoke(srv, "echo-py", b"via frost", headers={"x-echo-sleep-ms": "0"})
    assert (r.status, r.body) == (200, b"via frost"), r
    assert r.header("x-echo-control-path") == "/invoke"
    assert r.header("x-echo-function-name") == "echo-py"
    assert r.header("x-echo-request-id") == r.header("x-fc-request-id")
    assert r.header("x-echo-initialized") == "true"  # Frost called /initialize first
    assert r.header("x-echo-instance") == r.header("x-fc-instance-id")

    for method in ("GET", "PUT", "DELETE", "PATCH", "POST"):
        body = None if method == "GET" else b"trigger " + method.encode()
        r = srv.request(method, "/fn/echo-py/a/b?x=1&y=%20", headers={"X-Custom": "c1"}, body=body)
        assert r.status == 200, (method, r)
        doc = r.json()
        assert (doc["method"], doc["path"], doc["query"]) == (method, "/a/b", "x=1&y=%20")
        assert doc["headers"]["x-custom"] == "c1"
        assert doc["headers"]["x-fc-control-path"] == "/http-invoke"
        assert doc["body"] == (body.decode() if body else "")
    r = srv.request("HEAD", "/fn/echo-py/h")
    assert r.status == 200 and r.body == b""

    j = start_running(srv, "echo-py")
    if os.geteuid() == 0:
        assert instance_uid(j["pid"]) == function_uid()
    c = http.client.HTTPConnection("127.0.0.1", j["port"], timeout=IO)
    st, hs, data = call(c, "POST", "/invoke", b"direct")
    assert (st, data, hs["x-echo-instance"]) == (200, b"direct", j["instanceId"])
    assert hs["x-echo-initialized"] == "true"
    c.close()
    st, _ = stop_instance(srv, j["instanceId"])
    assert st == 200
    wait_for(lambda: "pre-stop after 1 requests" in instance_log(srv, "echo-py", j["instanceId"]), IO,
             "echo-py's pre-stop line in its instance log")


def test_ocr_under_frost(box, frost_factory, frost_bin, tmp_path, ocr_example):
    """ocr-c run by Frost (as the function user when Frost is root, so the model must be
    readable by it): InvokeFunction and the HTTP trigger with a PNG."""
    srv = serve(box, frost_factory)
    with open(os.path.join(OCR, "s.yaml"), "rb") as a, open(os.path.join(ocr_example, "s.yaml"), "rb") as b:
        assert a.read() == b.read()
    deploy(frost_bin, srv, os.path.join(ocr_example, "s.yaml"), str(tmp_path))

    png = render_png("HELLO FROST")
    r = invoke(srv, "ocr-c", png, timeout=60)
    assert r.status == 200, (r, r.body)
    check_ocr(r.json())
    r = srv.request("POST", "/fn/ocr-c/", headers={"Content-Type": "image/png"}, body=png, timeout=60)
    assert r.status == 200, (r, r.body)
    check_ocr(r.json())
    r = invoke(srv, "ocr-c", b"not an image")
    assert r.status == 400 and r.json()["error"] == "NotAnImage"  # the function's own answer

    insts = api_get(srv, "/functions/ocr-c/instances")["instances"]
    running = [i for i in insts if i["status"] == "Running"]
    assert len(running) == 1, insts
    assert running[0]["coldStartPhases"]["initializeUs"] > 0
    if os.geteuid() == 0:
        assert instance_uid(running[0]["pid"]) == function_uid()


INFER = os.path.join(EXAMPLES, "infer-py")


def test_infer_py_provisioned_idle_mode(box, frost_factory, frost_bin, tmp_path):
    """examples/infer-py as `make run` deploys it (simulated T4): its provision
    config keeps one instance with the model loaded, frozen between requests
    with its GPU memory released, and each request wakes it."""
    srv = frost_factory(*port_range_args(), "--gpus", "sim:1xT4-16GB", "--set",
                        "sched.scale_interval=100ms", data_dir=box.data_dir())
    assert deploy(frost_bin, srv, os.path.join(INFER, "s.yaml"), str(tmp_path)) == {
        "infer-py/function/infer-py": "created", "infer-py/provisionConfig/": "created"}

    def frozen():
        for i in api_get(srv, "/functions/infer-py/instances")["instances"]:
            if i["kind"] == "provisioned-idle" and i["state"] == "frozen":
                return i
        return None

    inst = wait_for(frozen, 60, "infer-py's provisioned instance to load its model and freeze")
    assert inst["gpuMemoryMb"] == 0 and inst["gpuType"] == "T4", inst
    prov = api_get(srv, "/functions/infer-py/provision-config")
    assert prov["target"] == 1 and prov["current"] == 1 and prov["alwaysAllocateGPU"] is False
    for n in range(2):
        r = invoke(srv, "infer-py", b"a picture %d" % n)
        assert r.status == 200, r
        doc = r.json()
        assert doc["model"].startswith("resnet-sim") and doc["label"], doc
        assert doc["gpu"]["simulated"] is True and doc["gpu"]["memoryMb"] == 4096, doc
        assert r.header("x-fc-instance-id") == inst["instanceId"]
        again = wait_for(frozen, 30, "the instance to freeze again after request %d" % n)
        assert again["freezer"]["wakes"] >= n + 1, again
