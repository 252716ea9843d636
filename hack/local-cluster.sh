#!/usr/bin/env bash
# Start/stop a local Kubernetes control plane with simulated (kwok) GPU nodes, or a real node.
#
#     eval "$(hack/local-cluster.sh up)"     # starts it; exports KUBECONFIG and the state dir
#     eval "$(hack/local-cluster.sh up --node [--image ARCHIVE ...])"
#                                            # a real node instead (root): kubelet, containerd,
#                                            # kube-proxy, bridge CNI, CoreDNS as the
#                                            # cluster DNS; ARCHIVEs are OCI images
#     hack/local-cluster.sh status           # every recorded process and whether it runs
#     hack/local-cluster.sh env              # the exports again
#     hack/local-cluster.sh down             # stops every process by PID, undoes the node's
#                                            # host changes, removes the state dir
#
# A thin wrapper: the one implementation is tests/support/cluster (also the pytest fixture).
# Builds what is missing first (hack/build-tools.sh, minutes when cold; with --node also kubelet,
# kube-proxy and coredns, and the pause image via hack/node/build-pause.sh).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ "${1:-}" == up ]]; then
    node=false
    for arg in "$@"; do [[ "$arg" == --node ]] && node=true; done
    if $node; then
        MODELDEPLOY_TOOLS_BIN="$(MODELDEPLOY_TOOLS="etcd k8s kwok helm kubelet coredns" "$root/hack/build-tools.sh")"
        "$root/hack/node/build-pause.sh" >/dev/null
    else
        MODELDEPLOY_TOOLS_BIN="$("$root/hack/build-tools.sh")"
    fi
    export MODELDEPLOY_TOOLS_BIN
fi
cd "$root"
exec "${PYTHON:-python3}" -m tests.support.cluster "$@"
