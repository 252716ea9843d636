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
# Stages, so that a change to the sources never installs or copies the dependencies again, and
# the dependencies are stored once (the final image is built on the same layer):
#   deps      the venv at its final path with the locked requirements (requirements/*.txt, made
#             by `make lock`: exact versions, hashes checked), then pip and setuptools removed in
#             the same layer (torch and the CUDA libraries: gigabytes, rarely changed)
#   builder   deps plus the sources: a throwaway venv with the locked build tools builds the
#             wheel, installs and checks it against the deps venv, and installs it again under
#             /staging, which the final stage copies as a small last layer
FROM ${BASE_IMAGE} AS deps
ARG TORCH_VARIANT=cuda
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1
SHELL ["/bin/bash", "-euxo", "pipefail", "-c"]
RUN python3 -m venv /opt/modeldeploy
ENV PATH=/opt/modeldeploy/bin:${PATH}
WORKDIR /tmp/requirements
COPY requirements/operator.txt requirements/runtime.txt ./
# Behind a TLS-intercepting proxy, pass its CA bundle as a build secret (never stored in a
# layer): docker build --secret id=pip_cert,src=/etc/ssl/certs/ca-certificates.crt ...
# cpu: torch (at the locked version) comes from the CPU wheel index, whose files have other
# hashes; everything else, CUDA libraries excepted, from the lock as for cuda.
# hadolint ignore=DL3013
RUN --mount=type=secret,id=pip_cert \
    if [ -s /run/secrets/pip_cert ]; then export PIP_CERT=/run/secrets/pip_cert; fi; \
    case "${TORCH_VARIANT}" in \
      none)     lock=operator.txt ;; \
      cpu|cuda) lock=runtime.txt ;; \
      *)        echo "TORCH_VARIANT must be cuda, cpu or none, not '${TORCH_VARIANT}'" >&2; exit 2 ;; \
    esac; \
    if [ "${TORCH_VARIANT}" = cpu ]; then \
      torch="$(sed -n 's/^\(torch==[^ ;]*\).*/\1/p' runtime.txt)"; \
      python3 -c 'import re, sys; text = open("runtime.txt").read(); \
entries = re.split(r"\n(?=[A-Za-z])", text); \
drop = re.compile(r"(torch|triton|nvidia-[a-z0-9-]+|cuda-[a-z0-9-]+)=="); \
open("cpu.txt", "w").write("\n".join(e for e in entries if not drop.match(e)))'; \
      pip install --no-cache-dir --no-deps --index-url "${TORCH_INDEX_URL}" "${torch}"; \
      lock=cpu.txt; \
    fi; \
    pip install --no-cache-dir --no-deps --require-hashes --requirement "${lock}"; \
    if [ -z "$(pip show setuptools 2>/dev/null | sed -n 's/^Required-by: *//p')" ]; then \
      pip uninstall --yes setuptools; \
    fi; \
    pip uninstall --yes pip; \
    rm -f /tmp/requirements/*.txt

# ---------------------------------------------------------------------------------------------
FROM deps AS builder
# modeldeploy/{operator,runtime,hub} are symlinks to the top-level folders: copy the real
# folders next to them so the links resolve, and let the wheel build follow them. The final
# stage gets only the installed files (no links, no sources).
WORKDIR /src
COPY requirements/build.txt /tmp/build.txt
RUN --mount=type=secret,id=pip_cert \
    if [ -s /run/secrets/pip_cert ]; then export PIP_CERT=/run/secrets/pip_cert; fi; \
    python3 -m venv /tmp/build; \
    /tmp/build/bin/pip install --no-cache-dir --no-deps --require-hashes --requirement /tmp/build.txt
COPY pyproject.toml README.md ./
COPY hub/ hub/
COPY operator/ operator/
COPY runtime/ runtime/
COPY modeldeploy/ modeldeploy/
RUN /tmp/build/bin/pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /tmp/wheels .; \
    /tmp/build/bin/pip --python /opt/modeldeploy/bin/python install --no-cache-dir --no-deps \
      /tmp/wheels/modeldeploy-*.whl; \
    /tmp/build/bin/pip --python /opt/modeldeploy/bin/python check; \
    modeldeploy --version; \
    /tmp/build/bin/pip --python /opt/modeldeploy/bin/python install --no-cache-dir --no-deps \
      --ignore-installed --no-warn-script-location --root /staging /tmp/wheels/modeldeploy-*.whl; \
    test "$(ls /staging)" = opt; \
    rm -rf /tmp/wheels

# ---------------------------------------------------------------------------------------------
# Final: the deps stage (the base plus the venv, its one big layer shared with the build, not
# copied again), run as an unprivileged user. No compilers, no pip, no caches. Layers: the
# dependencies (reused from the cache while the lock is unchanged), the user, then modeldeploy
# itself (a few hundred kB). Labels come last: their values (revision, date) change on every
# build and would otherwise invalidate the layers below them.
FROM deps
SHELL ["/bin/bash", "-euo", "pipefail", "-c"]
# A fixed numeric uid/gid (the distroless "nonroot" convention) so that Kubernetes can check
# runAsNonRoot without a name lookup, and cache volumes can be shared by fsGroup.
RUN groupadd --gid 65532 modeldeploy \
    && useradd --uid 65532 --gid 65532 --no-log-init --home-dir /home/modeldeploy --create-home \
       --shell /usr/sbin/nologin modeldeploy
COPY --from=builder /staging/ /
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
