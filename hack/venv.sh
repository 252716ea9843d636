#!/usr/bin/env bash
# Create (once) the project's virtual environment from the lock and install this checkout into it.
#
# The environment is exactly requirements/dev.txt (+ requirements/build.txt), hashes checked:
# what CI tested is what every machine gets (`make lock` regenerates both from pyproject.toml).
# It lives outside the work tree, keyed by those files and the Python version, so a warm run
# costs seconds and a changed lock builds a fresh one. Downloads go to a cache of our own
# ($MODELDEPLOY_CACHE/downloads), so a run that was interrupted downloads only what it had not; it
# is removed once the environment is complete (torch's wheels: gigabytes nothing reads again).
#   hack/venv.sh          ensure the venv, install this checkout (editable), print its path
#   hack/venv.sh --path   only print the path it would use
#   hack/venv.sh --vllm [--path]   the same for the vLLM engine's own environment
#                         (requirements/vllm.txt; no checkout in it: `serve --engine vllm` starts
#                         its interpreter as a child process)
# Environment: PYTHON (default python3.11), MODELDEPLOY_CACHE (default ~/.cache/modeldeploy),
# MODELDEPLOY_REQUIREMENTS (default requirements/dev.txt; `make test-upstream` passes another).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3
cache=${MODELDEPLOY_CACHE:-$HOME/.cache/modeldeploy}
requirements=${MODELDEPLOY_REQUIREMENTS:-$root/requirements/dev.txt}
build_requirements=$root/requirements/build.txt
kind=venv
if [[ ${1:-} == --vllm ]]; then
  shift
  kind=vllm-venv
  requirements=$root/requirements/vllm.txt
  build_requirements=/dev/null
fi
log() { echo "venv: $*" >&2; }
for f in "$requirements" "$build_requirements"; do
  [[ -e "$f" ]] || { log "error: $f is missing (make lock writes it)"; exit 1; }
done
key=$({ "$python" -c 'import sys; print(sys.version)'; cat "$build_requirements" "$requirements"; } \
  | sha256sum | cut -c1-16)
venv="$cache/$kind/$key"
if [[ ${1:-} == --path ]]; then echo "$venv"; exit 0; fi

if [[ ! -f "$venv/.complete" ]]; then
  log "creating $venv from $(basename "$requirements") (first run: torch with its CUDA libraries, ~7 GB; minutes)"
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv "$venv"
  # --no-deps: the lock is complete (uv resolved it); --require-hashes: every file is the one
  # that was locked. pip itself is the interpreter's bundled one (ensurepip), never upgraded.
  # Download first, into our own folder (a rerun keeps what is there), then install from it alone.
  export PIP_DISABLE_PIP_VERSION_CHECK=1
  "$venv/bin/python" -m pip download -q --no-deps --require-hashes -d "$cache/downloads" \
    -r "$build_requirements" -r "$requirements" >&2
  "$venv/bin/python" -m pip install -q --no-deps --require-hashes --no-index \
    --find-links "$cache/downloads" -r "$build_requirements" -r "$requirements" >&2
  touch "$venv/.complete"
  rm -rf "$cache/downloads"
  # Older environments of this checkout's cache are what a lock change left behind: gigabytes each.
  for old in "$cache/$kind"/*; do
    [[ "$old" == "$venv" || ! -d "$old" ]] || { log "removing the outdated $old"; rm -rf "$old"; }
  done
fi
[[ $kind == venv ]] || { echo "$venv"; exit 0; }
# Point the editable install at this checkout (fast: no dependency resolution, no download).
if ! out=$(PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/python" -m pip install -q --no-deps \
  --no-build-isolation -e "$root" 2>&1); then
  echo "$out" >&2
  exit 1
fi
echo "$venv"
