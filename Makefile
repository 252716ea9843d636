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

.PHONY: help setup tools test test-unit lint format crd bench demo demo-down cluster-up cluster-down

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-13s %s\n", $$1, $$2}'

setup:  ## create the venv and install the project with its test tools
	@echo "venv: $(VENV)"

tools:  ## build etcd, kube-apiserver, kwok, helm, ... from source (cached outside the tree)
	@hack/build-tools.sh >/dev/null

test:  ## the full test suite, real control plane included (what CI runs)
	export MODELDEPLOY_TOOLS_BIN="$$(hack/build-tools.sh)"; $(BIN)/pytest

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

demo:  ## the main job: hub mirror -> fetch -> verify -> serve -> Ready -> a completion
	$(BIN)/python hack/demo.py

cluster-up:  ## start the local control plane (then: eval "$$(hack/local-cluster.sh env)")
	hack/local-cluster.sh up

cluster-down:  ## stop it
	hack/local-cluster.sh down
