#!/usr/bin/env bash
# Installs the Debian packages Frost needs to build, test and benchmark.
# Idempotent: packages already present are not reinstalled, and apt is not
# touched at all when nothing is missing. Works as root or through sudo.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config clang clang-format llvm
  libuv1-dev libhttp-parser-dev libjansson-dev libyaml-dev libsqlite3-dev
  libcurl4-openssl-dev libssl-dev libzip-dev libcmocka-dev tzdata
  python3 python3-pytest
  nginx-light haproxy wrk curl procps
  libtesseract-dev libleptonica-dev tesseract-ocr-eng
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
  SUDO="sudo"
fi

# The unprivileged user functions run as when frost serve runs as root
# (config key runtime.user). No home, no login shell.
FN_USER=${FROST_RUNTIME_USER:-frost-fn}
if ! getent passwd "$FN_USER" >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] || [ -n "$SUDO" ]; then
    $SUDO useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
      "$FN_USER" || echo "install-deps: could not create user $FN_USER (functions would run as nobody)" >&2
  fi
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ] && [ -z "$SUDO" ]; then
  echo "install-deps: missing packages (${missing[*]}) and not root; install them or run with sudo" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
# nginx and haproxy are benchmark peers only; Debian starts their services on install.
for svc in nginx haproxy; do
  if command -v systemctl >/dev/null 2>&1; then
    $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
  fi
  $SUDO service "$svc" stop >/dev/null 2>&1 || true
done
