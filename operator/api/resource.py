"""The ModelDeployment resource: names of the API and the top-level object."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from modeldeploy.operator.api.spec import ModelDeploymentSpec
from modeldeploy.operator.api.status import ModelDeploymentStatus
from modeldeploy.operator.api.types import ApiModel

GROUP = "modeldeploy.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "ModelDeployment"
PLURAL = "modeldeployments"
SINGULAR = "modeldeployment"
SHORT_NAMES = ("mdep",)
CRD_NAME = f"{PLURAL}.{GROUP}"

# Child objects (Service, Job, PVC) are named `<name>-<suffix>`; a Service name is a
# DNS-1035 label of at most 63 characters, so the ModelDeployment name must leave room.
MAX_NAME_LENGTH = 45
NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"


class ModelDeployment(ApiModel):
    """A Hugging Face model deployed onto (GPU) nodes, Ready only when verified and warm."""

    api_version: Literal["modeldeploy.io/v1alpha1"] = Field(
        default="modeldeploy.io/v1alpha1", alias="apiVersion"
    )
    kind: Literal["ModelDeployment"] = "ModelDeployment"
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: ModelDeploymentSpec
    status: ModelDeploymentStatus | None = None
