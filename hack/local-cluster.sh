#!/usr/bin/env bash
# Start/stop a local Kubernetes control plane with simulated (kwok) GPU nodes.
#
#     eval "$(hack/local-cluster.sh up)"     # starts it; exports KUBECONFIG and the state dir
#     hack/local-cluster.sh status           # every recorded process and whether it runs
#     hack/local-cluster.sh env              # the exports again
#     hack/local-cluster.sh down             # stops every process by PID, removes the state dir
#
# A thin wrapper: the one implementation is tests/support/cluster (also the pytest fixture).
# Builds the binaries first if they are missing (hack/build-tools.sh; minutes when cold).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ "${1:-}" == up ]]; then
    MODELDEPLOY_TOOLS_BIN="$("$root/hack/build-tools.sh")"
    export MODELDEPLOY_TOOLS_BIN
fi
cd "$root"
exec "${PYTHON:-python3}" -m tests.support.cluster "$@"
