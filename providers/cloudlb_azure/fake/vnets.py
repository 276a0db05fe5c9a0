"""Virtual networks and their subnets in the fake ARM: address spaces, subnet ranges inside them and not
overlapping, NSG references, and subnets that cannot go while a load balancer frontend uses them.

Where this sits: ``kinds`` routes vnet PUTs here, and ``subnets`` child PUTs/DELETEs after merging the subnet into
its vnet. Internal load balancer frontends take their private address from a subnet here; IP-based backend pool
addresses must lie inside a vnet's address space.
"""

from __future__ import annotations

import ipaddress

from cloudlb_azure.fake.common import Json, Validated, kept, render_children
from cloudlb_azure.fake.errors import bad_request, invalid_reference
from cloudlb_azure.fake.ids import ResourceRef, parse_id
from cloudlb_azure.fake.lb_parts import subnet_users
from cloudlb_azure.fake.state import ArmState, StoredResource
from cloudlb_azure.fake.validation import children, mapping, network, ref_id, string_list

__all__ = ["SUBNETS", "check_delete", "render", "validate"]

SUBNETS = "subnets"
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def validate(
    state: ArmState, ref: ResourceRef, location: str, body: Json, existing: StoredResource | None
) -> Validated:
    raw = mapping(body.get("properties"), "properties")
    space_raw = mapping(raw.get("addressSpace"), "properties.addressSpace")
    prefixes = string_list(space_raw.get("addressPrefixes"), "properties.addressSpace.addressPrefixes")
    if not prefixes:
        raise bad_request("InvalidAddressSpace", f"Virtual network {ref.id} needs at least one address prefix.")
    space = [network(p, "properties.addressSpace.addressPrefixes", "InvalidAddressPrefixFormat") for p in prefixes]
    for i, a in enumerate(space):
        for b in space[i + 1 :]:
            if a.version == b.version and a.overlaps(b):
                raise bad_request("VnetAddressSpacesOverlap", f"Address spaces {a} and {b} of {ref.id} overlap.")
    items = children(raw.get(SUBNETS), "properties.subnets", "subnet")
    subnets = [_subnet(state, ref, item, i, space) for i, item in enumerate(items)]
    for i, first in enumerate(subnets):
        for second in subnets[i + 1 :]:
            na, nb = (ipaddress.ip_network(s["properties"]["addressPrefix"]) for s in (first, second))
            if na.version == nb.version and na.overlaps(nb):
                raise bad_request(
                    "NetcfgSubnetRangesOverlap",
                    f"Subnet '{second['name']}' is not valid because its IP address range overlaps with that of an "
                    f"existing subnet '{first['name']}' in virtual network '{ref.name}'.",
                )
    if existing is not None:
        kept_names = {s["name"].lower() for s in subnets}
        for before in existing.properties.get(SUBNETS, []):
            if before["name"].lower() not in kept_names:
                _refuse_if_used(state, ref.child(SUBNETS, before["name"]).id)
    props = kept(raw)
    props.update(addressSpace={**kept(space_raw), "addressPrefixes": [str(n) for n in space]}, subnets=subnets)
    return Validated(properties=props)


def _subnet(state: ArmState, vnet: ResourceRef, item: Json, index: int, space: list[Network]) -> Json:
    where = f"properties.subnets[{index}].properties"
    raw = item["properties"]
    sid = vnet.child(SUBNETS, item["name"]).id
    listed = string_list(raw.get("addressPrefixes"), f"{where}.addressPrefixes")
    single = raw.get("addressPrefix")
    prefix = single if single is not None else (listed[0] if listed else None)
    if prefix is None:
        raise bad_request("NetcfgInvalidSubnet", f"Subnet {sid} needs an addressPrefix.")
    net = network(prefix, f"{where}.addressPrefix", "NetcfgInvalidSubnet")
    if net.version == 4 and net.prefixlen > 29:
        raise bad_request("NetcfgInvalidSubnet", f"Subnet {sid} is {net}; the smallest subnet Azure allows is a /29.")
    if not any(net.version == s.version and net.subnet_of(s) for s in space):  # type: ignore[arg-type]
        raise bad_request(
            "NetcfgSubnetRangeOutsideVnet",
            f"Subnet '{item['name']}' is not valid because its IP address range is outside the IP address range of "
            f"virtual network '{vnet.name}'.",
        )
    props = kept(raw, also_computed=("addressPrefix", "addressPrefixes", "networkSecurityGroup"))
    props["addressPrefix"] = str(net)
    nsg = ref_id(raw.get("networkSecurityGroup"), f"{where}.networkSecurityGroup")
    if nsg is not None:
        target = parse_id(nsg, referrer=sid)
        found = state.find(target, include_deleting=False) if target.kind == "networkSecurityGroups" else None
        if found is None or target.child_kind is not None:
            raise invalid_reference(nsg, sid)
        props["networkSecurityGroup"] = {"id": found.ref.id}
    return {**item, "properties": props}


def _refuse_if_used(state: ArmState, subnet_id: str) -> None:
    users = sorted(set(subnet_users(state, subnet_id).values()))
    if users:
        raise bad_request(
            "InUseSubnetCannotBeDeleted",
            f"Subnet {subnet_id} is in use by {', '.join(users)} and cannot be deleted. In order to delete the "
            "subnet, delete all the resources within the subnet.",
        )


def _vnet_users(state: ArmState, res: StoredResource) -> list[str]:
    """Backend pool addresses placed in this vnet."""
    out = []
    for lb in state.all("loadBalancers"):
        for pool in lb.properties.get("backendAddressPools", []):
            for address in pool["properties"].get("loadBalancerBackendAddresses", []):
                if address["properties"]["virtualNetwork"]["id"].lower() == res.ref.id.lower():
                    out.append(lb.ref.child("backendAddressPools", pool["name"]).id)
                    break
    return out


def render(state: ArmState, res: StoredResource) -> Json:
    ps = state.provisioning_state(res)
    back: dict[str, Json] = {}
    for subnet in res.properties.get(SUBNETS, []):
        used = subnet_users(state, res.ref.child(SUBNETS, subnet["name"]).id)
        if used:
            back[subnet["name"].lower()] = {"ipConfigurations": [{"id": fid} for fid in sorted(set(used.values()))]}
    out = kept(res.properties)
    out[SUBNETS] = render_children(res, SUBNETS, ps, back_refs=back)
    out["provisioningState"] = ps
    out["resourceGuid"] = res.resource_guid
    return out


def check_delete(state: ArmState, res: StoredResource) -> None:
    for subnet in res.properties.get(SUBNETS, []):
        _refuse_if_used(state, res.ref.child(SUBNETS, subnet["name"]).id)
    users = _vnet_users(state, res)
    if users:
        raise bad_request(
            "InUseVirtualNetworkCannotBeDeleted",
            f"Virtual network {res.ref.id} cannot be deleted: backend pools {', '.join(users)} have addresses in it.",
        )
