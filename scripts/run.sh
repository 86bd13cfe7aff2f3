#!/usr/bin/env bash
# `make run`: start frost serve in the foreground of this terminal, and deploy
# the example functions (examples/*/s.yaml) once it listens. Ctrl-C stops it
# gracefully.
set -euo pipefail
FROST=${1:-build/frost}
LISTEN=${2:-127.0.0.1:9800}
DATA_DIR=${3:-./frost-data}
# Simulated GPUs unless told otherwise (FROST_GPUS=none, or real ones once the NVIDIA
# backend exists): examples/infer-py asks for a slice of a T4-class card.
GPUS=${FROST_GPUS:-sim:1xT4-16GB}

"$FROST" serve --listen "$LISTEN" --data-dir "$DATA_DIR" --gpus "$GPUS" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true' INT TERM

deadline=$((SECONDS + 30))
while [ ! -s "$DATA_DIR/frost.addr" ]; do
  if ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid"
    exit $?
  fi
  [ $SECONDS -lt $deadline ] || { echo "run: frost did not start listening" >&2; kill -TERM "$pid"; exit 1; }
  sleep 0.1
done
endpoint="http://$(cat "$DATA_DIR/frost.addr")"
# Examples with native code are built first (ocr-c needs libtesseract).
for mk in examples/*/Makefile; do
  [ -f "$mk" ] || continue
  make -s -C "$(dirname "$mk")" || echo "run: building $(dirname "$mk") failed; it will not deploy" >&2
done
for f in examples/*/s.yaml; do
  FROST_ENDPOINT="$endpoint" "$FROST" deploy -t "$f" || echo "run: deploying $f failed (see above)" >&2
done
echo "run: frost is serving at $endpoint (Ctrl-C to stop). Try:"
echo "  curl $endpoint/healthz"
for t in examples/*/try.txt; do
  [ -f "$t" ] && sed -e "s#{endpoint}#$endpoint#g" -e "s#^#  #" "$t"
done
wait "$pid"
