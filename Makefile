# Everyday commands. Every target first makes sure the project's virtual environment
# exists (hack/venv.sh: outside the work tree, keyed by pyproject.toml).
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
VENV := $(shell hack/venv.sh)
ifeq ($(VENV),)
$(error hack/venv.sh failed to set up the virtual environment; run it directly to see why)
endif
BIN := $(VENV)/bin
CRD = crds/modeldeploy.io_modeldeployments.yaml
# Components hack/build-tools.sh builds for the tests and the demo (the real node included).
NODE_TOOLS := etcd k8s kwok helm kubelet

.PHONY: help setup tools test test-unit lint format crd bench demo demo-down demo-local cluster-up cluster-down

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-13s %s\n", $$1, $$2}'

setup:  ## create the venv and install the project with its test tools
	@echo "venv: $(VENV)"

tools:  ## build etcd, kube-apiserver, kwok, helm, ... from source (cached outside the tree)
	@hack/build-tools.sh >/dev/null

# The real-node tests use the images hack/image/build.sh made for the current sources (CI builds
# them first); with none built they skip and say so (in CI they fail instead).
test:  ## the full test suite, real control plane and real node included (what CI runs)
	export MODELDEPLOY_TOOLS_BIN="$$(MODELDEPLOY_TOOLS="$(NODE_TOOLS)" hack/build-tools.sh)"; \
	export MODELDEPLOY_NODE_IMAGES="$$(hack/image/build.sh --print 2>/dev/null):$$(TORCH_VARIANT=cuda hack/image/build.sh --print 2>/dev/null)"; \
	$(BIN)/pytest

test-unit:  ## the tests that need no control plane
	$(BIN)/pytest -m "not cluster"

lint:  ## ruff, mypy --strict, import contracts, hadolint, helm lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/hadolint Dockerfile

format:  ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

crd:  ## regenerate the CRD (crds/ and the chart's copy) from the API models
	$(BIN)/modeldeploy crd > $(CRD)
	cp $(CRD) charts/modeldeploy/crds/

bench:  ## run the benchmarks (ratios against baselines measured in the same run)
	$(BIN)/python bench/bench_fetch.py
	$(BIN)/python bench/bench_runtime.py
	export MODELDEPLOY_TOOLS_BIN="$$(hack/build-tools.sh)"; $(BIN)/python bench/bench_operator.py

demo:  ## the main job on a real node: apply a ModelDeployment -> fetch Job -> Ready -> completion
	$(BIN)/python hack/demo.py

demo-down:  ## stop and remove everything `make demo` started
	hack/local-cluster.sh down

demo-local:  ## the same model without Kubernetes: mirror -> fetch -> verify -> serve -> completion
	$(BIN)/python hack/demo_local.py

cluster-up:  ## start the local control plane (then: eval "$$(hack/local-cluster.sh env)")
	hack/local-cluster.sh up

cluster-down:  ## stop it
	hack/local-cluster.sh down
