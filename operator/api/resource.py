"""The ModelDeployment resource: names of the API and the top-level object."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from modeldeploy.operator.api import types
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

# metadata.name rules (children are named `<name>-<suffix>`; see types.MAX_NAME_LENGTH).
MAX_NAME_LENGTH = types.MAX_NAME_LENGTH
NAME_PATTERN = types.NAME_PATTERN


class ModelDeployment(ApiModel):
    """A Hugging Face model deployed onto (GPU) nodes, Ready only when verified and warm."""

    api_version: Literal["modeldeploy.io/v1alpha1"] = Field(
        default="modeldeploy.io/v1alpha1", alias="apiVersion"
    )
    kind: Literal["ModelDeployment"] = "ModelDeployment"
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: ModelDeploymentSpec
    status: ModelDeploymentStatus | None = None
