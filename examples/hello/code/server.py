#!/usr/bin/env python3
"""hello: the smallest useful Frost function (an FC custom runtime).

It is a web server listening on FC_SERVER_PORT. Frost sends it:
  POST /initialize   once, before the first request (warm-up: load models here)
  POST /invoke       for InvokeFunction calls (body = the event)
  any method/path    for requests through its HTTP trigger (/fn/hello/...)
  GET  /pre-stop     before the instance is stopped
"""
import http.server
import json
import os

PORT = int(os.environ.get("FC_SERVER_PORT", "9000"))
GREETING = os.environ.get("GREETING", "Hello")
state = {"initialized": False, "requests": 0}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, status, body, ctype="text/plain; charset=utf-8"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n).decode(errors="replace") if n else ""

    def do_POST(self):
        text = self.body()
        if self.path == "/initialize":
            state["initialized"] = True
            self.reply(200, "ready")
            return
        state["requests"] += 1
        who = text.strip() or "world"
        self.reply(200, "%s, %s! (instance %s, request %s)\n" % (
            GREETING, who, os.environ.get("FC_INSTANCE_ID", "?"),
            self.headers.get("x-fc-request-id", "?")))

    def do_GET(self):
        if self.path == "/pre-stop":
            self.reply(200, "bye")
            return
        info = {"function": os.environ.get("FC_FUNCTION_NAME"), "path": self.path,
                "initialized": state["initialized"], "requests": state["requests"]}
        self.reply(200, json.dumps(info) + "\n", "application/json")

    def log_message(self, fmt, *args):
        print("hello: " + fmt % args, flush=True)


if __name__ == "__main__":
    print("hello: listening on %d" % PORT, flush=True)
    http.server.ThreadingHTTPServer(("0.0.0.0", PORT), Handler).serve_forever()
