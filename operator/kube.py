"""The one module that talks to the Kubernetes API (lightkube). Nothing else imports lightkube.

Every API call the operator makes (the Helm chart's RBAC is written from this list;
"apply" is a server-side-apply PATCH with field manager `modeldeploy`, force=true, which
creates the object when it is absent):

- list, watch: modeldeployments (modeldeploy.io) — kopf's watch of the primary resource
- patch: modeldeployments/status (modeldeploy.io) — status writes (merge patch, on change)
- list, watch: modelcaches (modeldeploy.io) — kopf's watch of the second kind
- patch: modelcaches/status (modeldeploy.io) — its status writes
- list, watch: deployments (apps), jobs (batch), services, persistentvolumeclaims, pods —
  children, watched with the label selector app.kubernetes.io/managed-by=modeldeploy
- patch, create: deployments (apps), jobs (batch), services, persistentvolumeclaims — apply
- patch, create: servicemonitors (monitoring.coreos.com) — only with serviceMonitor: true
- delete: jobs (batch) — fetch Jobs of commits neither served nor being fetched; a
  ModelCache's fetch Jobs nobody wants any more and its finished maintenance Jobs
- get: pods/log — the fetch Job pod's last `--progress json` line; the report a ModelCache's
  maintenance Job prints last
- list, watch: nodes — the preflight GPU fit check
- get: secrets — the token named by spec.model.tokenSecretRef (never logged)
- create: events (core) — condition changes and failures (the operator's and kopf's)
- list, watch: customresourcedefinitions (apiextensions.k8s.io) — kopf's resource discovery
- list, watch: namespaces — kopf, only when a --namespace is a glob pattern

Owner references set `blockOwnerDeletion`; with the OwnerReferencesPermissionEnforcement
admission plugin that also needs `update` on modeldeployments/finalizers.
Plus the runtime's `GET http://<pod IP>:<port>/status` (not an API call; runtime_reports).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx2
from lightkube import ApiError, AsyncClient
from lightkube.config.kubeconfig import KubeConfig
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.core_v1 import EventSource, ObjectReference
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Event, PersistentVolumeClaim, Secret, Service
from lightkube.types import CascadeType, PatchType

from modeldeploy.operator.api import resource

log = logging.getLogger(__name__)

ModelDeploymentResource = create_namespaced_resource(
    resource.GROUP, resource.VERSION, resource.KIND, resource.PLURAL
)
ModelCacheResource = create_namespaced_resource(
    resource.GROUP, resource.VERSION, "ModelCache", "modelcaches"
)
_STATUS_OF = {
    resource.KIND: ModelDeploymentResource.Status,
    "ModelCache": ModelCacheResource.Status,
}
ServiceMonitor = create_namespaced_resource(
    "monitoring.coreos.com", "v1", "ServiceMonitor", "servicemonitors"
)

_KINDS: dict[tuple[str, str], Any] = {
    ("apps/v1", "Deployment"): Deployment,
    ("batch/v1", "Job"): Job,
    ("v1", "Service"): Service,
    ("v1", "PersistentVolumeClaim"): PersistentVolumeClaim,
    ("monitoring.coreos.com/v1", "ServiceMonitor"): ServiceMonitor,
}
_TRANSIENT_STATUS = {409, 429, 500, 502, 503, 504}
_NOT_SERVED = "the API server does not serve this kind (is its CRD installed?)"


@dataclass(frozen=True)
class Credentials:
    """Where and how to reach the API server (for kopf's own client, see handlers.login)."""

    server: str
    ca_path: str | None = None
    ca_data: str | None = None
    insecure: bool = False
    certificate_path: str | None = None
    certificate_data: str | None = None
    private_key_path: str | None = None
    private_key_data: str | None = None
    token: str | None = None
    default_namespace: str | None = None


def credentials() -> Credentials:
    """The same configuration lightkube uses: in-cluster service account, else $KUBECONFIG."""
    config = KubeConfig.from_env().get()
    if config is None or config.user is None:
        raise KubeError(
            "no Kubernetes configuration (service account or KUBECONFIG)",
            code=None,
            transient=False,
        )
    cluster, user = config.cluster, config.user
    token = user.token
    if token is None and user.token_file:
        with open(user.token_file, encoding="utf-8") as handle:  # rotated: read at each login
            token = handle.read().strip()
    return Credentials(
        server=cluster.server,
        ca_path=str(cluster.certificate_auth) if cluster.certificate_auth else None,
        ca_data=cluster.certificate_auth_data,
        insecure=bool(cluster.insecure),
        certificate_path=str(user.client_cert) if user.client_cert else None,
        certificate_data=user.client_cert_data,
        private_key_path=str(user.client_key) if user.client_key else None,
        private_key_data=user.client_key_data,
        token=token,
        default_namespace=config.namespace,
    )


class KubeError(Exception):
    """An API call failed; `transient` says whether retrying later can help."""

    def __init__(self, message: str, *, code: int | None, transient: bool) -> None:
        super().__init__(message)
        self.code = code
        self.transient = transient


@dataclass(frozen=True)
class Applied:
    """What the API server holds after an apply: the markers that change on foreign edits."""

    generation: int | None
    resource_version: str | None


def _error(exc: Exception, what: str) -> KubeError:
    if isinstance(exc, ApiError):
        code = exc.status.code
        return KubeError(
            f"{what}: {exc.status.message}", code=code, transient=code in _TRANSIENT_STATUS
        )
    if isinstance(exc, httpx2.HTTPStatusError):
        # An answer that is no Status object, e.g. the plain 404 of a kind the API server
        # does not serve (a ServiceMonitor without its CRD): as permanent as its code says.
        code = exc.response.status_code
        why = _NOT_SERVED if code == 404 else exc.response.reason_phrase
        return KubeError(
            f"{what}: HTTP {code}: {why}", code=code, transient=code in _TRANSIENT_STATUS
        )
    return KubeError(f"{what}: {type(exc).__name__}: {exc}", code=None, transient=True)


class Kube:
    """An async Kubernetes client with the few verbs the operator needs."""

    def __init__(self, *, field_manager: str) -> None:
        # Configuration: in-cluster service account, else $KUBECONFIG, else ~/.kube/config.
        self._client = AsyncClient(field_manager=field_manager, timeout=httpx2.Timeout(20.0))
        self._field_manager = field_manager

    async def close(self) -> None:
        await self._client.close()

    async def apply(self, obj: Mapping[str, Any]) -> Applied:
        """Server-side apply of one child (force: the operator owns the fields it sets)."""
        kind = _KINDS[(obj["apiVersion"], obj["kind"])]
        meta = obj["metadata"]
        what = f"apply {obj['kind']} {meta['namespace']}/{meta['name']}"
        try:
            result = await self._client.patch(
                kind,
                meta["name"],
                dict(obj),
                namespace=meta["namespace"],
                patch_type=PatchType.APPLY,
                field_manager=self._field_manager,
                force=True,
            )
        except (ApiError, httpx2.HTTPError) as exc:
            raise _error(exc, what) from None
        return Applied(result.metadata.generation, result.metadata.resourceVersion)

    async def delete_job(self, *, namespace: str, name: str) -> None:
        """Delete an obsolete fetch Job and its pods (absent already is fine)."""
        try:
            await self._client.delete(
                Job, name, namespace=namespace, cascade=CascadeType.BACKGROUND
            )
        except ApiError as exc:
            if exc.status.code != 404:
                raise _error(exc, f"delete Job {namespace}/{name}") from None
        except httpx2.HTTPError as exc:
            raise _error(exc, f"delete Job {namespace}/{name}") from None

    async def patch_status(
        self, *, namespace: str, name: str, status: Mapping[str, Any], kind: str = resource.KIND
    ) -> None:
        """Merge-patch the status subresource (nulls remove fields; lists are replaced)."""
        try:
            await self._client.patch(
                _STATUS_OF[kind],
                name,
                {"status": dict(status)},
                namespace=namespace,
                patch_type=PatchType.MERGE,
            )
        except (ApiError, httpx2.HTTPError) as exc:
            raise _error(exc, f"patch status of {kind} {namespace}/{name}") from None

    async def pod_log_tail(self, *, namespace: str, pod: str, lines: int = 20) -> str:
        """The last lines of a pod's log ('' when there is none yet)."""
        try:
            chunks = [
                line async for line in self._client.log(pod, namespace=namespace, tail_lines=lines)
            ]
        except (ApiError, httpx2.HTTPError) as exc:
            log.debug("no log for pod %s/%s: %s", namespace, pod, exc)
            return ""
        return "".join(chunks)

    async def read_secret_key(self, *, namespace: str, name: str, key: str) -> str:
        """A Secret's value by key, decoded. The value is never logged.

        A Secret that is missing, unreadable (403) or lacks the key raises KubeError naming
        the Secret and key: resolving anonymously instead would end in a misleading
        GatedRepo or RepoNotFound.
        """
        what = f"token Secret {namespace}/{name} (key {key!r})"
        try:
            secret = await self._client.get(Secret, name, namespace=namespace)
        except (ApiError, httpx2.HTTPError) as exc:
            raise _error(exc, f"read {what}") from None
        encoded = (secret.data or {}).get(key)
        value = base64.b64decode(encoded).decode("utf-8").strip() if encoded else ""
        if not value:
            raise KubeError(f"{what}: the key is missing or empty", code=None, transient=False)
        return value

    async def post_event(
        self,
        *,
        namespace: str,
        name: str,
        uid: str,
        type_: str,
        reason: str,
        message: str,
        kind: str = resource.KIND,
    ) -> None:
        """A core/v1 Event on a ModelDeployment or ModelCache (best effort: failures are
        only logged)."""
        now = datetime.now(UTC)
        event = Event(
            metadata=ObjectMeta(generateName=f"{name}.", namespace=namespace),
            involvedObject=ObjectReference(
                apiVersion=resource.API_VERSION,
                kind=kind,
                name=name,
                namespace=namespace,
                uid=uid,
            ),
            reason=reason,
            message=message[:1024],
            type=type_,
            count=1,
            firstTimestamp=now,
            lastTimestamp=now,
            source=EventSource(component=self._field_manager),
            reportingComponent=self._field_manager,
        )
        try:
            await self._client.create(event)
        except (ApiError, httpx2.HTTPError) as exc:
            log.warning("cannot post event %s on %s/%s: %s", reason, namespace, name, exc)
