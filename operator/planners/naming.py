"""Names and labels of every child object, in one place.

Children are found again by these labels (the operator's watches filter on
`app.kubernetes.io/managed-by=modeldeploy`), and the Deployment's selector is built from
the labels that never change, so a new revision never needs a new selector.
"""

from __future__ import annotations

from dataclasses import dataclass

from modeldeploy.operator.api import resource

MANAGED_BY = "modeldeploy"
LABEL_NAME = "app.kubernetes.io/name"
LABEL_INSTANCE = "app.kubernetes.io/instance"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_DEPLOYMENT = "modeldeploy.io/deployment"
LABEL_REVISION = "modeldeploy.io/revision"
ANNOTATION_COMMIT = "modeldeploy.io/commit"
ANNOTATION_REPO = "modeldeploy.io/repo"
"""On the runtime Deployment: the repository its replicas serve (which candidate model)."""

COMPONENT_RUNTIME = "runtime"
COMPONENT_FETCH = "fetch"
COMPONENT_CACHE = "cache"
COMPONENT_CLEANUP = "cleanup"

UNRESOLVED_REVISION = "unresolved"
"""The revision label (and `render`'s placeholder) before the revision is resolved."""

SHORT_SHA = 12
JOB_SHA = 6
JOB_CONFIG = 3


def short_sha(commit: str | None) -> str:
    """The first 12 characters of a commit (REVISION column, revision label)."""
    return commit[:SHORT_SHA] if commit else UNRESOLVED_REVISION


@dataclass(frozen=True)
class Names:
    """The names of one ModelDeployment's children."""

    name: str
    namespace: str

    @property
    def deployment(self) -> str:
        return self.name

    @property
    def service(self) -> str:
        return self.name

    @property
    def wait_service(self) -> str:
        """The Service that also routes to replicas not Ready yet (clients that would rather
        wait, or watch the runtime's status page, than get connection errors)."""
        return f"{self.name}-wait"

    @property
    def service_monitor(self) -> str:
        return self.name

    @property
    def cache_claim(self) -> str:
        return f"{self.name}-cache"

    def fetch_job(self, commit: str, config: str) -> str:
        """One Job per commit and fetch configuration (`config`: a digest of its pod template).

        Per commit: a new commit is fetched while the old one keeps serving. Per
        configuration: a Job's template is immutable, so a changed include list, pin, image
        or token reference needs a new Job rather than a re-apply (which the API server
        rejects). At most 45 + 17 characters: a Job name must fit a label value (63).
        """
        return f"{self.name}-fetch-{commit[:JOB_SHA]}-{config[:JOB_CONFIG]}"

    def cleanup_job(self, commit: str) -> str:
        """The Job that drops older commits from the inline volume once `commit` serves."""
        return f"{self.name}-gc-{commit[:JOB_SHA]}"


def common_labels(name: str) -> dict[str, str]:
    """Labels on every child (and every pod) of the ModelDeployment `name`."""
    return {
        LABEL_NAME: MANAGED_BY,
        LABEL_INSTANCE: name,
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_DEPLOYMENT: name,
    }


def child_labels(name: str, *, component: str, commit: str | None = None) -> dict[str, str]:
    """Common labels plus the component and, for revision-bound children, the short sha."""
    labels = {**common_labels(name), LABEL_COMPONENT: component}
    if component != COMPONENT_CACHE:
        labels[LABEL_REVISION] = short_sha(commit)
    return labels


def runtime_selector(name: str) -> dict[str, str]:
    """The Deployment's (immutable) selector: labels that no rollout ever changes."""
    return {LABEL_DEPLOYMENT: name, LABEL_COMPONENT: COMPONENT_RUNTIME}


def selector_string(labels: dict[str, str]) -> str:
    """`a=b,c=d`, as the scale subresource's `status.selector` wants it."""
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


def owner_reference(*, name: str, uid: str) -> dict[str, object]:
    """The controller owner reference that lets garbage collection delete a child."""
    return {
        "apiVersion": resource.API_VERSION,
        "kind": resource.KIND,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }
