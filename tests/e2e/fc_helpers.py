"""Helpers for the FC 3.0 API end-to-end tests (test_fc_api.py): a small JSON
client over http.client, ACS3-HMAC-SHA256 request signing as the official SDKs
do it, zip building, and restarting a server on the same data dir.

stdlib only.
"""

import base64
import datetime
import hashlib
import hmac
import http.client
import io
import json
import os
import secrets
import signal
import stat
import urllib.parse
import warnings
import zipfile

FC = "/2023-03-30"
ALGORITHM = "ACS3-HMAC-SHA256"
API_VERSION = "2023-03-30"
UNRESERVED = "-_.~"


# ------------------------------------------------------------------- signing


def acs_date(when=None):
    """x-acs-date for `when` (aware datetime, default now)."""
    when = when or datetime.datetime.now(datetime.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _enc(s):
    return urllib.parse.quote(s, safe=UNRESERVED)


def canonical_uri(path):
    # Each byte outside the unreserved set percent-encoded, "/" kept. The
    # path is what goes on the wire; decode first so "%2F"-style escapes are
    # not encoded twice.
    return urllib.parse.quote(urllib.parse.unquote(path), safe=UNRESERVED + "/")


def canonical_query(query):
    if not query:
        return ""
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    pairs = sorted((_enc(k), _enc(v)) for k, v in pairs)
    return "&".join("%s=%s" % kv for kv in pairs)


def sign_headers(key_id, secret, method, path, query, host, body=b"", action="Frost", content_type=None,
                 date=None, nonce=None, extra=None):
    """The headers a signed request must carry (a list of (name, value)),
    Authorization included. path and query exactly as sent (query without "?")."""
    body = body or b""
    hs = {
        "host": host,
        "x-acs-action": action,
        "x-acs-content-sha256": hashlib.sha256(body).hexdigest(),
        "x-acs-date": date or acs_date(),
        "x-acs-signature-nonce": nonce or secrets.token_hex(32),
        "x-acs-version": API_VERSION,
    }
    if content_type:
        hs["content-type"] = content_type
    for k, v in (extra or {}).items():
        hs[k.lower()] = v
    names = sorted(hs)
    canon_headers = "".join("%s:%s\n" % (n, hs[n].strip()) for n in names)
    signed = ";".join(names)
    creq = "\n".join([
        method.upper(),
        canonical_uri(path),
        canonical_query(query),
        canon_headers,
        signed,
        hashlib.sha256(body).hexdigest(),
    ])
    sts = ALGORITHM + "\n" + hashlib.sha256(creq.encode()).hexdigest()
    sig = hmac.new(secret.encode(), sts.encode(), hashlib.sha256).hexdigest()
    out = [(n if n != "host" else "Host", v) for n, v in ((n, hs[n]) for n in names)]
    out.append(("Authorization", "%s Credential=%s,SignedHeaders=%s,Signature=%s" % (ALGORITHM, key_id, signed, sig)))
    return out


# -------------------------------------------------------------------- client


class FCError(AssertionError):
    pass


class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # list of (name, value)
        self.body = body

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    @property
    def json(self):
        return json.loads(self.body.decode("utf-8")) if self.body else None

    @property
    def code(self):
        j = self.json
        return j.get("Code") if isinstance(j, dict) else None

    @property
    def message(self):
        j = self.json
        return j.get("Message", "") if isinstance(j, dict) else ""

    def __repr__(self):
        return "<Reply %d %s>" % (self.status, self.body[:600].decode("utf-8", "replace"))


def check_reply(r):
    """What every FC answer must have: x-fc-request-id, and for errors a JSON
    body {Code, Message, RequestId} whose RequestId matches the header."""
    rid = r.header("x-fc-request-id")
    assert rid, "no x-fc-request-id on %r (%r)" % (r, r.headers)
    if r.status >= 400:
        j = r.json
        assert isinstance(j, dict), r
        assert isinstance(j.get("Code"), str) and j["Code"], r
        assert isinstance(j.get("Message"), str), r
        assert j.get("RequestId") == rid, "RequestId %r != x-fc-request-id %r" % (j.get("RequestId"), rid)


class Client:
    """A keep-alive JSON client for one frost server. Not thread-safe: one per
    thread. With key=(id, secret) every request is signed."""

    def __init__(self, host, port, key=None, timeout=20.0):
        self.host, self.port, self.key, self.timeout = host, port, key, timeout
        self.conn = None

    @classmethod
    def of(cls, srv, **kw):
        return cls(srv.host, srv.port, **kw)

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None

    def raw(self, method, target, body=None, headers=None, check=True):
        """One request; body is bytes or None. Returns a Reply."""
        hs = list(headers or [])
        if self.key and not any(k.lower() == "authorization" for k, _ in hs):
            path, _, query = target.partition("?")
            ctype = "application/json" if body is not None else None
            hs = [(k, v) for k, v in hs if k.lower() != "content-type"]
            hs += sign_headers(self.key[0], self.key[1], method, path, query,
                               "%s:%d" % (self.host, self.port), body or b"", content_type=ctype)
        elif body is not None and not any(k.lower() == "content-type" for k, _ in hs):
            hs.append(("Content-Type", "application/json"))
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.conn.putrequest(method, target, skip_host=any(k.lower() == "host" for k, _ in hs),
                                     skip_accept_encoding=True)
                for k, v in hs:
                    self.conn.putheader(k, v)
                if body is not None:
                    self.conn.putheader("Content-Length", str(len(body)))
                self.conn.endheaders(body)
                resp = self.conn.getresponse()
                data = resp.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # A keep-alive connection the server closed meanwhile: retry
                # once on a fresh one (never for a request it may have seen).
                self.close()
                if attempt:
                    raise
        r = Reply(resp.status, resp.getheaders(), data)
        if resp.will_close:
            self.close()
        if check:
            check_reply(r)
        return r

    def call(self, method, path, obj=None, query=None, raw_body=None, **kw):
        target = FC + path
        if query:
            target += "?" + urllib.parse.urlencode(query)
        body = raw_body if raw_body is not None else (json.dumps(obj).encode() if obj is not None else None)
        return self.raw(method, target, body, **kw)

    # -- shorthands that expect success

    def ok(self, method, path, obj=None, status=200, **kw):
        r = self.call(method, path, obj, **kw)
        if r.status != status:
            raise FCError("%s %s: expected %d, got %r" % (method, path, status, r))
        return r.json

    def create_function(self, doc):
        return self.ok("POST", "/functions", doc)

    def get_function(self, name):
        return self.ok("GET", "/functions/" + name)

    def list_all(self, path, field, page=100, **query):
        """Every item of a paged list, following nextToken."""
        items, token, pages = [], None, 0
        while True:
            q = dict(query, limit=page)
            if token:
                q["nextToken"] = token
            j = self.ok("GET", path, query=q)
            items += j[field]
            pages += 1
            token = j.get("nextToken")
            if not token:
                return items
            assert pages < 10000, "paging does not end"


def container_function(name, **extra):
    doc = {
        "functionName": name,
        "runtime": "custom-container",
        "customContainerConfig": {"image": "registry.example/ns/app:v1", "port": 9000},
    }
    doc.update(extra)
    return doc


# ----------------------------------------------------------------------- zips


def make_zip(entries):
    """entries: list of (name, bytes, mode) -> zip bytes. mode None = 0644
    file; a mode with a file type (stat.S_IFLNK | 0o777) is used as it is
    (for a symlink, data is the target)."""
    bio = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(bio, "w", zipfile.ZIP_DEFLATED) as z:
        warnings.simplefilter("ignore")  # duplicate names are made on purpose
        for name, data, mode in entries:
            zi = zipfile.ZipInfo(name, date_time=(2026, 11, 22, 0, 0, 0))
            zi.create_system = 3  # unix: external_attr carries the mode
            mode = mode if mode is not None else 0o644
            if not stat.S_IFMT(mode):
                mode |= stat.S_IFREG
            zi.external_attr = mode << 16
            zi.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(zi, data)
    return bio.getvalue()


def b64(data):
    return base64.b64encode(data).decode()


# ------------------------------------------------------------------- restart


def restart(frost_factory, srv, *args, sig=signal.SIGTERM, **kw):
    """Stops srv with sig and starts a new server on the same data dir (the
    same extra args). After SIGKILL the stale frost.addr is removed first so
    the new server's is the one waited for."""
    if sig == signal.SIGKILL:
        srv.expected_exit = -signal.SIGKILL
        srv.proc.send_signal(signal.SIGKILL)
        srv.wait_exit()
        for p in (srv.addr_path,):
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass
    else:
        rc = srv.stop(sig)
        assert rc == 0, "frost exited with %s:\n%s" % (rc, srv.stderr_text()[-3000:])
    return frost_factory(*args, data_dir=srv.data_dir, **kw)
