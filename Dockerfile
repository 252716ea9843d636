# syntax=docker/dockerfile:1
# The modeldeploy image: one `modeldeploy` entrypoint for both roles,
#   the operator:  modeldeploy operator
#   the runtime:   modeldeploy serve --model-dir /models/...
#
# Build arguments:
#   BASE_IMAGE       a Python 3.11+ base with `python3 -m venv` (default: the official slim image;
#                    hack/image/build.sh passes a local Debian bookworm base made with debootstrap)
#   TORCH_VARIANT    cuda (default): torch from PyPI, which bundles the CUDA libraries
#                    cpu:            torch from the PyTorch CPU wheel index (TORCH_INDEX_URL)
#                    none:           operator-only image, without the runtime extra (no torch)
#   TORCH_INDEX_URL  the index that serves CPU torch wheels (and their dependencies)
#   VERSION, REVISION, CREATED  values for the OCI labels
#
#   docker build -t modeldeploy:0.1.0 .                                   # runtime, CUDA
#   docker build --build-arg TORCH_VARIANT=cpu -t modeldeploy:0.1.0-cpu .
#   docker build --build-arg TORCH_VARIANT=none -t modeldeploy:0.1.0-operator .
ARG BASE_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------------------------
# Builder: build the wheel and install it with its dependencies into a venv at its final path.
FROM ${BASE_IMAGE} AS builder
ARG TORCH_VARIANT=cuda
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1
SHELL ["/bin/bash", "-euxo", "pipefail", "-c"]
RUN python3 -m venv /opt/modeldeploy
ENV PATH=/opt/modeldeploy/bin:${PATH}
WORKDIR /src
# Dependencies first, in their own layer, read from pyproject.toml alone: a change to the
# sources then rebuilds only the small layer below, not torch and friends.
# Behind a TLS-intercepting proxy, pass its CA bundle as a build secret (never stored in a
# layer): docker build --secret id=pip_cert,src=/etc/ssl/certs/ca-certificates.crt ...
COPY pyproject.toml README.md ./
RUN --mount=type=secret,id=pip_cert \
    if [ -s /run/secrets/pip_cert ]; then export PIP_CERT=/run/secrets/pip_cert; fi; \
    case "${TORCH_VARIANT}" in \
      none) extras="" ;; \
      cpu)  pip install --no-cache-dir --index-url "${TORCH_INDEX_URL}" "torch>=2.5,<3"; extras="runtime" ;; \
      cuda) extras="runtime" ;; \
      *)    echo "TORCH_VARIANT must be cuda, cpu or none, not '${TORCH_VARIANT}'" >&2; exit 2 ;; \
    esac; \
    python -c 'import sys, tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
print("\n".join(p["dependencies"] + [d for e in sys.argv[1:] for d in p["optional-dependencies"][e]]))' \
      ${extras} > /tmp/requirements.txt; \
    pip install --no-cache-dir --requirement /tmp/requirements.txt; \
    rm /tmp/requirements.txt
# modeldeploy/{operator,runtime,hub} are symlinks to the top-level folders: copy the real
# folders next to them so the links resolve, and let the wheel build follow them. The final
# stage gets only the installed files (no links, no sources).
COPY hub/ hub/
COPY operator/ operator/
COPY runtime/ runtime/
COPY modeldeploy/ modeldeploy/
RUN --mount=type=secret,id=pip_cert \
    if [ -s /run/secrets/pip_cert ]; then export PIP_CERT=/run/secrets/pip_cert; fi; \
    pip wheel --no-cache-dir --no-deps --wheel-dir /tmp/wheels .; \
    pip install --no-cache-dir --no-deps /tmp/wheels/modeldeploy-*.whl; \
    pip check; \
    modeldeploy --version; \
    if [ -z "$(pip show setuptools | sed -n 's/^Required-by: *//p')" ]; then \
      pip uninstall --yes setuptools; \
    fi; \
    pip uninstall --yes pip; \
    rm -rf /tmp/wheels

# ---------------------------------------------------------------------------------------------
# Final: the base plus the venv, run as an unprivileged user. No compilers, no pip, no caches.
FROM ${BASE_IMAGE}
ARG BASE_IMAGE=python:3.11-slim-bookworm
ARG TORCH_VARIANT=cuda
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="modeldeploy" \
      org.opencontainers.image.description="Operator and in-pod runtime that deploy Hugging Face models onto GPU nodes (torch: ${TORCH_VARIANT})" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="modeldeploy maintainers" \
      org.opencontainers.image.source="https://github.com/example/modeldeploy" \
      org.opencontainers.image.url="https://github.com/example/modeldeploy" \
      org.opencontainers.image.documentation="https://github.com/example/modeldeploy/blob/main/docs/install.md" \
      org.opencontainers.image.base.name="${BASE_IMAGE}" \
      io.modeldeploy.torch-variant="${TORCH_VARIANT}"
SHELL ["/bin/bash", "-euo", "pipefail", "-c"]
# A fixed numeric uid/gid (the distroless "nonroot" convention) so that Kubernetes can check
# runAsNonRoot without a name lookup, and cache volumes can be shared by fsGroup.
RUN groupadd --gid 65532 modeldeploy \
    && useradd --uid 65532 --gid 65532 --no-log-init --home-dir /home/modeldeploy --create-home \
       --shell /usr/sbin/nologin modeldeploy
COPY --from=builder /opt/modeldeploy /opt/modeldeploy
# HF_HOME under /tmp: the root filesystem is read-only in the chart's pods (emptyDir on /tmp).
ENV PATH=/opt/modeldeploy/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HF_HOME=/tmp/huggingface \
    HF_HUB_DISABLE_TELEMETRY=1
USER 65532:65532
WORKDIR /home/modeldeploy
EXPOSE 8080
# Kubernetes probes the runtime (/livez, /readyz, /startupz) and the operator (its health
# endpoint); a Docker HEALTHCHECK would only duplicate them, with the wrong role for one of them.
HEALTHCHECK NONE
ENTRYPOINT ["modeldeploy"]
CMD ["--help"]
