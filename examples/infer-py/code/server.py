#!/usr/bin/env python3
"""infer-py: a stand-in for a real-time GPU inference service (seed 002), in an FC custom
runtime. Python standard library only; it does no real GPU work.

  POST /initialize  "loads the model" (MODEL_LOAD_MS, default 800 ms): the slow warm-up that
                    provisioned instances pay once, not per request
  POST /invoke      classifies the body: {"label", "score", "model", "gpu", "instance",
                    "servedBy", "warm"} — the label is derived from a hash of the input
  GET  /pre-stop    200

It reports the GPU Frost gave it (CUDA_VISIBLE_DEVICES, FROST_GPU_* env: on the sim backend
the device is simulated and says so), so the idle-mode walkthrough in the README can show a
provisioned instance that is frozen between requests and woken for each one.
"""
import hashlib
import http.server
import json
import os
import signal
import sys
import time

PORT = int(os.environ.get("FC_SERVER_PORT") or "9000")
LABELS = ["cat", "dog", "ship", "truck", "bird", "horse", "plane", "frog"]
state = {"model": None, "served": 0}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def answer(self, status, doc):
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_POST(self):
        path = self.headers.get("x-fc-control-path") or self.path
        data = self.body()
        if path == "/initialize":
            time.sleep(int(os.environ.get("MODEL_LOAD_MS", "800")) / 1000)
            state["model"] = "resnet-sim-%s" % os.environ.get("MODEL_VERSION", "1")
            print("model loaded: %s on %s" % (state["model"], gpu()["name"]), flush=True)
            self.answer(200, {"model": state["model"]})
            return
        if state["model"] is None:
            self.answer(503, {"error": "model not loaded: /initialize did not run"})
            return
        digest = hashlib.sha256(data).digest()
        state["served"] += 1
        self.answer(200, {
            "label": LABELS[digest[0] % len(LABELS)],
            "score": round(0.5 + digest[1] / 512, 3),
            "model": state["model"],
            "gpu": gpu(),
            "instance": os.environ.get("FC_INSTANCE_ID", ""),
            "servedBy": os.getpid(),
            "warm": state["served"] > 1,
        })

    def do_GET(self):
        if self.path.startswith("/pre-stop"):
            self.answer(200, {"served": state["served"]})
        else:
            self.answer(404, {"error": "POST /invoke"})


def gpu():
    return {
        "device": os.environ.get("CUDA_VISIBLE_DEVICES", ""),
        "name": os.environ.get("FROST_GPU_DEVICE_NAME", "none"),
        "memoryMb": int(os.environ.get("FROST_GPU_MEMORY_MB", "0")),
        "simulated": os.environ.get("FROST_GPU_SIMULATED") == "1",
    }


def main():
    server = http.server.ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.serve_forever()


if __name__ == "__main__":
    main()
