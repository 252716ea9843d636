#!/usr/bin/env bash
# Debian packages the test suite needs beyond what a fresh machine has. Idempotent:
# installs only what is missing (apt-get update only then).
set -euo pipefail
need=()
for pkg in "$@" openssl; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
  echo "system-deps: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi
