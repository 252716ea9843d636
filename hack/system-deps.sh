#!/usr/bin/env bash
# Debian packages the test suite needs beyond what a fresh machine has. Idempotent:
# installs only what is missing (apt-get update only then).
#
#     hack/system-deps.sh PKG...     # those packages (and the suite's own, always: see below)
#     hack/system-deps.sh --missing ARGS...   # only print those of ARGS not installed, one a line
#     hack/system-deps.sh node       # what a real node needs (tests.support.cluster.node):
#                                    # containerd 1.6, runc, CNI plugins, iptables, conntrack,
#                                    # buildah + skopeo (images) and a static C toolchain for
#                                    # the pause image
set -euo pipefail
# With iproute2 (the bridge) and debootstrap (the image's base) it is all hack/setup.sh checks.
node_packages=(containerd runc containernetworking-plugins iptables conntrack iproute2 buildah skopeo
  debootstrap gcc libc6-dev)
# Always, whatever else is asked: openssl (the cluster's PKI) and chromium (the runtime's
# status page is tested in a real headless browser, tests/runtime/headless_browser.py).
always=(openssl chromium)
list_only=false
if [[ "${1:-}" == --missing ]]; then list_only=true; shift; fi
wanted=()
for arg in "$@"; do
  if [[ "$arg" == node ]]; then wanted+=("${node_packages[@]}"); else wanted+=("$arg"); fi
done
need=()
for pkg in "${wanted[@]}" "${always[@]}"; do
  # Installed, not merely known (a removed package's config files keep `dpkg -s` happy).
  [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" == "install ok installed" ]] || need+=("$pkg")
done
if $list_only; then
  ((${#need[@]} == 0)) || printf '%s\n' "${need[@]}"
  exit 0
fi
if ((${#need[@]})); then
  echo "system-deps: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi
