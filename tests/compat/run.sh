#!/usr/bin/env bash
# Compatibility suite: Frost's FC 3.0 API driven by the official Node SDK.
#
#   tests/compat/run.sh [path/to/frost]        (or FROST_BIN=path/to/frost)
#
# Installs the pinned SDK (package-lock.json) into tests/compat/node_modules
# when it is missing, starts `frost serve` on a free loopback port with a
# temporary data dir and an access key, runs `node --test` against it, then
# stops the server with SIGTERM and requires a clean exit (0).
#
# Exit codes: 0 pass, 1 failure, 77 skipped (no node or npm, or the SDK
# cannot be installed because the npm registry is unreachable).
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
SKIP=77

FROST="${1:-${FROST_BIN:-$REPO/build/frost}}"
KEY_ID="testKey"
KEY_SECRET="testSecret123"

say() { printf 'compat: %s\n' "$*" >&2; }

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    say "SKIP: node and npm are needed for the SDK compatibility suite (not found in PATH)"
    exit $SKIP
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "${node_major:-0}" -lt 18 ]; then
    say "SKIP: node $(node --version) is too old (the suite needs node >= 18: node --test, fetch)"
    exit $SKIP
fi
if [ ! -x "$FROST" ]; then
    say "FAIL: frost binary not found or not executable: $FROST"
    exit 1
fi
FROST="$(cd "$(dirname "$FROST")" && pwd)/$(basename "$FROST")"

# ---------------------------------------------------------------- the SDK

installed() {
    [ -f "$HERE/node_modules/@alicloud/fc20230330/package.json" ] &&
        [ -f "$HERE/node_modules/@alicloud/openapi-client/package.json" ] &&
        (cd "$HERE" && node -e 'require("@alicloud/fc20230330"); require("@alicloud/openapi-client")') >/dev/null 2>&1
}

if ! installed; then
    ok=0
    for attempt in 1 2; do
        say "installing the SDK (npm ci, attempt $attempt)"
        if (cd "$HERE" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error) >&2; then
            ok=1
            break
        fi
        sleep 5
    done
    if [ $ok -ne 1 ] || ! installed; then
        say "SKIP: cannot install the SDK with npm ci (is the npm registry reachable?)"
        exit $SKIP
    fi
fi

# ------------------------------------------------------------- the server

WORK="$(mktemp -d "${TMPDIR:-/tmp}/frost-compat.XXXXXX")"
DATA="$WORK/data"
LOG="$WORK/frost.log"
PID=""

# True while the child runs (a zombie, exited but not yet reaped, does not).
alive() {
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }"
    [ "${stat%% *}" != "Z" ]
}

cleanup() {
    if [ -n "$PID" ] && alive "$PID"; then
        kill -KILL "$PID" 2>/dev/null
        wait "$PID" 2>/dev/null
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# frost reads FROST_* variables as settings: start it without the caller's.
(
    for v in $(compgen -e | grep '^FROST_'); do unset "$v"; done
    exec "$FROST" serve --listen 127.0.0.1:0 --data-dir "$DATA" \
        --set "auth.keys=$KEY_ID:$KEY_SECRET"
) </dev/null >"$WORK/frost.stdout" 2>"$LOG" &
PID=$!

ADDR=""
for _ in $(seq 1 400); do # 20 s (ASan builds start slowly)
    if [ -f "$DATA/frost.addr" ]; then
        ADDR="$(cat "$DATA/frost.addr")"
        case "$ADDR" in *:[0-9]*) break ;; esac
        ADDR=""
    fi
    if ! alive "$PID"; then
        say "FAIL: frost serve exited before listening; its log:"
        cat "$LOG" >&2
        exit 1
    fi
    sleep 0.05
done
if [ -z "$ADDR" ]; then
    say "FAIL: frost serve did not write $DATA/frost.addr within 20 s; its log:"
    cat "$LOG" >&2
    exit 1
fi
say "frost serve pid $PID on $ADDR"

# ---------------------------------------------------------------- the tests

(cd "$HERE" && COMPAT_ENDPOINT="$ADDR" COMPAT_KEY_ID="$KEY_ID" COMPAT_KEY_SECRET="$KEY_SECRET" \
    node --test --test-reporter=spec sdk.test.mjs)
tests_rc=$?

# ------------------------------------------------------------------- stop

kill -TERM "$PID"
frost_rc=""
for _ in $(seq 1 600); do # 30 s
    if ! alive "$PID"; then
        wait "$PID"
        frost_rc=$?
        break
    fi
    sleep 0.05
done
PID_LEFT="$PID"
if [ -z "$frost_rc" ]; then
    say "FAIL: frost serve did not exit within 30 s of SIGTERM"
    frost_rc=124
else
    PID=""
fi

rc=0
if [ "$tests_rc" -ne 0 ]; then
    say "FAIL: the SDK tests failed (node exit $tests_rc)"
    rc=1
fi
if [ "$frost_rc" -ne 0 ]; then
    say "FAIL: frost serve (pid $PID_LEFT) exited with $frost_rc after SIGTERM, expected 0"
    rc=1
fi
if grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error:' "$LOG"; then
    say "FAIL: sanitizer report in frost's log"
    rc=1
fi
if [ $rc -ne 0 ]; then
    say "frost's log (last 60 lines):"
    tail -n 60 "$LOG" >&2
else
    say "PASS"
fi
exit $rc
