#!/usr/bin/env bash
# Run the end-to-end suite against a real kind cluster (needs Docker, kind, kubectl; not run in
# CI here). Creates the cluster from hack/kind/kind-config.yaml, advertises fake GPUs, then runs
# pytest with MODELDEPLOY_E2E_KUBECONFIG set, which makes the cluster fixture use this cluster
# instead of starting the local control plane.
#
#     hack/kind/e2e.sh                    # runs tests/e2e
#     hack/kind/e2e.sh tests/e2e -k scale # any pytest arguments
#     KEEP_CLUSTER=1 hack/kind/e2e.sh     # leave the cluster up afterwards
#
# Environment: KIND_CLUSTER_NAME (default modeldeploy-e2e), PYTHON (default python3),
# KEEP_CLUSTER=1. The operator's image must be loadable by the cluster: build it and
# `kind load docker-image IMAGE --name "$KIND_CLUSTER_NAME"` before running tests that start pods.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
name="${KIND_CLUSTER_NAME:-modeldeploy-e2e}"
for tool in docker kind kubectl; do
    command -v "$tool" >/dev/null || { echo "e2e.sh needs $tool on PATH" >&2; exit 1; }
done

if ! kind get clusters 2>/dev/null | grep -qx "$name"; then
    kind create cluster --name "$name" --config "$root/hack/kind/kind-config.yaml" --wait 180s
    created=true
else
    created=false
fi
kubeconfig="$(mktemp)"
cleanup() {
    rm -f "$kubeconfig"
    if $created && [[ "${KEEP_CLUSTER:-}" != 1 ]]; then kind delete cluster --name "$name"; fi
}
trap cleanup EXIT
kind get kubeconfig --name "$name" >"$kubeconfig"
k() { kubectl --kubeconfig="$kubeconfig" "$@"; }

# kind has no GPUs and no device plugin. Advertise the GPUs named by each node's labels as
# extended resources (the documented way to add node-level extended resources): the scheduler
# then counts them like real ones. Nothing backs them: a pod "using" one just runs on CPU.
for node in $(k get nodes -l nvidia.com/gpu.present=true -o name); do
    if [[ "$(k get "$node" -o jsonpath='{.metadata.labels.nvidia\.com/mig\.strategy}')" == mixed ]]; then
        resource="nvidia.com~1mig-3g.40gb"
        count="$(k get "$node" -o jsonpath='{.metadata.labels.nvidia\.com/mig-3g\.40gb\.count}')"
    else
        resource="nvidia.com~1gpu"
        count="$(k get "$node" -o jsonpath='{.metadata.labels.nvidia\.com/gpu\.count}')"
    fi
    k patch "$node" --subresource=status --type=json -p \
        "[{\"op\":\"add\",\"path\":\"/status/capacity/$resource\",\"value\":\"$count\"}]"
done

cd "$root"
[[ $# -gt 0 ]] || set -- tests/e2e
MODELDEPLOY_E2E_KUBECONFIG="$kubeconfig" "${PYTHON:-python3}" -m pytest -m cluster "$@"
