#!/usr/bin/env bash
# Build the pinned Kubernetes tool binaries (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, kwok, helm; opt-in kubelet, kube-proxy, coredns) from the wrapper Go
# modules under tools/, into a cache outside the work tree, and print the directory holding all
# of them on stdout:
#
#     BIN="$(hack/build-tools.sh)"          # builds what is missing, then prints the bin dir
#     hack/build-tools.sh --print           # prints the bin dir only if everything is built
#                                           # (links it from built components; never builds)
#
# Why a cache keyed by inputs: a cold build of the control plane takes many minutes on two cores,
# and a warm run must cost seconds. Each component is cached under
#     $MODELDEPLOY_TOOLS_CACHE/<component>-<sha256 of go.mod, go.sum, go version, flags>/bin
# so bumping helm never rebuilds Kubernetes; a combined directory of symlinks, keyed by all
# component keys, is what gets printed. Builds land in a temporary directory and are renamed into
# place when complete, so an interrupted build never leaves a half-filled cache entry.
#
# Environment: MODELDEPLOY_TOOLS_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/modeldeploy/tools),
# GO (default go), MODELDEPLOY_TOOLS (space-separated components; default "etcd k8s kwok helm";
# "kubelet" (kubelet and kube-proxy of Kubernetes 1.35, tools/kubelet) is built only when named
# here, and so is "coredns" (the real node's cluster DNS, tools/coredns), e.g.
# MODELDEPLOY_TOOLS="etcd k8s kwok helm kubelet coredns").
# Progress and timings go to stderr; only the bin dir goes to stdout.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache_root="${MODELDEPLOY_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/modeldeploy/tools}"
go_bin="${GO:-go}"
components=(${MODELDEPLOY_TOOLS:-etcd k8s kwok helm})
print_only=false
[[ "${1:-}" == "--print" ]] && print_only=true

# Pinned, reproducible builds: the local toolchain only, no cgo, the committed go.sum only
# (-mod=readonly fails instead of silently changing versions), no paths or VCS data baked in.
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false"
# Go's module and build caches for these builds are our own, beside the results, and are removed
# once every component asked for is built: for Kubernetes they are ~10 GB that nothing reads
# again until a pin changes. A build that was interrupted keeps them, and the next run resumes
# from them.
go_cache="$cache_root/.go"
export GOMODCACHE="$go_cache/mod" GOCACHE="$go_cache/build"
build_flags=(-p 2 -trimpath)
base_ldflags="-s -w"

log() { printf '[build-tools] %s\n' "$*" >&2; }

# Temporary build directories are removed on any exit, so an interrupted build leaves nothing.
pending=()
cleanup() { [[ ${#pending[@]} -eq 0 ]] || rm -rf "${pending[@]}"; }
trap cleanup EXIT

# module_version DIR MODULE -> the version DIR's go.mod requires for MODULE. Read from the file
# (not `go list -m`, which may download go.mod files) so that --print stays instant and offline.
module_version() {
    awk -v m="$2" '
        $1 == m && $2 ~ /^v[0-9]/ { print $2; exit }       # inside a require ( ... ) block
        $1 == "require" && $2 == m { print $3; exit }      # a one-line require
    ' \
        "$1/go.mod"
}

# kubernetes_version_flags vX.Y.Z -> -X flags stamping the Kubernetes version. Without them
# /version reports v0.0.0, which confuses kubectl's version-skew checks and Helm.
kubernetes_version_flags() {
    local v="$1" major minor pkg flags=""
    major="${v#v}"; major="${major%%.*}"
    minor="${v#v*.}"; minor="${minor%%.*}"
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        flags+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
        flags+=" -X $pkg.gitTreeState=clean"
    done
    echo "${flags# }"
}

# packages_and_ldflags COMPONENT -> sets the globals `packages` (array) and `ldflags` (string)
packages_and_ldflags() {
    local dir="$root/tools/$1" v minor
    case "$1" in
    k8s)
        packages=(k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager
            k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
        ldflags="$base_ldflags $(kubernetes_version_flags "$(module_version "$dir" k8s.io/kubernetes)")"
        ;;
    kubelet)
        # Opt-in (MODELDEPLOY_TOOLS="... kubelet"): the real node's kubelet and kube-proxy, a
        # different minor than the control plane (within the supported skew) because 1.35 is the
        # last minor that supports containerd 1.x, which Debian ships.
        packages=(k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy)
        ldflags="$base_ldflags $(kubernetes_version_flags "$(module_version "$dir" k8s.io/kubernetes)")"
        ;;
    etcd)
        v="$(module_version "$dir" go.etcd.io/etcd/server/v3)"
        packages=(go.etcd.io/etcd/server/v3 go.etcd.io/etcd/etcdctl/v3)
        # The version number itself is a constant in etcd's api module; only the SHA is a var.
        ldflags="$base_ldflags -X go.etcd.io/etcd/api/v3/version.GitSHA=$v"
        ;;
    kwok)
        v="$(module_version "$dir" sigs.k8s.io/kwok)"
        packages=(sigs.k8s.io/kwok/cmd/kwok)
        ldflags="$base_ldflags -X sigs.k8s.io/kwok/pkg/consts.Version=${v#v}"
        ;;
    helm)
        v="$(module_version "$dir" helm.sh/helm/v3)"
        local cg; cg="$(module_version "$dir" k8s.io/client-go)"   # v0.MINOR.PATCH
        minor="${cg#v0.}"; minor="${minor%%.*}"
        packages=(helm.sh/helm/v3/cmd/helm)
        ldflags="$base_ldflags -X helm.sh/helm/v3/internal/version.version=$v"
        ldflags+=" -X helm.sh/helm/v3/internal/version.metadata="
        ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
        for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
            ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$minor"
        done
        ;;
    coredns)
        # Opt-in: the real node's cluster DNS. The upstream main package, every in-tree plugin
        # (the same binary as the release images); the version itself is a constant.
        v="$(module_version "$dir" github.com/coredns/coredns)"
        packages=(github.com/coredns/coredns)
        ldflags="$base_ldflags -X github.com/coredns/coredns/coremain.GitCommit=$v"
        ;;
    *) log "unknown component: $1"; exit 2 ;;
    esac
}

