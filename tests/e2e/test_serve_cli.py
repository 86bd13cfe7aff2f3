"""`frost` and `frost serve` as a program: flags, config, files, signals, logs."""

import os
import signal
import socket

import pytest

from conftest import HttpConn, assert_no_sanitizer_report, build_request, run_frost, wait_for


def connect_refused(srv):
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect(srv.sockaddr)
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    finally:
        s.close()
    return False


# --------------------------------------------------------------------- help


def test_frost_help(frost_bin):
    r = run_frost(frost_bin, ["--help"])
    assert r.returncode == 0, r.stderr
    assert "serve" in r.stdout
    assert "Usage" in r.stdout
    assert_no_sanitizer_report(r.stderr)


def test_frost_without_command_is_usage_error(frost_bin):
    r = run_frost(frost_bin, [])
    assert r.returncode != 0
    assert "Usage" in r.stderr
    assert_no_sanitizer_report(r.stderr)


def test_frost_unknown_command(frost_bin):
    r = run_frost(frost_bin, ["frobnicate"])
    assert r.returncode != 0
    assert "frobnicate" in r.stderr
    assert_no_sanitizer_report(r.stderr)


def test_frost_version(frost_bin):
    r = run_frost(frost_bin, ["version"])
    assert r.returncode == 0
    assert r.stdout.startswith("frost ")
    assert_no_sanitizer_report(r.stderr)


@pytest.mark.parametrize("argv", [["serve", "--help"], ["serve", "-h"], ["help", "serve"]])
def test_serve_help(frost_bin, argv):
    r = run_frost(frost_bin, argv)
    assert r.returncode == 0, r.stderr
    for opt in ("--listen", "--data-dir", "--config", "--set", "--print-config", "--test-routes", "--log-level"):
        assert opt in r.stdout, "%s missing from `frost %s`" % (opt, " ".join(argv))
    assert_no_sanitizer_report(r.stderr)


def test_serve_unknown_option(frost_bin, tmp_path):
    r = run_frost(frost_bin, ["serve", "--data-dir", str(tmp_path / "d"), "--bogus-flag"])
    assert r.returncode != 0
    assert "bogus-flag" in r.stderr, r.stderr
    assert "--help" in r.stderr or "unknown" in r.stderr or "unrecognized" in r.stderr
    assert not os.path.exists(tmp_path / "d" / "frost.addr")
    assert_no_sanitizer_report(r.stderr)


def test_serve_stray_argument(frost_bin, tmp_path):
    r = run_frost(frost_bin, ["serve", "--data-dir", str(tmp_path / "d"), "extra"])
    assert r.returncode != 0
    assert "extra" in r.stderr
    assert_no_sanitizer_report(r.stderr)


def test_serve_bad_set_value(frost_bin, tmp_path):
    r = run_frost(frost_bin, ["serve", "--data-dir", str(tmp_path / "d"), "--set", "http.header_timeout=10"])
    assert r.returncode != 0
    assert "http.header_timeout" in r.stderr and "unit" in r.stderr, r.stderr
    r = run_frost(frost_bin, ["serve", "--data-dir", str(tmp_path / "d"), "--set", "no.such.key=1s"])
    assert r.returncode != 0
    assert "no.such.key" in r.stderr, r.stderr
    assert_no_sanitizer_report(r.stderr)


# ------------------------------------------------------------------- config


def test_config_file_unknown_key(frost_bin, tmp_path):
    cfg = tmp_path / "frost.yaml"
    cfg.write_text("log_level: info\nhttp:\n  header_timout: 5s\n")
    r = run_frost(frost_bin, ["serve", "--config", str(cfg), "--data-dir", str(tmp_path / "d")])
    assert r.returncode != 0
    assert "header_timout" in r.stderr, r.stderr
    assert "frost.yaml:3" in r.stderr, "the message must name the file and line: %r" % r.stderr
    assert "http.header_timeout" in r.stderr, "expected a suggestion: %r" % r.stderr
    assert not os.path.exists(tmp_path / "d" / "frost.pid")
    assert_no_sanitizer_report(r.stderr)


def test_config_file_missing(frost_bin, tmp_path):
    r = run_frost(frost_bin, ["serve", "--config", str(tmp_path / "nope.yaml")])
    assert r.returncode != 0
    assert "nope.yaml" in r.stderr
    assert_no_sanitizer_report(r.stderr)


