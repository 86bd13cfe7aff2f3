#!/usr/bin/env bash
# Fails (and lists the files) when any C source differs from .clang-format.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=0
while IFS= read -r -d '' f; do
  if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
    echo "not formatted: $f (run: make format)"
    bad=1
  fi
done < <(find src tests bench -name '*.[ch]' -print0)
exit $bad
