"""Where a replica may run: GPU resources, affinity, tolerations, and the preflight fit.

Node labels follow NVIDIA GPU feature discovery: `nvidia.com/gpu.product` (e.g.
NVIDIA-H100-80GB-HBM3) and `nvidia.com/gpu.memory` (MiB per GPU). A MIG resource such as
`nvidia.com/mig-3g.40gb` has its own memory label, `nvidia.com/mig-3g.40gb.memory`.

The scheduler does the real fitting; the preflight check exists so that a model that fits
on no node says so (`NoFittingGPUNode`, with what it needs and, closest first, which
constraint each node fails) instead of leaving pods Pending forever.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from modeldeploy.operator.api.spec import GpuSpec, ModelDeploymentSpec
from modeldeploy.operator.api.types import parse_quantity
from modeldeploy.operator.planners import engine, memory

GPU_RESOURCE = "nvidia.com/gpu"
PRODUCT_LABEL = "nvidia.com/gpu.product"
MEMORY_LABEL = "nvidia.com/gpu.memory"
GPU_TOLERATION: dict[str, Any] = {"key": "nvidia.com/gpu", "operator": "Exists"}
MAX_WEIGHT = 100


def memory_label(resource_name: str) -> str:
    """The node label holding MiB per device of `resource_name` (MIG profiles have their own)."""
    if resource_name == GPU_RESOURCE:
        return MEMORY_LABEL
    return f"{resource_name}.memory"


def min_memory_mib(gpu: GpuSpec) -> int | None:
    """`gpu.minMemory` in MiB (rounded up), or None when not set."""
    if gpu.min_memory is None:
        return None
    return memory.to_mib(int(parse_quantity(gpu.min_memory)))


def gpu_resources(gpu: GpuSpec) -> dict[str, str]:
    """Extended resources of one replica (limits, and equal requests); empty on CPU."""
    return {gpu.resource_name: str(gpu.count)} if gpu.count > 0 else {}


def required_terms(gpu: GpuSpec) -> list[dict[str, Any]]:
    """matchExpressions every node must satisfy: an allowed product and enough memory."""
    if gpu.count == 0:
        return []
    expressions: list[dict[str, Any]] = []
    if gpu.products:
        expressions.append({"key": PRODUCT_LABEL, "operator": "In", "values": list(gpu.products)})
    min_mib = min_memory_mib(gpu)
    if min_mib is not None:
        label = memory_label(gpu.resource_name)
        expressions.append({"key": label, "operator": "Gt", "values": [str(min_mib - 1)]})
    return expressions


def preferred_terms(gpu: GpuSpec) -> list[dict[str, Any]]:
    """One preferred term per product, weights falling with the product's position."""
    if gpu.count == 0 or len(gpu.products) < 2:
        return []
    step = MAX_WEIGHT // len(gpu.products)
    return [
        {
            "weight": MAX_WEIGHT - index * step,
            "preference": {
                "matchExpressions": [{"key": PRODUCT_LABEL, "operator": "In", "values": [product]}]
            },
        }
        for index, product in enumerate(gpu.products)
    ]


def pod_placement(spec: ModelDeploymentSpec) -> dict[str, Any]:
    """nodeSelector, affinity and tolerations of a runtime pod, user placement merged in."""
    gpu, user = spec.gpu, spec.placement
    affinity = merge_affinity(
        copy.deepcopy(user.affinity), required=required_terms(gpu), preferred=preferred_terms(gpu)
    )
    tolerations = [copy.deepcopy(t) for t in user.tolerations]
    if gpu.count > 0 and GPU_TOLERATION not in tolerations:
        tolerations.append(dict(GPU_TOLERATION))
    placement: dict[str, Any] = {}
    if user.node_selector:
        placement["nodeSelector"] = dict(user.node_selector)
    if affinity:
        placement["affinity"] = affinity
    if tolerations:
        placement["tolerations"] = tolerations
    return placement


def merge_affinity(
    affinity: dict[str, Any], *, required: list[dict[str, Any]], preferred: list[dict[str, Any]]
) -> dict[str, Any]:
    """The user's affinity with the GPU rules added: ANDed into every required term."""
    if not required and not preferred:
        return affinity
    node = affinity.setdefault("nodeAffinity", {})
    if required:
        key = "requiredDuringSchedulingIgnoredDuringExecution"
        terms = node.setdefault(key, {}).setdefault("nodeSelectorTerms", [])
        if not terms:
            terms.append({})
        for term in terms:
            term.setdefault("matchExpressions", []).extend(copy.deepcopy(required))
    if preferred:
        node.setdefault("preferredDuringSchedulingIgnoredDuringExecution", []).extend(preferred)
    return affinity


