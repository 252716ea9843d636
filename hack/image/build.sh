#!/usr/bin/env bash
# Build the modeldeploy container image from the repository's Dockerfile without Docker:
# a Debian bookworm base made with debootstrap and imported with buildah, then `buildah bud`.
# Prints the image's OCI layout (a directory) on stdout (progress and timings go to stderr):
#
#     IMAGE="$(hack/image/build.sh)"                   # builds what is missing, prints the path
#     hack/image/build.sh --print                      # prints the path only if already built
#     TORCH_VARIANT=cpu hack/image/build.sh            # the runtime image with CPU torch
#     ENGINE=vllm TORCH_VARIANT=none hack/image/build.sh   # the vLLM CPU image (-vllm-cpu)
#
# Why a local base: these machines have no Docker engine and no registry; debootstrap makes a
# bookworm root filesystem with Debian's python3.11, buildah turns it into an image, and the
# Dockerfile's BASE_IMAGE build argument points at it (the Dockerfile itself is the one users
# build with `docker build`, unchanged). The resulting layout is what containerd imports
# (`tar -c | ctr -n k8s.io images import -`) on a node without a registry.
#
# Cache, keyed by inputs (a warm run costs seconds), under $MODELDEPLOY_IMAGE_CACHE
# (default ${XDG_CACHE_HOME:-$HOME/.cache}/modeldeploy/images):
#     base-<sha256 of the debootstrap recipe>/base.oci.tar
#     <sha256 of base key, Dockerfile, .dockerignore, build args, every file in the context>/
#         image.oci/ (an OCI layout: index.json, blobs hard-linked from layout-<flavor>),
#         image.ref, build-seconds, build.log
# Entries are written to a temporary directory and renamed into place when complete.
#
#     layout-<flavor>/    an OCI image layout with uncompressed layers, the blob store the
#                         image layouts link to (see write_layout); flavor: none, cpu, cuda
#                         or vllm-cpu
#     vllm-base-<sha256 of base key, Dockerfile.vllm, requirements/vllm.txt>/build.log
#                         ENGINE=vllm: the log of the vLLM layer's build (the image itself,
#                         localhost/modeldeploy-vllm-base:<key>, stays in buildah's storage)
#
# Sizes and what is kept: the operator image (none) is ~0.2 GB, the runtime image
# (cuda: torch from PyPI with the CUDA libraries) ~6 GB, the vLLM CPU image (ENGINE=vllm)
# 6.8 GB (vLLM's environment is one 6.5 GB layer). Layers are stored uncompressed: no
# minutes of gzip, and a layer's digest is the digest of its content, the same in every build
# that reuses it. Old image layouts are deleted (the three newest are kept for none, only the newest
# for cpu and cuda, the old one before the new one is written). buildah's storage keeps the
# layers of the builds whose layouts are kept, so that a change to the sources rebuilds only the
# small layer of modeldeploy itself; the other intermediate images derived from our base, and
# the containers a failed build leaves, are removed.
#
# ENGINE=vllm (with TORCH_VARIANT=none, the only one it takes): Dockerfile.vllm first builds the
# base plus libnuma and vLLM's environment at /opt/vllm (from requirements/vllm.txt: vllm-cpu,
# hashes checked) as localhost/modeldeploy-vllm-base:<key>, then the Dockerfile builds the
# operator image's content on top of it (BASE_IMAGE): modeldeploy's own layers stay above the
# gigabytes of vLLM, so a change to the sources rebuilds only them. Tagged
# localhost/modeldeploy:<version>-vllm-cpu, the operator's default vllm_cpu_image's tag.
# Measured on 2 cores (December 2026, wheels from PyPI): cold 470 s (342 s the vLLM layer, 42 s
# the Dockerfile, the rest the layout); after a change to the sources, on the cached vLLM layer,
# 24 s. Disk: 13 GB kept (layout 6.8 GB, buildah's storage 6.7 GB), ~22 GB at the peak (buildah
# commits the 6.5 GB layer through a temporary copy). A CUDA vLLM image (`-vllm`, the `vllm`
# package instead of vllm-cpu) is not built here: see docs/install.md.
#
# Environment: ENGINE (builtin|vllm, default builtin), TORCH_VARIANT (none|cpu|cuda, default
# none), DEBIAN_MIRROR (default
# http://deb.debian.org/debian), MODELDEPLOY_IMAGE_CACHE, BUILDAH (default buildah), SKOPEO
# (default skopeo: it writes the layout),
# BUILDAH_ISOLATION (default chroot: needs neither runc nor a network namespace).
# Needs root (debootstrap, buildah storage) and network access to the Debian mirror and PyPI.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cache_root="${MODELDEPLOY_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/modeldeploy/images}"
variant="${TORCH_VARIANT:-none}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
buildah_bin="${BUILDAH:-buildah}"
skopeo_bin="${SKOPEO:-skopeo}"
isolation="${BUILDAH_ISOLATION:-chroot}"
suite=bookworm
# python3-venv brings ensurepip (the Dockerfile makes a venv); ca-certificates lets pip and the
# runtime reach HTTPS endpoints.
base_packages=(python3 python3-venv ca-certificates)
print_only=false
[[ "${1:-}" == "--print" ]] && print_only=true

