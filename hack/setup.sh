#!/usr/bin/env bash
# The one set-up step of `make demo` and `make test`: either may come first on a fresh Debian
# machine, and both get the same things.
#
#     eval "$(hack/setup.sh demo)"    # everything the demo needs; stops when it cannot have it
#     eval "$(hack/setup.sh test)"    # everything the tests need; says which parts will run
#     hack/setup.sh check             # only the checks and the plan (seconds; installs nothing)
#
# First, in seconds, every check that would make a later step fail: root, Debian's packages,
# Python and Go, the cgroup layout, the kernel's bridge netfilter, the pod network's addresses,
# a real node already running (the tests start their own, and two cannot share the host), and
# the disk space for what is still to be built. A check that fails stops at once with the exact
# command to run; missing Debian packages are installed (as root). Then the plan, each part
# cached or to build, and the steps: Debian packages, the Python environment (from the lock),
# the Kubernetes tools (from source), the pause image, the operator and runtime images; for the
# tests (never the demo) also the vLLM engine's environment (hack/venv.sh --vllm) and, when the
# disk has room for it, the vLLM CPU image (ENGINE=vllm hack/image/build.sh) for the real-node
# vLLM test. Every step is cached outside the work tree by its inputs, so a run that was
# interrupted resumes at the step it was in and a warm run costs seconds.
#
# stdout: `export` lines for the caller (MODELDEPLOY_VENV, MODELDEPLOY_TOOLS_BIN,
# MODELDEPLOY_NODE_IMAGES, MODELDEPLOY_PARTS; for test also MODELDEPLOY_VLLM_PYTHON, and
# MODELDEPLOY_NODE_VLLM_IMAGE, the vLLM CPU image's layout, or empty with the reason in
# MODELDEPLOY_NODE_VLLM_WHY_NOT); stderr: the plan and the progress.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
purpose="${1:-}"
case "$purpose" in demo | test | check) ;; *)
    echo "usage: hack/setup.sh demo|test|check" >&2; exit 2 ;;
esac
cache="${MODELDEPLOY_CACHE:-$HOME/.cache/modeldeploy}"
tools="etcd k8s kwok helm kubelet coredns"
# Debian packages: what a real node, the images and the cluster's PKI need
# (hack/system-deps.sh node: the one list), and Python's venv module where Debian splits it out.
packages=(node)

say() { printf '[setup] %s\n' "$*" >&2; }
stop() {
    say "cannot continue: $1"
    [[ -z "${2:-}" ]] || say "run: $2"
    exit 1
}
began=$SECONDS

# --- the checks --------------------------------------------------------------------------------
is_root=false
[[ "$(id -u)" == 0 ]] && is_root=true
ci=false
[[ -n "${CI:-}" ]] && ci=true

# A real node already running (the demo's, or a test run's that is still going): the tests start
# their own node, and two nodes cannot share the host's bridge, iptables chains and cgroups.
claim="${MODELDEPLOY_NODE_CLAIM:-/run/modeldeploy-node.claim}"  # tests.support.cluster.node.CLAIM
if [[ "$purpose" != demo && -f "$claim" ]]; then
    state="$(cat "$claim")"
    alive=false
    for pidfile in "$state"/pids/*; do
        [[ -f "$pidfile" ]] || continue
        pid="$(cut -d' ' -f1 <"$pidfile")"
        [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && alive=true
    done
    if $alive; then
        stop "a real node is running ($state, started by \`make demo\` or another test run); \
the tests start their own and two cannot share this host" "make demo-down"
    fi
fi
if [[ "$purpose" == demo ]] && ! $is_root; then
    stop "the demo runs a real node (containerd, kubelet, iptables, a bridge) and builds images: it needs root" \
        "sudo make demo"
fi

python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null || python=python3
command -v "$python" >/dev/null || stop "no Python (3.11 or newer) on PATH" "apt-get install python3 python3-venv"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || stop "$("$python" --version) is too old: modeldeploy needs Python 3.11 or newer" "apt-get install python3.11 python3.11-venv"
if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
    packages+=("python3-venv")
fi

# Go builds the Kubernetes tools: the toolchain must be at least what their go.mod files ask.
command -v go >/dev/null || stop "Go is not installed (the Kubernetes tools are built from source)" \
    "apt-get install golang-go  # or a newer Go from go.dev, see tools/*/go.mod"
