#!/usr/bin/env bash
# Copy kwok's default Stage definitions into tests/support/kwok/, from the kwok module version
# pinned in tools/kwok/go.mod.
#
# Why: the standalone `kwok` controller ships no stages of its own (only kwokctl injects the
# defaults); without them nodes never become Ready and pods never leave Pending. Copying the
# upstream files (rather than writing our own) keeps the simulation what kwok's authors intend.
# These are the stages kwokctl uses by default: node-fast, node-heartbeat-with-lease, pod-fast.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false"
version="$(cd "$root/tools/kwok" && go list -m -f '{{.Version}}' sigs.k8s.io/kwok)"
src="$(cd "$root/tools/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)"
[[ -d "$src" ]] || src="$(cd "$root/tools/kwok" && go mod download -json sigs.k8s.io/kwok |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
dest="$root/tests/support/kwok"
mkdir -p "$dest"
rm -f "$dest"/*.yaml
for rel in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
    pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    {
        echo "# Copied by hack/sync-kwok-stages.sh from sigs.k8s.io/kwok@${version}"
        echo "# kustomize/stage/${rel} (Apache-2.0). Do not edit; re-run the script instead."
        cat "$src/kustomize/stage/$rel"
    } >"$dest/$(basename "$rel")"
done
echo "copied kwok ${version} stages into ${dest#"$root"/}" >&2
