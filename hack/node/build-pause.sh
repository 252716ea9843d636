#!/usr/bin/env bash
# Build the local real node's pod sandbox ("pause") image from hack/node/pause.c and print the
# path of its OCI archive on stdout (progress goes to stderr):
#
#     PAUSE="$(hack/node/build-pause.sh)"        # builds what is missing, prints the archive
#     hack/node/build-pause.sh --print           # prints the archive only if already built
#
# Why our own: these machines pull no images, and every pod needs a sandbox image. A statically
# linked C program (`gcc -static -Os`) in a `buildah from scratch` image is the whole of it; the
# archive is what containerd imports (`ctr -n k8s.io images import`) and names as sandbox_image.
#
# Cache, keyed by inputs, under $MODELDEPLOY_IMAGE_CACHE (default
# ${XDG_CACHE_HOME:-$HOME/.cache}/modeldeploy/images):
#     pause-<sha256 of pause.c, this script, gcc's version>/pause.oci.tar, pause.ref
# written to a temporary directory and renamed into place when complete.
# Environment: MODELDEPLOY_IMAGE_CACHE, BUILDAH (default buildah), CC (default gcc).
# Needs root (buildah's storage), gcc and the static C library (Debian: libc6-dev).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache_root="${MODELDEPLOY_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/modeldeploy/images}"
buildah_bin="${BUILDAH:-buildah}"
cc="${CC:-gcc}"
print_only=false
[[ "${1:-}" == "--print" ]] && print_only=true

log() { printf '[pause] %s\n' "$*" >&2; }
# shellcheck source=../lib/cached.sh
source "$here/../lib/cached.sh"
die() { log "error: $*"; exit 1; }

command -v "$cc" >/dev/null || die "$cc not found (Debian: apt-get install gcc libc6-dev)"
key="$({
    cat "$here/pause.c" "${BASH_SOURCE[0]}"
    "$cc" --version | head -n1
} | sha256sum | cut -c1-16)"
dir="$cache_root/pause-$key"
ref="localhost/modeldeploy-pause:$key"

print_if_built "$dir/pause.oci.tar" "cached: $ref ($dir)"
$print_only && { log "pause image not built yet; run hack/node/build-pause.sh"; exit 1; }
# Its own lock: the runtime image's build holds the images lock for many minutes.
lock_for_build "$cache_root/.lock-pause" "buildah's storage"
print_if_built "$dir/pause.oci.tar" "built meanwhile by another run: $ref ($dir)"

start=$SECONDS
tmp="$(mktemp -d "$cache_root/.tmp-pause-XXXXXX")"
container=""
cleanup() {
    [[ -z "$container" ]] || "$buildah_bin" rm "$container" >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT

"$cc" -static -Os -s -Wall -Wextra -Werror -o "$tmp/pause" "$here/pause.c"
container="$("$buildah_bin" from scratch)"
"$buildah_bin" copy --quiet --chmod 0755 "$container" "$tmp/pause" /pause >/dev/null
"$buildah_bin" config --entrypoint '["/pause"]' --cmd '' --user 65535:65535 \
    --label "org.opencontainers.image.title=modeldeploy-pause" "$container"
"$buildah_bin" commit --quiet "$container" "$ref" >/dev/null
"$buildah_bin" push --quiet "$ref" "oci-archive:$tmp/pause.oci.tar:$ref" >/dev/null
echo "$ref" >"$tmp/pause.ref"
rm -f "$tmp/pause"
mv -T "$tmp" "$dir"
log "built $ref in $((SECONDS - start)) s ($dir)"
echo "$dir/pause.oci.tar"
