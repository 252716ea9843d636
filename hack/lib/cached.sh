# Sourced by the build scripts that cache one artefact per key of their inputs
# (hack/image/build.sh, hack/node/build-pause.sh); the caller defines log().
#
# print_if_built FILE MESSAGE [RESULT]: when FILE exists, log MESSAGE, print RESULT (default FILE)
# and end the script (exit 0): the cached result is the answer. Called before taking the cache's lock and again
# after it, for a result another run finished meanwhile.
print_if_built() {
    if [[ -f "$1" ]]; then
        log "$2"
        echo "${3:-$1}"
        exit 0
    fi
}

# lock_for_build LOCKFILE WHY_ROOT: check buildah ($buildah_bin) and root, then wait for the
# cache's lock on fd 9, held until the script exits (one builder per cache: a second run
# waits, then finds the result with print_if_built).
lock_for_build() {
    command -v "$buildah_bin" >/dev/null || die "buildah not found (Debian: apt-get install buildah)"
    [[ "$(id -u)" == 0 ]] || die "needs root ($2)"
    mkdir -p "$(dirname "$1")"
    exec 9>"$1"
    flock 9
}