def test_config_file_is_used(frost_factory, tmp_path):
    cfg = tmp_path / "frost.yaml"
    cfg.write_text("http:\n  keepalive_timeout: 250ms\n  max_header_bytes: 2KiB\n")
    srv = frost_factory("--config", str(cfg))
    r = srv.request("GET", "/healthz", [("X-Pad", "p" * 3000)])
    assert r.status == 431, r
    with srv.connect() as c:
        assert c.request("GET", "/healthz").status == 200
        assert c.wait_closed(10)


def test_env_var_listen_used(frost_factory, tmp_path):
    sock_path = str(tmp_path / "frost.sock")
    srv = frost_factory(listen=None, env={"FROST_LISTEN": "unix:" + sock_path})
    assert srv.addr == "unix:" + sock_path
    with HttpConn(sock_path) as c:
        r = c.request("GET", "/healthz")
        assert r.status == 200 and r.json() == {"status": "ok"}


def test_flag_overrides_env(frost_factory, tmp_path):
    srv = frost_factory(env={"FROST_LISTEN": "unix:" + str(tmp_path / "x.sock"), "FROST_HTTP_KEEPALIVE_TIMEOUT": "200ms"})
    assert srv.addr.startswith("127.0.0.1:")
    srv.healthz()
    # The environment still sets what no flag overrides.
    with srv.connect() as c:
        assert c.request("GET", "/healthz").status == 200
        assert c.wait_closed(10)


def test_unknown_frost_env_var_is_warned_about(frost_factory):
    srv = frost_factory(env={"FROST_HTTP_HEADER_TIMOUT": "5s"})
    srv.healthz()
    kv = wait_for(lambda: next(iter(srv.log_lines("config_env_ignored")), None), 10, "config_env_ignored warning")
    assert "FROST_HTTP_HEADER_TIMOUT" in kv.get("variables", ""), kv


def test_env_var_bad_value(frost_bin, tmp_path):
    r = run_frost(frost_bin, ["serve", "--data-dir", str(tmp_path / "d")], env={"FROST_HTTP_HEADER_TIMEOUT": "10"})
    assert r.returncode != 0
    assert "FROST_HTTP_HEADER_TIMEOUT" in r.stderr, r.stderr
    assert_no_sanitizer_report(r.stderr)


def test_runner_frost_env_does_not_leak(frost_factory, monkeypatch):
    # conftest drops FROST_* of the test runner from the child's environment.
    monkeypatch.setenv("FROST_HTTP_MAX_HEADER_BYTES", "1KiB")
    srv = frost_factory()
    r = srv.request("GET", "/healthz", [("X-Pad", "p" * 3000)])
    assert r.status == 200


def test_print_config_round_trip(frost_bin, frost_factory, tmp_path):
    data = str(tmp_path / "pc-data")
    args = [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data,
        "--set",
        "http.header_timeout=1500ms",
        "--set",
        "http.max_body_bytes=1500",
        "--set",
        "http.keepalive_timeout=90s",
        "--log-level",
        "warn",
    ]
    r = run_frost(frost_bin, args + ["--print-config"])
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "header_timeout: 1500ms" in out
    assert "max_body_bytes: 1500" in out
    assert "keepalive_timeout: 90s" in out
    assert not os.path.exists(data), "--print-config must not create the data dir"
    cfg = tmp_path / "printed.yaml"
    cfg.write_text(out)
    r2 = run_frost(frost_bin, ["serve", "--config", str(cfg), "--print-config"])
    assert r2.returncode == 0, r2.stderr
    assert r2.stdout == out
    # And the printed file starts a server as it is.
    srv = frost_factory("--config", str(cfg), listen=None, data_dir=False, wait=False)
    srv.data_dir = data
    srv.wait_ready()
    srv.healthz()
    assert_no_sanitizer_report(r.stderr + r2.stderr)


# ------------------------------------------------------------ files/instances


def test_pid_and_addr_files(frost):
    with open(frost.pid_path) as f:
        assert f.read() == "%d\n" % frost.pid
    with open(frost.addr_path) as f:
        text = f.read()
    assert text == "127.0.0.1:%d\n" % frost.port
    assert frost.port > 0
    frost.healthz()


def test_second_serve_same_data_dir_fails(frost, frost_bin):
    r = run_frost(frost_bin, ["serve", "--listen", "127.0.0.1:0", "--data-dir", frost.data_dir], timeout=30)
    assert r.returncode != 0
    assert "in use" in r.stderr, r.stderr
    assert_no_sanitizer_report(r.stderr)
    # The first one is untouched.
    with open(frost.pid_path) as f:
        assert f.read() == "%d\n" % frost.pid
    with open(frost.addr_path) as f:
        assert f.read().strip() == frost.addr
    frost.healthz()