go_have="$(go env GOVERSION | sed 's/^go//')"
go_need="$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$root"/tools/*/go.mod | sort -V | tail -n1)"
[[ "$(printf '%s\n%s\n' "$go_need" "$go_have" | sort -V | head -n1)" == "$go_need" ]] \
    || stop "Go $go_have is older than the $go_need that tools/*/go.mod need" "install Go $go_need or newer"

# Debian's packages (installed below, as root, when missing).
command -v dpkg-query >/dev/null \
    || stop "not a Debian system (no dpkg): install by hand the equivalents of what hack/system-deps.sh lists"
mapfile -t missing < <("$root/hack/system-deps.sh" --missing "${packages[@]}")
if ((${#missing[@]})) && ! $is_root; then
    if [[ "$purpose" == test ]] && ! $ci; then
        say "not root and missing ${missing[*]}: the image and real-node tests will not run"
        missing=()
    else
        stop "missing Debian packages: ${missing[*]}" "sudo apt-get install --no-install-recommends ${missing[*]}"
    fi
fi

# The real node: kubelet (cgroupfs driver) needs the cpu, cpuset, memory and pids controllers
# (cgroup v2, or v1 hierarchies mounted under /sys/fs/cgroup, with cpuacct and devices there),
# the bridge netfilter hooks (kube-proxy's Service rules), and the pod network's addresses free.
node_problem=""
if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
    for c in cpu cpuset memory pids; do
        grep -qw "$c" /sys/fs/cgroup/cgroup.controllers || node_problem="cgroup v2 without the $c controller"
    done
else
    for c in cpu cpuacct cpuset memory pids devices; do
        [[ -d "/sys/fs/cgroup/$c" ]] || node_problem="cgroup v1 hierarchy /sys/fs/cgroup/$c is not mounted"
    done
fi
[[ -n "$node_problem" ]] && stop "$node_problem (kubelet needs it for the real node)" \
    "mount the cgroup hierarchies (systemd does it), or run on a machine where they are"
if [[ ! -d /proc/sys/net/bridge ]]; then
    if $is_root && command -v modprobe >/dev/null && modprobe br_netfilter 2>/dev/null; then
        say "loaded br_netfilter (kube-proxy's Service rules need the bridge netfilter hooks)"
    else
        stop "the kernel's bridge netfilter is not loaded (/proc/sys/net/bridge is missing)" "modprobe br_netfilter"
    fi
fi
if command -v ip >/dev/null && ip -4 route show 2>/dev/null | grep -v 'dev mdbr0' | grep -q '^10\.213\.0\.'; then
    stop "the pod network 10.213.0.0/24 is already routed here: $(ip -4 route show | grep '^10\.213\.0\.' | head -n1)" \
        "ip route del 10.213.0.0/24  # if it is a leftover"
fi
# The cluster DNS listens on the pod network's gateway, port 53: a resolver bound to every
# address (0.0.0.0:53) would take it. The other ports are chosen free at run time.
if command -v ss >/dev/null && ss -Hlnu 'sport = :53' 2>/dev/null | grep -qE '(0\.0\.0\.0|\*|\[::\]):53'; then
    stop "something listens on every address at port 53 ($(ss -Hlnup 'sport = :53' | head -n1 | awk '{print $NF}')); the cluster DNS needs 10.213.0.1:53" \
        "stop that DNS server, or make it listen on 127.0.0.1 only"
fi

# --- the plan: what is cached, what is still to be built, and the disk that needs ------------
# Sizes measured on a cold run (see the README): what each step leaves on disk, and on top of
# that the largest transient use while it runs (Go's caches, 11 GB, until the tools are built;
# an image build's commit or a first import into the node, ~6 GB; the wheel downloads, 3 GB).
# The vLLM CPU image is optional: it is built only when the disk has room for it after the rest.
plan=()
need_gb=0
transient_gb=0
add() {  # add LINE KEPT_GB TRANSIENT_GB
    plan+=("$1")
    need_gb=$((need_gb + $2))
    ((${3:-0} <= transient_gb)) || transient_gb=$3
}
venv="$(MODELDEPLOY_CACHE="$cache" "$root/hack/venv.sh" --path)"
if [[ -f "$venv/.complete" ]]; then plan+=("python environment: cached ($venv)"); else
    add "python environment: to install from requirements/dev.txt (~3 min, 6 GB)" 6 3; fi
tools_bin="$(MODELDEPLOY_TOOLS="$tools" "$root/hack/build-tools.sh" --print 2>/dev/null || true)"
if [[ -n "$tools_bin" ]]; then plan+=("kubernetes tools: cached ($tools_bin)"); else
    add "kubernetes tools ($tools): to build from source (~18 min cold)" 1 11; fi
images_possible=$is_root
for bin in buildah skopeo debootstrap; do
    command -v "$bin" >/dev/null || [[ " ${missing[*]} " == *" $bin "* ]] || images_possible=false
done
operator_image="" runtime_image=""
if $images_possible; then
    operator_image="$(TORCH_VARIANT=none "$root/hack/image/build.sh" --print 2>/dev/null || true)"
    runtime_image="$(TORCH_VARIANT=cuda "$root/hack/image/build.sh" --print 2>/dev/null || true)"
    if [[ -n "$operator_image" ]]; then plan+=("operator image: cached"); else
        add "operator image: to build (~1 min)" 1; fi
    if [[ -n "$runtime_image" ]]; then plan+=("runtime image: cached"); elif [[ -d "$cache/images/layout-cuda" ]]; then
        # A change to the sources: its torch layers are cached, only modeldeploy's is new.
        add "runtime image: to rebuild on its cached layers (~1 min)" 1
    else
        add "runtime image (torch with CUDA libraries from PyPI): to build (~5-9 min, beside the tools)" 12 6; fi
    # The node's image store holds the runtime image once imported (unpacked; layers discarded).
    [[ -d "$cache/node/containerd" ]] || add "the real node's image store (filled at its first start)" 6 6
fi
# True when every layer of 1 GB or more in the first blob store is named in the second folder
# (the node's marks of the layers it holds unpacked, tests/support/cluster/containerd.py):
# layers are stored uncompressed, so a layer's digest is its content's in every build.
node_has_big_layers() {  # node_has_big_layers LAYOUT_BLOBS NODE_BLOBS
    local blob found=false
    [[ -d "$1" && -d "$2" ]] || return 1
    while IFS= read -r blob; do
        [[ -f "$2/$(basename "$blob")" ]] || return 1
        found=true
    done < <(find "$1" -type f -size +1G)
    $found
}
# The vLLM engine's own environment (tests/runtime/test_vllm_*.py): the tests only, never the demo.
with_vllm=false
[[ "$purpose" == demo ]] || with_vllm=true
vllm_venv=""
if $with_vllm; then
    vllm_venv="$(MODELDEPLOY_CACHE="$cache" "$root/hack/venv.sh" --vllm --path)"
    if [[ -f "$vllm_venv/.complete" ]]; then plan+=("vLLM engine environment: cached ($vllm_venv)"); else
        add "vLLM engine environment: to install from requirements/vllm.txt (~3 min, 7 GB)" 7 3; fi
fi
avail_gb=$(($(df -Pk "$(d="$cache"; while [[ ! -d "$d" ]]; do d="$(dirname "$d")"; done; echo "$d")" \
    | awk 'NR==2 {print $4}') / 1024 / 1024))
need_gb=$((need_gb + transient_gb))
# The vLLM CPU image (the real-node vLLM test), only where the disk has room for it after the
# rest. Measured (hack/image/build.sh's header): the build keeps 13 GB (its layout 6.8 GB, buildah's
# storage 6.7 GB) and peaks 9 GB above that while buildah commits vLLM's layer; the node's import
# keeps 7 GB and needs as much again while it unpacks. So ~27 GB at the peak to build and import,
# ~14 GB to import a cached one (none when the node already has it). Without the room the
# real-node vLLM test says so and skips (allowed under CI: tests/support/skips.py).
vllm_image="" vllm_why_not="" build_vllm_image=false vllm_gb=0
if $with_vllm; then
    if ! $images_possible; then
        vllm_why_not="no images are built here (not root, or buildah, skopeo or debootstrap missing)"
    else
        vllm_print="$(ENGINE=vllm TORCH_VARIANT=none "$root/hack/image/build.sh" --print 2>&1 || true)"
        vllm_image="$(grep -v '^\[image\]' <<<"$vllm_print" || true)"
        if [[ -z "$vllm_image" ]]; then
            # A new build: 13 GB, or ~1 GB on vLLM's cached layer (a change to the sources).
            vllm_gb=13
            grep -q '^\[image\] vLLM layer cached' <<<"$vllm_print" && vllm_gb=1
        fi
        manifest=""
        [[ -z "$vllm_image" ]] \
            || manifest="$(grep -o '"digest": *"sha256:[0-9a-f]*"' "$vllm_image/index.json" | head -n1 | sed 's/.*sha256://; s/"//')"
        node_blobs="$cache/node/containerd/io.containerd.content.v1.content/blobs/sha256"
        if [[ -n "$manifest" && -f "$node_blobs/$manifest" ]]; then
            :  # the node has this very image
        elif [[ -d "$cache/node/containerd" ]] \
            && node_has_big_layers "$cache/images/layout-vllm-cpu/blobs/sha256" "$cache/node/unpacked-layers"; then
            # A rebuild whose vLLM layer the node holds unpacked: the import writes it once
            # more (7 GB, removed once imported) and unpacks only the small new layers.
            vllm_gb=$((vllm_gb + 7))
        else
            vllm_gb=$((vllm_gb + 14))
        fi
        if ((need_gb + vllm_gb + 3 > avail_gb)); then
            vllm_why_not="no disk for the vLLM CPU image: ~$((vllm_gb + 3)) GB more needed (build and node import), $((avail_gb - need_gb)) GB free after the rest"
            vllm_image="" vllm_gb=0
        elif [[ -n "$vllm_image" ]]; then
            plan+=("vLLM CPU image: cached")
        else
            how="~8 min"
            ((vllm_gb > 13 + 14 - 1)) || how="~1 min: vLLM's layer is cached"
            plan+=("vLLM CPU image (real-node vLLM test): to build ($how; ~${vllm_gb} GB with its node import, room for it)")
            build_vllm_image=true
        fi
    fi
    [[ -z "$vllm_why_not" ]] || plan+=("vLLM CPU image: not built ($vllm_why_not); the real-node vLLM test will skip")
fi
say "plan (${purpose}):"
for line in "${plan[@]}"; do say "  - $line"; done
if ((${#missing[@]})); then say "  - Debian packages to install: ${missing[*]}"; fi
say "  disk: ~${need_gb} GB needed at the peak$( ((vllm_gb == 0)) || echo " (+${vllm_gb} GB for the vLLM CPU image)"), ${avail_gb} GB free"
# 3 GB of margin: estimates, and a machine left with nothing free stalls.
if ((need_gb + 3 > avail_gb)); then
    stop "not enough disk: ~$((need_gb + 3)) GB needed under $cache and /var/lib/containers, ${avail_gb} GB free" \
        "free space (old caches: rm -rf ~/.cache/modeldeploy/images/*; buildah rmi --prune), or point MODELDEPLOY_CACHE at a larger disk"
fi

# Which parts of the test suite will run, and why not where they will not.
parts="unit control-plane"
if $images_possible; then
    parts+=" images real-node"
else
    why="not root"
    $is_root && why="buildah, skopeo or debootstrap missing"
    say "the image and real-node tests cannot run here ($why)$($ci && echo ': under CI they fail')"
fi
$with_vllm && parts+=" vllm"
say "test parts: $parts"
[[ "$purpose" == check ]] && exit 0

# --- the steps ---------------------------------------------------------------------------------
step() { say "$1 ($((SECONDS - began)) s)"; }
if ((${#missing[@]})); then
    step "installing Debian packages: ${missing[*]}"
    "$root/hack/system-deps.sh" "${missing[@]}"
fi
# The images (network and disk: PyPI, the Debian mirror, gigabytes written) are built in the
# background while Go compiles the tools (processor): on two cores that saves minutes. Their
# output goes to a log, shown when they fail.
images_pid=""
images_log="$cache/setup-images.log"
kill_tree() {  # kill_tree PID: PID and every process below it (buildah under build.sh ...)
    local child
    for child in $(pgrep -P "$1" 2>/dev/null); do kill_tree "$child"; done
    kill -TERM "$1" 2>/dev/null || true
}
stop_images() { [[ -z "$images_pid" ]] || kill_tree "$images_pid"; }
trap stop_images EXIT
if $images_possible; then
    mkdir -p "$cache"
    step "images, in the background beside the tools (log: $images_log)"
    (
        set -e
        "$root/hack/node/build-pause.sh" >/dev/null
        TORCH_VARIANT=none "$root/hack/image/build.sh" >/dev/null
        TORCH_VARIANT=cuda "$root/hack/image/build.sh" >/dev/null
        if $build_vllm_image; then ENGINE=vllm TORCH_VARIANT=none "$root/hack/image/build.sh" >/dev/null; fi
    ) >"$images_log" 2>&1 &
    images_pid=$!
fi
step "python environment"
venv="$("$root/hack/venv.sh")"
if $with_vllm; then
    step "vLLM engine environment"
    vllm_venv="$("$root/hack/venv.sh" --vllm)"
fi
step "kubernetes tools"
tools_bin="$(MODELDEPLOY_TOOLS="$tools" "$root/hack/build-tools.sh")"
if [[ -n "$images_pid" ]]; then
    step "waiting for the images"
    if ! wait "$images_pid"; then
        images_pid=""
        say "the image build failed; the end of $images_log:"
        tail -n 30 "$images_log" >&2
        exit 1
    fi
    images_pid=""
    grep -E '^\[(image|pause)\] (built|cached)' "$images_log" | sed 's/^/[setup]   /' >&2 || true
    operator_image="$(TORCH_VARIANT=none "$root/hack/image/build.sh" --print 2>/dev/null)"
    runtime_image="$(TORCH_VARIANT=cuda "$root/hack/image/build.sh" --print 2>/dev/null)"
    if [[ -z "$vllm_why_not" ]]; then
        vllm_image="$(ENGINE=vllm TORCH_VARIANT=none "$root/hack/image/build.sh" --print 2>/dev/null)"
    fi
fi
[[ -z "$vllm_why_not" ]] || say "the vLLM CPU image is not built: $vllm_why_not; the real-node vLLM test skips"
step "ready"
printf 'export MODELDEPLOY_VENV=%q\n' "$venv"
printf 'export MODELDEPLOY_TOOLS_BIN=%q\n' "$tools_bin"
printf 'export MODELDEPLOY_NODE_IMAGES=%q\n' "${operator_image:+$operator_image:$runtime_image}"
printf 'export MODELDEPLOY_PARTS=%q\n' "$parts"
if $with_vllm; then
    printf 'export MODELDEPLOY_VLLM_PYTHON=%q\n' "$vllm_venv/bin/python"
    printf 'export MODELDEPLOY_NODE_VLLM_IMAGE=%q\n' "$vllm_image"
    printf 'export MODELDEPLOY_NODE_VLLM_WHY_NOT=%q\n' "$vllm_why_not"
fi