log() { printf '[image] %s\n' "$*" >&2; }
# shellcheck source=../lib/cached.sh
source "$root/hack/lib/cached.sh"
die() { log "error: $*"; exit 1; }

engine="${ENGINE:-builtin}"
case "$variant" in none | cpu | cuda) ;; *) die "TORCH_VARIANT must be none, cpu or cuda" ;; esac
case "$engine" in
    builtin) flavor="$variant" ;;
    vllm)
        [[ "$variant" == none ]] || die "ENGINE=vllm takes TORCH_VARIANT=none only (vLLM's environment \
has its own torch; the CPU build, vllm-cpu): a CUDA vLLM image is not built here, see docs/install.md"
        flavor=vllm-cpu ;;
    *) die "ENGINE must be builtin or vllm" ;;
esac

version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/pyproject.toml" | head -n1)"
[[ -n "$version" ]] || die "no version in pyproject.toml"
case "$flavor" in
    none) tag="$version-operator" ;; cpu) tag="$version-cpu" ;; vllm-cpu) tag="$version-vllm-cpu" ;;
    *) tag="$version" ;;
esac
# How many builds of this tag to keep: a runtime image is ~6 GB, a vLLM one more.
case "$flavor" in none) keep_archives=3 ;; *) keep_archives=1 ;; esac

base_key() {
    {
        echo "debootstrap suite=$suite variant=minbase mirror=$mirror arch=$(dpkg --print-architecture)"
        echo "packages=${base_packages[*]}"
        sed -n '/^make_base()/,/^}/p' "${BASH_SOURCE[0]}"   # the recipe itself
    } | sha256sum | cut -c1-16
}

# Every file docker would send as build context: tracked and untracked-but-not-ignored files
# that .dockerignore's allowlist keeps (pyproject, README, the lock and the four package folders).
context_files() {
    (cd "$root" && git ls-files -co --exclude-standard -- pyproject.toml README.md requirements \
        modeldeploy operator runtime hub | grep -v -e '__pycache__' -e '\.pyc$' | LC_ALL=C sort)
}

image_key() {
    {
        echo "base=$1 variant=$variant tag=$tag isolation=$isolation format=docker"
        [[ "$engine" == builtin ]] || echo "engine=$engine vllm-base=$(vllm_key "$1")"
        echo "result=layout layers=uncompressed"
        cat "$root/Dockerfile" "$root/.dockerignore"
        local f
        while IFS= read -r f; do
            if [[ -L "$root/$f" ]]; then
                printf 'link %s -> %s\n' "$f" "$(readlink "$root/$f")"
            elif [[ -f "$root/$f" ]]; then
                printf 'file %s %s\n' "$f" "$(sha256sum <"$root/$f" | cut -c1-64)"
            fi
        done < <(context_files)
    } | sha256sum | cut -c1-16
}

# vllm_key BASE_KEY: what the vLLM layer (Dockerfile.vllm) is built from.
vllm_key() {
    {
        echo "base=$1 isolation=$isolation format=docker"
        cat "$root/Dockerfile.vllm" "$root/requirements/vllm.txt"
    } | sha256sum | cut -c1-16
}

