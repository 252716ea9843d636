"""Before kopf starts: find the Kubernetes configuration, or say in one line what is missing.

kopf retries a failing login forever (a traceback every 60 s), so an operator started
without any configuration would never exit. This module looks where `kube.credentials`
(lightkube's `KubeConfig.from_env`) looks, in the same order, with the standard library
only, so it can name every place it tried:

1. the in-cluster service account (its token and namespace files, then
   `KUBERNETES_SERVICE_HOST` and `_PORT`);
2. the file named by `$KUBECONFIG`, else `~/.kube/config`.

Then it reads the configuration found exactly as the operator will (`kube.credentials`),
so a file without a current context or user fails here too, naming the file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from modeldeploy.operator import kube

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
DEFAULT_KUBECONFIG = "~/.kube/config"
ENV_KUBECONFIG = "KUBECONFIG"
ENV_SERVICE = ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT")


class MissingConfigError(Exception):
    """No usable Kubernetes configuration; the one-line message names what was tried."""


def locate(
    *, environ: Mapping[str, str] | None = None, service_account: Path = SERVICE_ACCOUNT
) -> str:
    """Where the configuration comes from (for a log line); else the error names each place."""
    env = os.environ if environ is None else environ
    in_cluster = _in_cluster_problem(env, service_account)
    if in_cluster is None:
        return f"in-cluster service account ({service_account})"
    named = env.get(ENV_KUBECONFIG)
    if named is not None and not named:
        raise MissingConfigError(f"{ENV_KUBECONFIG} is set but empty, and {in_cluster}")
    path = Path(named or DEFAULT_KUBECONFIG).expanduser()
    if path.is_file():
        return str(path)
    what = "is not a file" if path.exists() else "does not exist"
    if named:
        file = "the file" if str(path) == named else str(path)
        raise MissingConfigError(f"{ENV_KUBECONFIG}={named}: {file} {what}, and {in_cluster}")
    raise MissingConfigError(
        f"no Kubernetes configuration: {ENV_KUBECONFIG} is not set, {path} {what}, and {in_cluster}"
    )


def require() -> str:
    """`locate`, then read the configuration as the operator's login will (or fail here)."""
    source = locate()
    try:
        kube.credentials()
    except Exception as exc:  # lightkube's ConfigError, a KeyError, a YAML error, an OSError
        raise MissingConfigError(f"{source}{_problem(exc)}") from None
    return source


def _problem(exc: Exception) -> str:
    """The end of a one-line message: `:LINE:COLUMN: not valid YAML: ...` for a YAML error."""
    mark, problem = getattr(exc, "problem_mark", None), getattr(exc, "problem", None)
    if mark is not None and problem:
        return f":{mark.line + 1}:{mark.column + 1}: not valid YAML: {problem}"
    detail = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, KeyError):  # a field the file lacks, e.g. 'contexts'
        detail = f"no {detail}"
    return f": unusable Kubernetes configuration: {detail}"


def _in_cluster_problem(env: Mapping[str, str], service_account: Path) -> str | None:
    """None inside a pod with a service account; else why not, as the end of a sentence."""
    token, namespace = service_account / "token", service_account / "namespace"
    if not (token.is_file() and namespace.is_file()):
        return f"there is no in-cluster service account ({token})"
    unset = [name for name in ENV_SERVICE if not env.get(name)]
    if unset:  # lightkube takes the account and fails on the variables: so do we, first
        raise MissingConfigError(
            f"{service_account}: a service account, but {' and '.join(unset)} unset"
        )
    return None
