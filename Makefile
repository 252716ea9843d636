# Everyday commands. `make demo` and `make test` run the one set-up step first (hack/setup.sh:
# checks in seconds, then installs and builds what is missing, cached outside the work tree);
# the other targets need only the virtual environment (hack/venv.sh: from the lock, keyed by it).
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
# The venv's path costs nothing to compute; the targets that use it create it first (venv).
VENV := $(shell hack/venv.sh --path)
BIN := $(VENV)/bin

.PHONY: help setup venv test test-unit test-upstream lint lock format crd bench demo demo-down \
	demo-local cluster-up cluster-down

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

setup:  ## install and build everything the demo and the tests need (idempotent; resumes)
	@hack/setup.sh test >/dev/null

venv:
	@hack/venv.sh >/dev/null

test:  ## the full test suite, real control plane and real node included (what CI runs)
	@eval "$$(hack/setup.sh test)"; "$$MODELDEPLOY_VENV/bin/pytest"

test-unit: venv  ## the tests that need no control plane
	$(BIN)/pytest -m "not cluster and not node"

test-upstream:  ## the runtime tests on the newest versions pyproject.toml allows (not in CI)
	hack/upstream.sh

lint: venv  ## ruff, mypy --strict, import contracts, hadolint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/hadolint Dockerfile Dockerfile.vllm

lock:  ## regenerate uv.lock and requirements/*.txt from pyproject.toml (uv, hashes included)
	hack/lock.sh

format: venv  ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

crd: venv  ## regenerate the CRDs (crds/ and the chart's copy) from the API models
	$(BIN)/modeldeploy crd --output-dir crds
	cp crds/*.yaml charts/modeldeploy/crds/

bench: venv  ## the benchmarks: ratios against baselines measured in the same run; fails on a missed goal
	@failed=0; \
	$(BIN)/python bench/bench_fetch.py || failed=1; \
	$(BIN)/python bench/bench_runtime.py || failed=1; \
	MODELDEPLOY_TOOLS_BIN="$$(hack/build-tools.sh)" $(BIN)/python bench/bench_operator.py || failed=1; \
	MODELDEPLOY_TOOLS_BIN="$$(hack/build-tools.sh)" $(BIN)/python bench/bench_operator.py \
	  --count 2000 --caches 20 --idle-seconds 240 || failed=1; \
	$(BIN)/python bench/bench_cache_verify.py || failed=1; \
	exit $$failed

demo:  ## the main job on a real node: apply a ModelDeployment -> fetch Job -> Ready -> completion
	@eval "$$(hack/setup.sh demo)"; "$$MODELDEPLOY_VENV/bin/python" hack/demo.py

demo-down:  ## stop and remove everything `make demo` started
	hack/local-cluster.sh down

demo-local: venv  ## the same model without Kubernetes: mirror -> fetch -> verify -> serve -> completion
	$(BIN)/python hack/demo_local.py

cluster-up: venv  ## start the local control plane (then: eval "$(hack/local-cluster.sh env)")
	hack/local-cluster.sh up

cluster-down:  ## stop it
	hack/local-cluster.sh down
