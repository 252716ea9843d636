#!/usr/bin/env bash
# Create (once) the project's virtual environment and install this checkout into it.
#
# The environment lives outside the work tree, keyed by what decides its contents
# (pyproject.toml and the Python version), so a warm run costs seconds and a changed
# dependency list builds a fresh one. Downloads go through pip's own cache.
#   hack/venv.sh          ensure the venv, install this checkout (editable), print its path
#   hack/venv.sh --path   only print the path it would use
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3
cache=${MODELDEPLOY_CACHE:-$HOME/.cache/modeldeploy}
# The key: what pip installs (build system, dependencies, extras) and the interpreter;
# tool settings elsewhere in pyproject.toml do not rebuild the environment.
key=$("$python" - "$root/pyproject.toml" <<'PY' | sha256sum | cut -c1-16
import json, sys, tomllib
with open(sys.argv[1], "rb") as handle:
    data = tomllib.load(handle)
project = data["project"]
print(sys.version)
print(json.dumps([data["build-system"], project.get("requires-python"),
                  project.get("dependencies"), project.get("optional-dependencies")]))
PY
)
venv="$cache/venv/$key"
if [[ ${1:-} == --path ]]; then echo "$venv"; exit 0; fi

log() { echo "venv: $*" >&2; }
if [[ ! -f "$venv/.complete" ]]; then
  log "creating $venv (first run: torch and friends are a few GB; minutes)"
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip >&2
  "$venv/bin/python" -m pip install -q -e "$root[runtime,dev]" >&2
  touch "$venv/.complete"
fi
# Point the editable install at this checkout (fast: no dependency resolution).
if ! out=$("$venv/bin/python" -m pip install -q --no-deps --no-build-isolation -e "$root" 2>&1); then
  echo "$out" >&2
  exit 1
fi
echo "$venv"