# component_key COMPONENT -> sha256 over everything that determines the binaries
component_key() {
    local dir="$root/tools/$1"
    packages_and_ldflags "$1"
    {
        echo "component=$1"
        cat "$dir/go.mod" "$dir/go.sum"
        "$go_bin" version
        echo "GOOS=$("$go_bin" env GOOS) GOARCH=$("$go_bin" env GOARCH) GOAMD64=$("$go_bin" env GOAMD64)"
        echo "CGO_ENABLED=$CGO_ENABLED GOFLAGS=$GOFLAGS flags=${build_flags[*]} ldflags=$ldflags"
        echo "packages=${packages[*]}"
    } | sha256sum | cut -c1-16
}

build_component() {
    local name="$1" key="$2" dest="$cache_root/$1-$2"
    local dir="$root/tools/$name" tmp start
    packages_and_ldflags "$name"
    tmp="$(mktemp -d "$cache_root/.tmp-$name-XXXXXX")"
    pending+=("$tmp")
    log "building $name (${packages[*]##*/}) -> $dest"
    start=$SECONDS
    local pkg bin
    for pkg in "${packages[@]}"; do
        # etcd's packages are named for their major version (server/v3, etcdctl/v3): name the
        # binary after the path element before it.
        bin="${pkg##*/}"
        [[ "$bin" == v3 ]] && { bin="${pkg%/v3}"; bin="${bin##*/}"; }
        [[ "$bin" == server ]] && bin=etcd
        local t0=$SECONDS
        (cd "$dir" && "$go_bin" build "${build_flags[@]}" -ldflags "$ldflags" -o "$tmp/bin/$bin" "$pkg")
        log "  $bin: $((SECONDS - t0)) s"
    done
    printf '%s\n' "$((SECONDS - start))" >"$tmp/build-seconds"
    if ! mv -T "$tmp" "$dest" 2>/dev/null; then
        rm -rf "$tmp"   # another run finished the same build first; theirs is identical
    fi
    log "built $name in $((SECONDS - start)) s"
}

mkdir -p "$cache_root"
total_start=$SECONDS
combined_inputs=""
declare -A keys=()
for c in "${components[@]}"; do
    keys[$c]="$(component_key "$c")"
    combined_inputs+="$c=${keys[$c]};"
done
combined="$cache_root/all-$(printf '%s' "$combined_inputs" | sha256sum | cut -c1-16)"

# link_combined: the directory of symlinks to every component's binaries, renamed into place.
link_combined() {
    local tmp c f
    tmp="$(mktemp -d "$cache_root/.tmp-all-XXXXXX")"
    pending+=("$tmp")
    mkdir "$tmp/bin"
    for c in "${components[@]}"; do
        for f in "$cache_root/$c-${keys[$c]}/bin/"*; do
            ln -s "$f" "$tmp/bin/$(basename "$f")"
        done
    done
    mv -T "$tmp" "$combined" 2>/dev/null || rm -rf "$tmp"
}

all_built() {
    local c
    for c in "${components[@]}"; do [[ -d "$cache_root/$c-${keys[$c]}/bin" ]] || return 1; done
}

if [[ ! -d "$combined/bin" ]] && $print_only; then
    # Every component built, in some other combination: linking them is not building.
    all_built || { log "tools not built yet; run hack/build-tools.sh"; exit 1; }
    link_combined
fi
if [[ ! -d "$combined/bin" ]]; then
    # One builder at a time per cache: a second run waits, then finds everything built.
    exec 9>"$cache_root/.lock"
    flock 9
    for c in "${components[@]}"; do
        [[ -d "$cache_root/$c-${keys[$c]}/bin" ]] || build_component "$c" "${keys[$c]}"
    done
    [[ -d "$combined/bin" ]] || link_combined
    if [[ -d "$go_cache" ]]; then
        log "removing Go's module and build caches of these builds: $(du -sh "$go_cache" | cut -f1)"
        chmod -R u+w "$go_cache"   # the module cache is read-only
        rm -rf "$go_cache"
    fi
fi
log "tools ready in $((SECONDS - total_start)) s"
echo "$combined/bin"
