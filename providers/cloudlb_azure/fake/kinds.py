"""The resource types the fake ARM serves, and the one way every resource is rendered as ARM JSON.

Where this sits: between the request handlers (``api``) and the per-type modules. Each ``Kind`` names its
validator, its renderer, its delete check and which child collections a client may write directly; the handlers
stay type-agnostic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cloudlb_azure.fake import loadbalancers, nsgs, publicips, vnets
from cloudlb_azure.fake.common import Json, Validated
from cloudlb_azure.fake.ids import ResourceRef
from cloudlb_azure.fake.state import ArmState, StoredResource

__all__ = ["KIND_TABLE", "Kind", "render"]

Validator = Callable[[ArmState, ResourceRef, str, Json, StoredResource | None], Validated]


def _nothing_to_check(state: ArmState, res: StoredResource) -> None:
    return None


@dataclass(frozen=True)
class Kind:
    collection: str
    validate: Validator
    render_properties: Callable[[ArmState, StoredResource], Json]
    check_delete: Callable[[ArmState, StoredResource], None]
    writable_children: tuple[str, ...] = ()


KIND_TABLE: dict[str, Kind] = {
    "loadBalancers": Kind(
        "loadBalancers",
        loadbalancers.validate,
        loadbalancers.render,
        _nothing_to_check,
        loadbalancers.WRITABLE_CHILDREN,
    ),
    "publicIPAddresses": Kind("publicIPAddresses", publicips.validate, publicips.render, publicips.check_delete),
    "networkSecurityGroups": Kind(
        "networkSecurityGroups", nsgs.validate, nsgs.render, nsgs.check_delete, (nsgs.RULES,)
    ),
    "virtualNetworks": Kind("virtualNetworks", vnets.validate, vnets.render, vnets.check_delete, (vnets.SUBNETS,)),
}


def render(state: ArmState, res: StoredResource) -> Json:
    """A top-level resource exactly as a GET returns it."""
    out: Json = {
        "name": res.ref.name,
        "id": res.ref.id,
        "etag": res.etag,
        "type": res.ref.arm_type,
        "location": res.location,
        "tags": dict(res.tags),
    }
    if res.sku is not None:
        out["sku"] = dict(res.sku)
    if res.zones is not None:
        out["zones"] = list(res.zones)
    out["properties"] = KIND_TABLE[res.ref.kind].render_properties(state, res)
    return out