# make_base DEST: a bookworm rootfs with python3.11, committed as an image and saved as an OCI
# archive in DEST. Apt's lists and caches are removed: they are dead weight in every layer above.
make_base() {
    local dest="$1" rootfs="$1/rootfs" ctr
    debootstrap --variant=minbase --include="$(IFS=,; echo "${base_packages[*]}")" \
        "$suite" "$rootfs" "$mirror" >"$dest/debootstrap.log" 2>&1 \
        || die "debootstrap failed; see $dest/debootstrap.log"
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
        "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/log/*.log "$rootfs"/tmp/*
    tar -C "$rootfs" --numeric-owner -cf "$dest/rootfs.tar" .
    rm -rf "$rootfs"
    ctr="$("$buildah_bin" from scratch)"
    "$buildah_bin" add "$ctr" "$dest/rootfs.tar" / >/dev/null
    "$buildah_bin" config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        --env LANG=C.UTF-8 --cmd python3 \
        --label "org.opencontainers.image.title=debian-$suite-python3" "$ctr"
    "$buildah_bin" commit --quiet "$ctr" "$base_ref" >/dev/null
    "$buildah_bin" rm "$ctr" >/dev/null
    rm -f "$dest/rootfs.tar"
    "$buildah_bin" push --quiet "$base_ref" "oci-archive:$dest/base.oci.tar:$base_ref" >/dev/null
}

# ensure_local REF ARCHIVE: the image REF in buildah's storage (reloaded from ARCHIVE if needed).
ensure_local() {
    "$buildah_bin" inspect --type image "$1" >/dev/null 2>&1 \
        || "$buildah_bin" pull --quiet "oci-archive:$2" >/dev/null
}

# prune_old_archives REF KEEP: keep the newest KEEP archives of REF; sources change often while
# developing, and every change makes a new cache entry.
prune_old_archives() {
    local ref="$1" keep="$2" dir
    for dir in $(ls -1dt "$cache_root"/*/image.ref 2>/dev/null | xargs -r grep -lx "$ref" | tail -n +$((keep + 1))); do
        rm -rf "$(dirname "$dir")"
    done
}

# ids_in_log LOG: the images a `buildah bud` log names: each step's (made or reused from the
# cache) as "--> <id>" or "--> Using cache <id>", and the final image's full id.
ids_in_log() {
    sed -n -e 's/^--> \(Using cache \)\{0,1\}\([0-9a-f]\{11,64\}\)$/\2/p' \
        -e 's/^\([0-9a-f]\{64\}\)$/\1/p' "$1" | cut -c1-11 | sort -u
}

# remove_build_containers LOG: the working containers a failed build left behind (buildah 1.28
# leaves one for a stage that was starting when another stage failed, even with --force-rm):
# those made from an image that LOG names, or from the base.
remove_build_containers() {
    local ids ctr image
    ids="$(ids_in_log "$1"; "$buildah_bin" inspect --type image --format '{{.FromImageID}}' "$base_ref" | cut -c1-11)"
    "$buildah_bin" containers --noheading --notruncate --format '{{.ContainerID}} {{.ImageID}}' |
        while read -r ctr image; do
            if grep -qx "${image:0:11}" <<<"$ids"; then "$buildah_bin" rm "$ctr" >/dev/null 2>&1 || true; fi
        done
}

# write_layout REF DEST: the OCI image layout of REF, written to the directory DEST. skopeo copies
# the image into this variant's shared OCI layout with uncompressed layers; a layer already
# there (the dependencies, after a change to the sources) is not read or written again. skopeo
# keeps the image it replaces in the index, unnamed: that entry goes, with every blob no named
# image uses. DEST gets the image's own index and its blobs as hard links into the shared layout:
# the gigabytes of layers are stored once, however many cache entries name them (an archive, a
# tar of the same bytes, was a second copy). containerd imports it as a tar stream made on the fly.
write_layout() {
    local ref="$1" dest="$2" layout="$cache_root/layout-$flavor"
    command -v "$skopeo_bin" >/dev/null || die "skopeo not found (Debian: apt-get install skopeo)"
    "$skopeo_bin" copy --quiet --dest-oci-accept-uncompressed-layers \
        "containers-storage:$ref" "oci:$layout:$ref" >"$tmp/skopeo.log" 2>&1 \
        || { cat "$tmp/skopeo.log" >&2; die "skopeo copy failed"; }
    python3 - "$layout" "$dest" "$ref" <<'PY'
import json, os, pathlib, sys
layout, dest, ref = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]
blobs = layout / "blobs" / "sha256"
name = "org.opencontainers.image.ref.name"
index = json.loads((layout / "index.json").read_text())
index["manifests"] = [m for m in index["manifests"] if (m.get("annotations") or {}).get(name)]
(layout / "index.json").write_text(json.dumps(index))

def parts(entry):
    digest = entry["digest"].split(":", 1)[1]
    manifest = json.loads((blobs / digest).read_text())
    return {digest} | {d["digest"].split(":", 1)[1] for d in [manifest["config"], *manifest["layers"]]}

used = set().union(*(parts(entry) for entry in index["manifests"]))
for blob in blobs.iterdir():
    if blob.name not in used:
        blob.unlink()
(mine,) = [m for m in index["manifests"] if m["annotations"][name] == ref]
(dest / "blobs" / "sha256").mkdir(parents=True)
for digest in sorted(parts(mine)):
    os.link(blobs / digest, dest / "blobs" / "sha256" / digest)
(dest / "oci-layout").write_text((layout / "oci-layout").read_text())
(dest / "index.json").write_text(json.dumps({**index, "manifests": [mine]}))
PY
}

# prune_storage: remove the untagged images in buildah's storage that were built on one of our
# bases (their first layer is a base's) and that no kept cache entry's build used: intermediate
# images of old sources or dependency sets, and final images whose archives were deleted. Images
# of other tools and the layers of kept builds stay; an image still used by a container stays.
prune_storage() {
    local keep bases id short first removed=0
    keep="$(for log in "$cache_root"/*/build.log; do [[ -f "$log" ]] && ids_in_log "$log"; done | sort -u)"
    bases="$("$buildah_bin" images --noheading --format '{{.ID}}' --filter reference='localhost/modeldeploy-base' \
        | xargs -r "$buildah_bin" inspect --type image --format '{{index .OCIv1.RootFS.DiffIDs 0}}' 2>/dev/null)"
    [[ -n "$bases" ]] || return 0
    for id in $("$buildah_bin" images --all --noheading --no-trunc --filter dangling=true --format '{{.ID}}'); do
        id="${id#sha256:}"
        short="${id:0:11}"
        grep -qx "$short" <<<"$keep" && continue
        first="$("$buildah_bin" inspect --type image --format '{{index .OCIv1.RootFS.DiffIDs 0}}' "$id" 2>/dev/null)" || continue
        grep -qxF "$first" <<<"$bases" || continue
        "$buildah_bin" rmi "$id" >/dev/null 2>&1 && removed=$((removed + 1))
    done
    log "storage: removed $removed unused intermediate images; $(df -h --output=avail "$(dirname "$cache_root")" | tail -n1 | tr -d ' ') free"
}