def test_listen_address_in_use(frost, frost_factory, tmp_path):
    other = frost_factory(listen=frost.addr, wait=False)
    other.expected_exit = None
    rc = other.wait_exit(30)
    assert rc != 0
    assert "cannot listen" in other.stderr_text() or "in use" in other.stderr_text()
    assert_no_sanitizer_report(other.stderr_text())
    frost.healthz()


def test_restart_on_same_data_dir(frost_factory, tmp_path):
    d = str(tmp_path / "shared")
    a = frost_factory(data_dir=d)
    a.healthz()
    assert a.stop() == 0
    b = frost_factory(data_dir=d)
    b.healthz()


# ----------------------------------------------------------------- signals


def test_sigterm_drains_in_flight_request(frost):
    c = frost.connect(timeout=30)
    c.send(build_request("GET", "/_test/sleep?ms=1500"))
    # Barrier: once another client has been answered, the loop has read the
    # sleeping request too (it arrived first).
    frost.healthz()
    frost.send_signal(signal.SIGTERM)
    # The listener closes...
    wait_for(lambda: connect_refused(frost), 10, "the listener to close")
    # ...while the request in flight still gets its answer.
    r = c.read_response(timeout=30)
    assert r.status == 200, r
    assert r.json() == {"slept": True}
    assert r.wants_close(), "a response during drain must carry Connection: close: %r" % r.headers
    assert c.wait_closed(10)
    c.close()
    assert frost.wait_exit(30) == 0
    assert not os.path.exists(frost.addr_path)
    assert not os.path.exists(frost.pid_path)
    text = frost.stderr_text()
    assert "shutdown_started" in text
    assert_no_sanitizer_report(text)


def test_sigterm_closes_idle_keepalive_connections(frost):
    c = frost.connect()
    assert c.request("GET", "/healthz").status == 200
    frost.send_signal(signal.SIGTERM)
    assert c.wait_closed(20), "idle keep-alive connection kept open during shutdown"
    assert frost.wait_exit(30) == 0
    c.close()


def test_sigint_clean_exit(frost):
    frost.healthz()
    frost.send_signal(signal.SIGINT)
    assert frost.wait_exit(30) == 0
    assert not os.path.exists(frost.addr_path)
    assert not os.path.exists(frost.pid_path)


def test_shutdown_grace_cuts_long_requests(frost_factory):
    srv = frost_factory("--set", "http.shutdown_grace=300ms")
    c = srv.connect(timeout=30)
    c.send(build_request("GET", "/_test/sleep?ms=60000"))
    srv.healthz()
    srv.send_signal(signal.SIGTERM)
    assert c.wait_closed(20), "the request in flight was not cut at the grace deadline"
    assert srv.wait_exit(30) == 0
    c.close()
    assert not os.path.exists(srv.addr_path)


def test_second_signal_forces_exit(frost_factory):
    srv = frost_factory("--set", "http.shutdown_grace=60s")
    c = srv.connect(timeout=30)
    c.send(build_request("GET", "/_test/sleep?ms=60000"))
    srv.healthz()
    srv.send_signal(signal.SIGTERM)
    wait_for(lambda: "shutdown_started" in srv.stderr_text(), 10, "shutdown_started in the log")
    srv.send_signal(signal.SIGTERM)
    rc = srv.wait_exit(30)
    c.close()
    assert rc == 0
    assert_no_sanitizer_report(srv.stderr_text())


# --------------------------------------------------------------------- logs


def test_startup_log_line(frost):
    def serving():
        return next((kv for kv in frost.log_lines("serving")), None)

    kv = wait_for(serving, 10, "the serving log line")
    assert kv["address"] == frost.addr
    assert kv["pid"] == str(frost.pid)


def test_log_level_warn_silences_access_log(frost_factory):
    srv = frost_factory(log_level="warn")
    srv.healthz()
    srv.healthz()
    assert srv.stop() == 0
    assert "event=http_request" not in srv.stderr_text()


def test_log_file(frost_factory, tmp_path):
    log = tmp_path / "frost.log"
    srv = frost_factory("--log-file", str(log))
    r = srv.request("GET", "/healthz")
    rid = r.header("x-fc-request-id")
    wait_for(lambda: log.exists() and rid in log.read_text(), 10, "the request id in the log file")
    assert "event=http_request" not in srv.stderr_text()
