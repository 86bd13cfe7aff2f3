"""Shared fixtures and helpers for the end-to-end tests of `frost serve`.

Run with:  /usr/bin/python3 -m pytest -q tests/e2e --frost=build/frost

Everything here is stdlib + pytest.  Tests never sleep-and-hope: they wait for a
condition with a deadline (wait_for), and every socket read has a timeout.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

# Sanitizer reports that must never appear in frost's stderr.
SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:")

START_TIMEOUT = 20.0  # frost.addr must appear within this (generous: ASan start-up)
STOP_TIMEOUT = 30.0  # SIGTERM -> exit
IO_TIMEOUT = 20.0  # default deadline for one response


# --------------------------------------------------------------------- options


def pytest_addoption(parser):
    parser.addoption(
        "--frost",
        action="store",
        default=os.path.join(REPO_ROOT, "build", "frost"),
        help="path of the frost binary to test (default: build/frost in the repo root)",
    )


@pytest.fixture(scope="session")
def frost_bin(request):
    path = request.config.getoption("--frost")
    if not os.path.isabs(path):
        # Relative to where pytest was started, else relative to the repo root.
        cand = os.path.abspath(path)
        if not os.path.exists(cand):
            cand = os.path.join(REPO_ROOT, path)
        path = cand
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail("frost binary not found or not executable: %s" % path)
    return path


# --------------------------------------------------------------------- waiting


def wait_for(cond, timeout, what, interval=0.01):
    """Polls cond() until it returns a truthy value, which is returned.

    Fails the test with `what` when the deadline passes first.
    """
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= deadline:
            pytest.fail("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


# -------------------------------------------------------------------- env/proc


def clean_env(extra=None):
    """The environment for a child frost: the runner's, minus FROST_* variables."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("FROST_")}
    if extra:
        env.update(extra)
    return env