start=$SECONDS
bkey="$(base_key)"
base_dir="$cache_root/base-$bkey"
base_ref="localhost/modeldeploy-base:$bkey"
ikey="$(image_key "$bkey")"
image_dir="$cache_root/$ikey"
image_ref="localhost/modeldeploy:$tag"

print_if_built "$image_dir/image.oci/index.json" "cached: $image_ref ($image_dir)" "$image_dir/image.oci"
if $print_only; then
    # For hack/setup.sh's disk plan: a rebuild on a cached vLLM layer writes little.
    if [[ "$engine" == vllm ]] && "$buildah_bin" inspect --type image \
        "localhost/modeldeploy-vllm-base:$(vllm_key "$bkey")" >/dev/null 2>&1; then
        log "vLLM layer cached: localhost/modeldeploy-vllm-base:$(vllm_key "$bkey")"
    fi
    log "image not built yet; run hack/image/build.sh"
    exit 1
fi
lock_for_build "$cache_root/.lock" "debootstrap and buildah's storage"
print_if_built "$image_dir/image.oci/index.json" "built meanwhile by another run: $image_ref ($image_dir)" \
    "$image_dir/image.oci"

if [[ ! -f "$base_dir/base.oci.tar" ]]; then
    command -v debootstrap >/dev/null || die "debootstrap not found (Debian: apt-get install debootstrap)"
    log "making base $base_ref from $mirror ($suite, ${base_packages[*]})"
    t0=$SECONDS
    tmp="$(mktemp -d "$cache_root/.tmp-base-XXXXXX")"
    make_base "$tmp"
    mv -T "$tmp" "$base_dir"
    log "base made in $((SECONDS - t0)) s"
fi
ensure_local "$base_ref" "$base_dir/base.oci.tar"

