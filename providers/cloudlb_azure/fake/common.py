"""What every resource module of the fake shares: the validated result, pass-through of unknown properties, and
rendering of child collections with their IDs, ETags and back-references.

Where this sits: ``loadbalancers``, ``publicips``, ``nsgs`` and ``vnets`` each validate a PUT body into a
``Validated`` and render a ``StoredResource`` back to ARM's JSON; ``kinds`` ties them to the routes.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cloudlb_azure.fake.state import StoredResource

__all__ = ["READ_ONLY", "Json", "Validated", "kept", "render_children"]

Json = dict[str, Any]

# Properties ARM computes; a client that sends them back (a raw GET-modify-PUT) must not make the fake store them.
READ_ONLY = frozenset(
    {
        "provisioningState",
        "resourceGuid",
        "loadBalancingRules",
        "inboundNatRules",
        "inboundNatPools",
        "outboundRules",
        "outboundRule",
        "backendIPConfigurations",
        "backendIPConfiguration",
        "networkInterfaceIPConfiguration",
        "inboundNatRulesPortMapping",
        "ipConfiguration",
        "ipConfigurations",
        "defaultSecurityRules",
        "networkInterfaces",
        "subnets",
        "privateEndpoints",
        "flowLogs",
    }
)


@dataclass(frozen=True)
class Validated:
    """A PUT body as the service accepted it."""

    properties: Json
    sku: Json | None = None


def kept(raw: Mapping[str, Any], *, also_computed: Iterable[str] = ()) -> Json:
    """The properties the fake does not model, kept as sent so a GET returns them (minus computed ones)."""
    drop = READ_ONLY | set(also_computed)
    return {key: copy.deepcopy(value) for key, value in raw.items() if key not in drop}


def render_children(
    res: StoredResource,
    collection: str,
    state: str,
    *,
    back_refs: Mapping[str, Json] | None = None,
) -> list[Json]:
    """A child collection as ARM returns it: each child with its ID, the parent's ETag and provisioning state,
    plus any computed back-references (keyed by the child's lowercase name)."""
    out: list[Json] = []
    for item in res.properties.get(collection, []):
        ref = res.ref.child(collection, item["name"])
        props = copy.deepcopy(item["properties"])
        props.update(copy.deepcopy((back_refs or {}).get(item["name"].lower(), {})))
        props["provisioningState"] = state
        child: Json = {"name": item["name"], "id": ref.id, "etag": res.etag, "type": ref.arm_type, "properties": props}
        if "zones" in item:
            child["zones"] = list(item["zones"])
        out.append(child)
    return out