@dataclass(frozen=True)
class NodeOffer:
    """What one node offers a replica: devices of the resource, product, MiB per device."""

    name: str
    product: str | None
    devices: int
    memory_mib: int | None
    schedulable: bool
    labels: Mapping[str, str]

    @classmethod
    def from_node(cls, node: Mapping[str, Any], *, resource_name: str) -> NodeOffer:
        metadata, status = node.get("metadata", {}), node.get("status", {})
        labels: dict[str, str] = metadata.get("labels") or {}
        allocatable = status.get("allocatable") or status.get("capacity") or {}
        raw_memory = labels.get(memory_label(resource_name))
        return cls(
            name=metadata.get("name", "?"),
            product=labels.get(PRODUCT_LABEL),
            devices=int(parse_quantity(allocatable.get(resource_name, 0))),
            memory_mib=int(raw_memory) if raw_memory and raw_memory.isdigit() else None,
            schedulable=not (node.get("spec") or {}).get("unschedulable", False),
            labels=labels,
        )

    def describe(self) -> str:
        return f"{self.name} offers {self.offering()}"

    def offering(self) -> str:
        """`8x NVIDIA-A100-SXM4-80GB with 81920 MiB`: devices, product, memory per device."""
        memory_text = "unknown memory" if self.memory_mib is None else f"{self.memory_mib} MiB"
        product = self.product or "unknown product"
        return f"{self.devices}x {product} with {memory_text}"


@dataclass(frozen=True)
class Need:
    """What one replica needs from a node."""

    resource_name: str
    devices: int
    products: Sequence[str]
    memory_mib: int
    node_selector: Mapping[str, str]
    memory_required: bool = False
    """minMemory is set: a node must show (label) that it has it. The estimate alone never
    excludes a node whose memory is unknown (no GPU feature discovery labels)."""

    def describe(self) -> str:
        products = f" of {', '.join(self.products)}" if self.products else ""
        memory_text = f" with at least {self.memory_mib} MiB each" if self.memory_mib else ""
        return f"needs {self.devices}x {self.resource_name}{products}{memory_text}"


@dataclass(frozen=True)
class Fit:
    """The preflight outcome: the best node (fits) or why none does (message)."""

    fits: bool
    node: str | None
    product: str | None
    message: str


def need_of(spec: ModelDeploymentSpec, *, estimated_bytes: int | None) -> Need:
    """Per-device MiB: the larger of minMemory and the estimate spread over the devices that
    share the weights (the GPUs; for vLLM, its tensor parallel size)."""
    min_mib = min_memory_mib(spec.gpu) or 0
    estimate_mib = 0
    if estimated_bytes is not None:
        estimate_mib = memory.to_mib(
            memory.per_gpu(estimated_bytes, gpus=engine.weight_shards(spec))
        )
    return Need(
        resource_name=spec.gpu.resource_name,
        devices=spec.gpu.count,
        products=tuple(spec.gpu.products),
        memory_mib=max(min_mib, estimate_mib),
        node_selector=dict(spec.placement.node_selector),
        memory_required=spec.gpu.min_memory is not None,
    )


def fits(offer: NodeOffer, need: Need) -> bool:
    """Whether a replica could ever run on the node (capacity, not current usage)."""
    return (
        offer.schedulable
        and offer.devices >= need.devices
        and (not need.products or offer.product in need.products)
        and _memory_may_fit(offer, need)
        and all(offer.labels.get(k) == v for k, v in need.node_selector.items())
    )


def _memory_may_fit(offer: NodeOffer, need: Need) -> bool:
    if offer.memory_mib is None:
        return not need.memory_required
    return offer.memory_mib >= need.memory_mib


def preflight(nodes: Iterable[Mapping[str, Any]], need: Need) -> Fit:
    """The best fitting node (highest-priority product, then most memory) or why none fits."""
    offers = [NodeOffer.from_node(node, resource_name=need.resource_name) for node in nodes]
    fitting = [offer for offer in offers if fits(offer, need)]
    if fitting:
        best = min(fitting, key=lambda offer: _rank(offer, need))
        unknown = " (its GPU memory is unknown: no memory label)" if best.memory_mib is None else ""
        return Fit(
            True,
            best.name,
            best.product,
            f"{best.name} ({best.product}) can host a replica{unknown}",
        )
    return Fit(False, None, None, _no_fit_message(offers, need))