t0=$SECONDS
# The CA bundle pip trusts here (PIP_CERT or pip's config), handed to the builder stage as a
# secret: needed behind a TLS-intercepting proxy, and never stored in the image.
secret=()
pip_cert="${PIP_CERT:-$(python3 -m pip config get global.cert 2>/dev/null || true)}"
[[ -n "$pip_cert" && -s "$pip_cert" ]] && secret=(--secret "id=pip_cert,src=$pip_cert")
from_ref="$base_ref"
if [[ "$engine" == vllm ]]; then
    # The vLLM layer: its own image, named by its inputs (buildah's layer cache makes a rebuild
    # of an unchanged one cost seconds; old ones are removed by name).
    vkey="$(vllm_key "$bkey")"
    from_ref="localhost/modeldeploy-vllm-base:$vkey"
    if ! "$buildah_bin" inspect --type image "$from_ref" >/dev/null 2>&1; then
        log "building $from_ref (vLLM's environment from requirements/vllm.txt) from $root/Dockerfile.vllm"
        vtmp="$(mktemp -d "$cache_root/.tmp-vllm-XXXXXX")"
        "$buildah_bin" bud --format docker --layers --force-rm --isolation "$isolation" --network host \
            --build-arg "BASE_IMAGE=$base_ref" "${secret[@]}" \
            --tag "$from_ref" --file "$root/Dockerfile.vllm" "$root" >"$vtmp/build.log" 2>&1 \
            || {
                log "buildah bud (Dockerfile.vllm) failed; last lines of $vtmp/build.log:"
                tail -n 30 "$vtmp/build.log" >&2
                remove_build_containers "$vtmp/build.log"
                exit 1
            }
        rm -rf "$cache_root/vllm-base-$vkey"
        mv -T "$vtmp" "$cache_root/vllm-base-$vkey"
        log "built $from_ref in $((SECONDS - t0)) s"
    fi
    # Older vLLM layers (another lock or recipe): gigabytes each.
    for old in $("$buildah_bin" images --noheading --format '{{.Name}}:{{.Tag}}' \
        --filter reference='localhost/modeldeploy-vllm-base'); do
        [[ "$old" == "$from_ref" ]] || "$buildah_bin" rmi "$old" >/dev/null 2>&1 || true
    done
    for old in "$cache_root"/vllm-base-*; do
        [[ "$old" == "$cache_root/vllm-base-$vkey" || ! -d "$old" ]] || rm -rf "$old"
    done
fi
log "building $image_ref (TORCH_VARIANT=$variant, engine $engine) from $root/Dockerfile"
t1=$SECONDS
tmp="$(mktemp -d "$cache_root/.tmp-image-XXXXXX")"
# A failed run keeps its build.log for diagnosis, never a partial image layout.
trap 'rm -rf "$tmp/image.oci"' EXIT
revision="$(git -C "$root" rev-parse --verify --quiet HEAD || echo unknown)"
created="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
# Docker format: the OCI image config has no SHELL or HEALTHCHECK, and buildah would ignore the
# Dockerfile's SHELL (bash with pipefail) in OCI mode. The result is still an OCI layout.
"$buildah_bin" bud --format docker --layers --force-rm --isolation "$isolation" --network host \
    --build-arg "BASE_IMAGE=$from_ref" --build-arg "TORCH_VARIANT=$variant" \
    --build-arg "VERSION=$version" --build-arg "REVISION=$revision" \
    --build-arg "CREATED=$created" "${secret[@]}" \
    --tag "$image_ref" --file "$root/Dockerfile" "$root" >"$tmp/build.log" 2>&1 \
    || {
        log "buildah bud failed; last lines of $tmp/build.log:"; tail -n 30 "$tmp/build.log" >&2
        remove_build_containers "$tmp/build.log"
        exit 1
    }
log "built $image_ref in $((SECONDS - t1)) s; writing its OCI layout"
# The older builds of this tag go first, so that two runtime images never sit side by side.
prune_old_archives "$image_ref" $((keep_archives - 1))
t1=$SECONDS
write_layout "$image_ref" "$tmp/image.oci"
echo "$image_ref" >"$tmp/image.ref"
echo "$((SECONDS - t0))" >"$tmp/build-seconds"
mv -T "$tmp" "$image_dir" 2>/dev/null || rm -rf "$tmp"
log "layout written in $((SECONDS - t1)) s: $(du -sh "$image_dir/image.oci" | cut -f1) (hard links into layout-$flavor)"
prune_storage
log "built $image_ref in $((SECONDS - t0)) s (total $((SECONDS - start)) s): $image_dir"
echo "$image_dir/image.oci"