def run_frost(frost_bin, args, env=None, timeout=30, cwd=None):
    """Runs a short-lived frost command; returns CompletedProcess (text)."""
    return subprocess.run(
        [frost_bin] + list(args),
        env=clean_env(env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=timeout,
        text=True,
        errors="replace",
    )


def assert_no_sanitizer_report(text, who="frost"):
    for marker in SANITIZER_MARKERS:
        assert marker not in text, "%s stderr has a sanitizer report (%s):\n%s" % (
            who,
            marker,
            text[-8000:],
        )


def read_proc_status(pid, field):
    """A kB field of /proc/PID/status (VmRSS, VmHWM) in bytes."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


# ---------------------------------------------------------------- raw HTTP/1.1


class ConnectionClosed(Exception):
    """The peer closed (or reset) the connection before a full message arrived."""


class Response:
    def __init__(self, version, status, reason, headers, body, trailers=None, raw_head=b""):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (name, value), in order
        self.body = body
        self.trailers = trailers or []
        self.raw_head = raw_head
        self.chunked = False
        self.body_len = len(body) if body is not None else 0

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def has_header(self, name):
        return self.header(name) is not None

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def wants_close(self):
        conn = (self.header("connection") or "").lower()
        return "close" in [t.strip() for t in conn.split(",")]

    def __repr__(self):
        return "<Response %d %s %r body=%d bytes>" % (
            self.status,
            self.reason,
            self.headers,
            self.body_len,
        )


def build_request(method, target, headers=None, body=None, chunked=False, host="frost", version="HTTP/1.1"):
    """Bytes of one request.  headers: list of (name, value) or dict.

    A Content-Length is added for a bytes body unless chunked or already given;
    with chunked=True the body (bytes or list of bytes) is sent as chunks.
    """
    hs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    names = {k.lower() for k, _ in hs}
    if "host" not in names and host is not None:
        hs.insert(0, ("Host", host))
    payload = b""
    if chunked:
        if "transfer-encoding" not in names:
            hs.append(("Transfer-Encoding", "chunked"))
        pieces = body if isinstance(body, (list, tuple)) else ([body] if body else [])
        payload = b"".join(encode_chunk(p) for p in pieces if p) + b"0\r\n\r\n"
    elif body is not None:
        if "content-length" not in names:
            hs.append(("Content-Length", str(len(body))))
        payload = body
    head = "%s %s %s\r\n" % (method, target, version)
    head += "".join("%s: %s\r\n" % (k, v) for k, v in hs)
    head += "\r\n"
    return head.encode("latin-1") + payload


def encode_chunk(data):
    return b"%x\r\n" % len(data) + data + b"\r\n"


class HttpConn:
    """A raw client connection: send bytes, read whole responses, detect EOF."""

    def __init__(self, addr, timeout=IO_TIMEOUT, rcvbuf=None, family=None):
        self.timeout = timeout
        if isinstance(addr, str):  # unix socket path
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        else:
            self.sock = socket.socket(family or socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(addr)
        self.buf = bytearray()
        self.eof = False

    # -- plumbing

    def send(self, data):
        self.sock.sendall(data)

    def request(self, method, target, headers=None, body=None, chunked=False, **kw):
        """Sends one request and reads its (final) response."""
        self.send(build_request(method, target, headers, body, chunked))
        return self.read_response(method=method, **kw)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _fill(self, deadline, what):
        """Reads more bytes into self.buf; ConnectionClosed on EOF/reset."""
        if self.eof:
            raise ConnectionClosed("connection closed while reading %s" % what)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("timed out reading %s" % what)
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(1 << 20)
        except socket.timeout:
            raise TimeoutError("timed out reading %s" % what)
        except ConnectionResetError:
            self.eof = True
            raise ConnectionClosed("connection reset while reading %s" % what)
        if not data:
            self.eof = True
            raise ConnectionClosed("connection closed while reading %s" % what)
        self.buf += data

    def _read_line(self, deadline, what, limit=1 << 20):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[: i + 2]
                return line
            if len(self.buf) > limit:
                raise AssertionError("line too long while reading %s" % what)
            self._fill(deadline, what)

    def _read_exact(self, n, deadline, what, sink=None):
        """Reads n bytes; returns them, or feeds them to sink and returns b''."""
        out = [] if sink is None else None
        while n > 0:
            if not self.buf:
                self._fill(deadline, what)
            take = min(n, len(self.buf))
            piece = bytes(self.buf[:take])
            del self.buf[:take]
            n -= take
            if sink is None:
                out.append(piece)
            else:
                sink(piece)
        return b"".join(out) if out is not None else b""

    def read_head(self, timeout=None, what="response head"):
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while True:
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                raw = bytes(self.buf[: i + 4])
                del self.buf[: i + 4]
                break
            if len(self.buf) > (1 << 20):
                raise AssertionError("response head too long")
            self._fill(deadline, what)
        lines = raw[:-4].split(b"\r\n")
        parts = lines[0].decode("latin-1").split(" ", 2)
        assert len(parts) >= 2 and parts[0].startswith("HTTP/"), "bad status line %r" % lines[0]
        version, status = parts[0], int(parts[1])
        reason = parts[2] if len(parts) > 2 else ""
        headers = []
        for line in lines[1:]:
            name, sep, value = line.decode("latin-1").partition(":")
            assert sep, "bad header line %r" % line
            assert name == name.strip(), "whitespace around header name %r" % line
            headers.append((name, value.strip()))
        return Response(version, status, reason, headers, b"", raw_head=raw)

    def read_response(self, method="GET", timeout=None, sink=None, interim=False):
        """Reads one full response.

        Interim (1xx) responses are skipped unless interim=True, in which case
        the 1xx is returned as it is.  With sink, body bytes go to sink(bytes)
        and resp.body stays b'' (resp.body_len counts them).
        """
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while True:
            resp = self.read_head(timeout=max(0.0, deadline - time.monotonic()))
            if 100 <= resp.status < 200 and resp.status != 101:
                if interim:
                    return resp
                continue
            break
        count = [0]
        parts = []

        def collect(piece):
            count[0] += len(piece)
            if sink is None:
                parts.append(piece)
            else:
                sink(piece)

        te = (resp.header("transfer-encoding") or "").lower()
        cl = resp.header("content-length")
        no_body = method.upper() == "HEAD" or resp.status in (204, 304)
        if no_body:
            pass
        elif "chunked" in te:
            resp.chunked = True
            while True:
                line = self._read_line(deadline, "chunk size")
                size_s = line.split(b";", 1)[0].strip()
                size = int(size_s, 16)
                if size == 0:
                    break
                self._read_exact(size, deadline, "chunk data", sink=collect)
                crlf = self._read_exact(2, deadline, "chunk end")
                assert crlf == b"\r\n", "chunk not followed by CRLF: %r" % crlf
            while True:
                line = self._read_line(deadline, "trailers")
                if not line:
                    break
                name, _, value = line.decode("latin-1").partition(":")
                resp.trailers.append((name, value.strip()))
        elif cl is not None:
            assert len(resp.header_all("content-length")) == 1, "several Content-Length"
            self._read_exact(int(cl), deadline, "body (Content-Length %s)" % cl, sink=collect)
        else:
            # Close-delimited.
            while True:
                if self.buf:
                    collect(bytes(self.buf))
                    self.buf.clear()
                try:
                    self._fill(deadline, "close-delimited body")
                except ConnectionClosed:
                    break
        resp.body = b"".join(parts)
        resp.body_len = count[0]
        return resp

    def wait_closed(self, timeout):
        """True when the peer closes (EOF or reset) within timeout with no
        further data; fails the test if unexpected bytes arrive."""
        deadline = time.monotonic() + timeout
        while True:
            if self.buf:
                raise AssertionError("unexpected bytes before EOF: %r" % bytes(self.buf[:200]))
            try:
                self._fill(deadline, "EOF")
            except ConnectionClosed:
                return True
            except TimeoutError:
                return False


# ---------------------------------------------------------------- frost serve


class FrostServer:
    """A running `frost serve` child."""

    def __init__(self, frost_bin, data_dir, args, env, log_dir, name):
        self.frost_bin = frost_bin
        self.data_dir = data_dir
        self.args = args
        self.stderr_path = os.path.join(log_dir, "%s.stderr" % name)
        self.stdout_path = os.path.join(log_dir, "%s.stdout" % name)
        self._stderr = open(self.stderr_path, "wb")
        self._stdout = open(self.stdout_path, "wb")
        self.proc = subprocess.Popen(
            [frost_bin, "serve"] + args,
            env=clean_env(env),
            stdin=subprocess.DEVNULL,
            stdout=self._stdout,
            stderr=self._stderr,
            cwd=log_dir,
        )
        self.addr = None
        self.host = None
        self.port = None
        self.returncode = None
        self.expected_exit = 0

    @property
    def pid(self):
        return self.proc.pid

    @property
    def addr_path(self):
        return os.path.join(self.data_dir, "frost.addr")

    @property
    def pid_path(self):
        return os.path.join(self.data_dir, "frost.pid")

    def stderr_text(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_ready(self, timeout=START_TIMEOUT):
        def ready():
            if self.proc.poll() is not None:
                pytest.fail(
                    "frost serve exited with %s before listening:\n%s"
                    % (self.proc.returncode, self.stderr_text())
                )
            try:
                with open(self.addr_path) as f:
                    text = f.read()
            except FileNotFoundError:
                return None
            return text if text.endswith("\n") else None

        text = wait_for(ready, timeout, "frost.addr in %s" % self.data_dir)
        self.addr = text.strip()
        if self.addr.startswith("unix:"):
            self.host, self.port = None, None
        else:
            host, _, port = self.addr.rpartition(":")
            self.host, self.port = host.strip("[]"), int(port)
        return self

    @property
    def sockaddr(self):
        if self.addr.startswith("unix:"):
            return self.addr[5:]
        return (self.host, self.port)

    def connect(self, timeout=IO_TIMEOUT, rcvbuf=None):
        return HttpConn(self.sockaddr, timeout=timeout, rcvbuf=rcvbuf)

    def request(self, method, target, headers=None, body=None, chunked=False, timeout=IO_TIMEOUT, **kw):
        """One request on a fresh connection."""
        with self.connect(timeout=timeout) as c:
            return c.request(method, target, headers, body, chunked, **kw)

    def healthz(self, timeout=IO_TIMEOUT):
        r = self.request("GET", "/healthz", timeout=timeout)
        assert r.status == 200, r
        assert r.json() == {"status": "ok"}
        return r

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout=STOP_TIMEOUT):
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail("frost serve did not exit within %.0fs:\n%s" % (timeout, self.stderr_text()[-4000:]))
        return self.returncode

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.wait_exit(timeout)

    def close_files(self):
        for f in (self._stderr, self._stdout):
            try:
                f.close()
            except OSError:
                pass

    def log_lines(self, event=None):
        """Parsed key=value log lines (dicts), optionally only one event."""
        out = []
        for line in self.stderr_text().splitlines():
            kv = parse_log_line(line)
            if kv and (event is None or kv.get("event") == event):
                out.append(kv)
        return out


def parse_log_line(line):
    """key=value pairs of one log line; values may be "quoted"."""
    out = {}
    i, n = 0, len(line)
    while i < n:
        while i < n and line[i] == " ":
            i += 1
        j = line.find("=", i)
        if j < 0:
            break
        key = line[i:j]
        if " " in key:
            # free text: skip to the next space
            k = line.find(" ", i)
            if k < 0:
                break
            i = k
            continue
        j += 1
        if j < n and line[j] == '"':
            k = j + 1
            val = []
            while k < n and line[k] != '"':
                if line[k] == "\\" and k + 1 < n:
                    k += 1
                val.append(line[k])
                k += 1
            out[key] = "".join(val)
            i = k + 1
        else:
            k = line.find(" ", j)
            if k < 0:
                k = n
            out[key] = line[j:k]
            i = k
    return out


@pytest.fixture
def frost_factory(frost_bin, tmp_path):
    """start(*args, test_routes=True, env=None, listen=..., data_dir=..., wait=True)."""
    servers = []
    counter = [0]

    def start(*args, test_routes=True, env=None, listen="127.0.0.1:0", data_dir=None, wait=True, log_level=None):
        counter[0] += 1
        name = "frost%d" % counter[0]
        if data_dir is None:
            data_dir = str(tmp_path / ("data%d" % counter[0]))
        argv = []
        if listen is not None:
            argv += ["--listen", listen]
        if data_dir is not False:
            argv += ["--data-dir", data_dir]
        if test_routes:
            argv.append("--test-routes")
        if log_level:
            argv += ["--log-level", log_level]
        argv += list(args)
        srv = FrostServer(frost_bin, data_dir if data_dir else str(tmp_path), argv, env, str(tmp_path), name)
        servers.append(srv)
        if wait:
            srv.wait_ready()
        return srv

    yield start

    problems = []
    # Stop and reap them all first (a later server may share an earlier one's
    # data dir), then check each.
    for srv in servers:
        if srv.proc.poll() is None:
            srv.proc.send_signal(signal.SIGTERM)
    rcs = []
    for srv in servers:
        try:
            rcs.append(srv.proc.wait(timeout=STOP_TIMEOUT))
        except subprocess.TimeoutExpired:
            srv.proc.kill()
            srv.proc.wait()
            rcs.append(None)
            problems.append("frost (pid %d) did not exit within %ds of SIGTERM" % (srv.pid, STOP_TIMEOUT))
    for srv, rc in zip(servers, rcs):
        srv.close_files()
        if rc is None:
            continue
        text = srv.stderr_text()
        for marker in SANITIZER_MARKERS:
            if marker in text:
                problems.append("sanitizer report (%s) in frost stderr:\n%s" % (marker, text[-8000:]))
                break
        if srv.expected_exit is not None and rc != srv.expected_exit:
            problems.append("frost exited with %s, expected %s; stderr tail:\n%s" % (rc, srv.expected_exit, text[-3000:]))
        if rc == 0 and srv.addr is not None:
            for p in (srv.addr_path, srv.pid_path):
                if os.path.exists(p):
                    problems.append("%s still exists after a clean exit" % p)
    if problems:
        pytest.fail("\n\n".join(problems))


@pytest.fixture
def frost(frost_factory):
    """A frost serve with the test routes and default limits."""
    return frost_factory()


@pytest.fixture
def upstream():
    from upstream import Upstream

    up = Upstream()
    up.start()
    yield up
    up.stop()