def _rank(offer: NodeOffer, need: Need) -> tuple[int, int]:
    priority = need.products.index(offer.product) if offer.product in need.products else 0
    return (priority, -(offer.memory_mib or 0))


MAX_GROUPS_SHOWN = 4
"""Groups of alike nodes a no-fit message names (the closest first); the rest are counted."""
NAMES_SHOWN = 3


def _no_fit_message(offers: list[NodeOffer], need: Need) -> str:
    """What a replica needs, then each node (closest first, alike nodes grouped) with the
    constraints it fails: where it may not run (product, nodeSelector, cordoned) and what it
    lacks (devices, memory)."""
    candidates = [offer for offer in offers if offer.devices > 0]
    if not candidates:
        return f"a replica {need.describe()}; no node offers {need.resource_name} at all"
    groups: dict[tuple[Any, ...], list[NodeOffer]] = {}
    for offer in sorted(candidates, key=lambda offer: _closeness(offer, need)):
        misses = tuple(_misses(offer, need))
        groups.setdefault((offer.product, offer.devices, offer.memory_mib, misses), []).append(
            offer
        )
    shown = list(groups.items())[:MAX_GROUPS_SHOWN]
    parts = [_group_text(members, list(key[3])) for key, members in shown]
    rest = len(candidates) - sum(len(members) for _, members in shown)
    if rest:
        parts.append(f"{rest} more {'node fails' if rest == 1 else 'nodes fail'} as well")
    return f"a replica {need.describe()}; no node fits: {'; '.join(parts)}"


def _misses(offer: NodeOffer, need: Need) -> list[str]:
    """The constraints `offer` fails: first where a replica may not go, then what it lacks."""
    misses = [
        *_placement_misses(offer, need),
        *_capacity_misses(offer, need),
    ]
    return misses or ["cannot host a replica"]


def _placement_misses(offer: NodeOffer, need: Need) -> list[str]:
    misses = []
    if not offer.schedulable:
        misses.append("cordoned (unschedulable)")
    if need.products and offer.product not in need.products:
        product = offer.product or f"no {PRODUCT_LABEL} label"
        misses.append(f"{product} is not an allowed product (gpu.products)")
    wrong = [f"{k}={v}" for k, v in need.node_selector.items() if offer.labels.get(k) != v]
    if wrong:
        misses.append(f"does not match nodeSelector {', '.join(wrong)}")
    return misses


def _capacity_misses(offer: NodeOffer, need: Need) -> list[str]:
    misses = []
    if offer.devices < need.devices:
        misses.append(f"has {offer.devices} of the {need.devices} {need.resource_name} asked")
    if offer.memory_mib is None:
        if need.memory_required:
            misses.append(
                f"shows no {memory_label(need.resource_name)} label, so cannot show it "
                "meets gpu.minMemory"
            )
    elif offer.memory_mib < need.memory_mib:
        misses.append(f"has {offer.memory_mib} MiB per device of the {need.memory_mib} MiB needed")
    return misses


def _closeness(offer: NodeOffer, need: Need) -> tuple[int, int, int, int, str]:
    """Allowed nodes first (fewest placement misses), then fewest shortfalls, then the most
    devices and memory."""
    return (
        len(_placement_misses(offer, need)),
        len(_capacity_misses(offer, need)),
        -offer.devices,
        -(offer.memory_mib or 0),
        offer.name,
    )


def _group_text(members: list[NodeOffer], misses: list[str]) -> str:
    """`a1 offers 4x A with 81920 MiB: has 4 of the 8 nvidia.com/gpu asked` (alike nodes
    named together: `b1, b2, b3 and 5 more each offer ...`)."""
    first = members[0]
    if len(members) == 1:
        return f"{first.describe()}: {', '.join(misses)}"
    names = ", ".join(m.name for m in members[:NAMES_SHOWN])
    if len(members) > NAMES_SHOWN:
        names += f" and {len(members) - NAMES_SHOWN} more"
    return f"{names} each offer {first.offering()}: {', '.join(misses)}"
