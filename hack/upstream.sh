#!/usr/bin/env bash
# `make test-upstream`: the runtime tests on the newest versions pyproject.toml allows, in a
# venv of their own (the lock and the project's venv stay as they are). Not part of CI: it tells
# ahead of time what `make lock --upgrade` would break (a deprecation becomes an error here, as
# pytest turns warnings into errors).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${MODELDEPLOY_CACHE:-$HOME/.cache/modeldeploy}"
uv="$("$root/hack/venv.sh")/bin/uv"
work="$cache/upstream"
mkdir -p "$work"
# A fresh resolution with the newest allowed versions, hashes included, written outside the tree.
(cd "$root" && "$uv" pip compile --quiet --upgrade --generate-hashes --no-header \
    --python-version 3.11 --extra runtime --extra dev pyproject.toml -o "$work/requirements.txt")
echo "upstream: $(grep -E '^(torch|transformers|tokenizers|safetensors|huggingface-hub)==' "$work/requirements.txt" | tr '\n' ' ')" >&2
venv="$(MODELDEPLOY_CACHE="$work" MODELDEPLOY_REQUIREMENTS="$work/requirements.txt" "$root/hack/venv.sh")"
cd "$root"
"$venv/bin/pytest" tests/runtime "$@"
