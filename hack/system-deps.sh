#!/usr/bin/env bash
# Debian packages the test suite needs beyond what a fresh machine has. Idempotent:
# installs only what is missing (apt-get update only then).
#
#     hack/system-deps.sh PKG...     # those packages (and openssl, always)
#     hack/system-deps.sh node       # what a real node needs (tests.support.cluster.node):
#                                    # containerd 1.6, runc, CNI plugins, iptables, conntrack,
#                                    # buildah + skopeo (images) and a static C toolchain for
#                                    # the pause image
set -euo pipefail
node_packages=(containerd runc containernetworking-plugins iptables conntrack buildah skopeo gcc libc6-dev)
wanted=()
for arg in "$@"; do
  if [[ "$arg" == node ]]; then wanted+=("${node_packages[@]}"); else wanted+=("$arg"); fi
done
need=()
for pkg in "${wanted[@]}" openssl; do
  # Installed, not merely known (a removed package's config files keep `dpkg -s` happy).
  [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" == "install ok installed" ]] || need+=("$pkg")
done
if ((${#need[@]})); then
  echo "system-deps: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi
