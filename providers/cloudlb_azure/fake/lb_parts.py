"""A load balancer's frontends, backend pools and probes, validated as Azure's network resource provider does.

Where this sits: ``loadbalancers.validate`` calls these for each child of a PUT body. Frontends resolve their
public IP or subnet through the state (a missing one is ``InvalidResourceReference``) and get a private address
from the subnet when internal; pools hold IP-based ``loadBalancerBackendAddresses`` inside a virtual network.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass, field

from cloudlb_azure.fake.common import Json, kept
from cloudlb_azure.fake.errors import bad_request, invalid_reference
from cloudlb_azure.fake.ids import ResourceRef, parse_id
from cloudlb_azure.fake.state import ArmState, StoredResource
from cloudlb_azure.fake.validation import enum, integer, ip_address, lookup, mapping, optional_string, ref_id

__all__ = ["FRONTENDS", "POOLS", "PROBES", "LbContext", "frontends", "pool", "probe", "subnet_users"]

FRONTENDS, POOLS, PROBES = "frontendIPConfigurations", "backendAddressPools", "probes"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass
class LbContext:
    """The load balancer being validated and what its earlier children already claimed."""

    state: ArmState
    ref: ResourceRef
    location: str
    existing: StoredResource | None
    public_ips: dict[str, str] = field(default_factory=dict)  # lowercase public IP id -> frontend id using it

    def child_id(self, collection: str, name: str) -> str:
        return self.ref.child(collection, name).id


# --- frontends ------------------------------------------------------------------------------------------------


def frontends(ctx: LbContext, items: list[Json]) -> list[Json]:
    """Static private addresses are claimed before dynamic ones are handed out, as the service does."""
    out: list[Json | None] = [None] * len(items)
    dynamic: list[int] = []
    taken: dict[str, set[IPAddress]] = {}  # lowercase subnet id -> addresses claimed in this request
    for i, item in enumerate(items):
        where = f"properties.frontendIPConfigurations[{i}].properties"
        fid = ctx.child_id(FRONTENDS, item["name"])
        props = item["properties"]
        for unsupported in ("publicIPPrefix", "gatewayLoadBalancer"):
            if props.get(unsupported) is not None:
                raise bad_request("UnsupportedByFake", f"{where}.{unsupported} is not modelled by the fake ARM.")
        pip = ref_id(props.get("publicIPAddress"), f"{where}.publicIPAddress")
        subnet = ref_id(props.get("subnet"), f"{where}.subnet")
        if (pip is None) == (subnet is None):
            raise bad_request(
                "InvalidFrontendIPConfiguration",
                f"Frontend IP configuration {fid} must reference exactly one of a public IP address or a subnet.",
            )
        entry = {**item, "properties": kept(props, also_computed=("privateIPAddress", "privateIPAllocationMethod"))}
        if pip is not None:
            entry["properties"]["publicIPAddress"] = {"id": _public_ip(ctx, pip, fid)}
            out[i] = entry
            continue
        assert subnet is not None
        subnet_id, net = _subnet(ctx, subnet, fid)
        entry["properties"]["subnet"] = {"id": subnet_id}
        method = enum(
            props.get("privateIPAllocationMethod"),
            ("Dynamic", "Static"),
            f"{where}.privateIPAllocationMethod",
            "Dynamic",
        )
        entry["properties"]["privateIPAllocationMethod"] = method
        entry["properties"]["privateIPAddressVersion"] = "IPv4"
        if method == "Static":
            wanted = ip_address(props.get("privateIPAddress"), f"{where}.privateIPAddress")
            _claim(ctx, subnet_id, net, wanted, fid, taken)
            entry["properties"]["privateIPAddress"] = str(wanted)
        else:
            dynamic.append(i)
        out[i] = entry
    # Dynamic frontends that had an address keep it; only then are new ones handed out, lowest first.
    fresh: list[tuple[Json, str, str, ipaddress.IPv4Network]] = []
    for i in dynamic:
        pending = out[i]
        assert pending is not None
        subnet_id = pending["properties"]["subnet"]["id"]
        fid = ctx.child_id(FRONTENDS, pending["name"])
        _, net = _subnet(ctx, subnet_id, fid)
        previous = _previous_address(ctx, pending["name"], subnet_id)
        if previous is None:
            fresh.append((pending, subnet_id, fid, net))
            continue
        _claim(ctx, subnet_id, net, previous, fid, taken)
        pending["properties"]["privateIPAddress"] = str(previous)
    for pending, subnet_id, fid, net in fresh:
        address = _first_free(ctx, subnet_id, net, taken)
        if address is None:
            raise bad_request("SubnetIsFull", f"Subnet {subnet_id} has no free private IP address left for {fid}.")
        _claim(ctx, subnet_id, net, address, fid, taken)
        pending["properties"]["privateIPAddress"] = str(address)
    return [entry for entry in out if entry is not None]


def _public_ip(ctx: LbContext, pip_id: str, fid: str) -> str:
    target = parse_id(pip_id, referrer=fid)
    found = ctx.state.find(target, include_deleting=False) if target.kind == "publicIPAddresses" else None
    if found is None or target.child_kind is not None:
        raise invalid_reference(pip_id, fid)
    if (found.sku or {}).get("name") != "Standard":
        raise bad_request(
            "LoadBalancerReferencesPublicIPAddressWithDifferentSku",
            f"Standard SKU load balancer {ctx.ref.id} cannot reference public IP {found.ref.id} of another SKU.",
        )
    if found.location.lower() != ctx.location.lower():
        raise bad_request(
            "ResourceNotInSameRegion", f"Public IP {found.ref.id} is in {found.location}, not in {ctx.location}."
        )
    key = found.ref.id.lower()
    user = ctx.public_ips.get(key) or _public_ip_user(ctx.state, key, exclude=ctx.ref)
    if user is not None and user.lower() != fid.lower():
        raise bad_request(
            "PublicIPAddressInUse", f"Public IP address {found.ref.id} is already used by {user}; {fid} cannot use it."
        )
    ctx.public_ips[key] = fid
    return found.ref.id


def _public_ip_user(state: ArmState, pip_key: str, *, exclude: ResourceRef | None = None) -> str | None:
    for lb in state.all("loadBalancers"):
        if exclude is not None and lb.ref.same(exclude):
            continue
        for fe in lb.properties.get(FRONTENDS, []):
            if str(fe["properties"].get("publicIPAddress", {}).get("id", "")).lower() == pip_key:
                return lb.ref.child(FRONTENDS, fe["name"]).id
    return None


def public_ip_user(state: ArmState, pip: StoredResource) -> str | None:
    """The frontend ID using ``pip``, for its ``ipConfiguration`` and for refusing its deletion."""
    return _public_ip_user(state, pip.ref.id.lower())


def _subnet(ctx: LbContext, subnet_id: str, fid: str) -> tuple[str, ipaddress.IPv4Network]:
    target = parse_id(subnet_id, referrer=fid)
    vnet = ctx.state.find(target, include_deleting=False) if target.kind == "virtualNetworks" else None
    subnet = None
    if vnet is not None and target.child_kind == "subnets" and target.child_name:
        subnet = lookup(vnet.properties.get("subnets", []), target.child_name)
    if vnet is None or subnet is None or target.child_name is None:
        raise invalid_reference(subnet_id, fid)
    net = ipaddress.ip_network(subnet["properties"]["addressPrefix"])
    if not isinstance(net, ipaddress.IPv4Network):
        raise bad_request("UnsupportedByFake", f"Subnet {subnet_id} is IPv6; the fake serves IPv4 frontends only.")
    return vnet.ref.child("subnets", str(subnet["name"])).id, net


def subnet_users(state: ArmState, subnet_id: str, *, exclude: ResourceRef | None = None) -> dict[IPAddress, str]:
    """Private addresses held on a subnet by load balancer frontends: address -> frontend ID."""
    used: dict[IPAddress, str] = {}
    for lb in state.all("loadBalancers"):
        if exclude is not None and lb.ref.same(exclude):
            continue
        for fe in lb.properties.get(FRONTENDS, []):
            props = fe["properties"]
            if str(props.get("subnet", {}).get("id", "")).lower() == subnet_id.lower():
                used[ipaddress.ip_address(props["privateIPAddress"])] = lb.ref.child(FRONTENDS, fe["name"]).id
    return used


def _usable(net: ipaddress.IPv4Network) -> Iterator[ipaddress.IPv4Address]:
    # Azure keeps the network address, the first three hosts and the broadcast address for itself.
    start, end = int(net.network_address) + 4, int(net.broadcast_address)
    return (ipaddress.IPv4Address(value) for value in range(start, end))


def _claim(
    ctx: LbContext,
    subnet_id: str,
    net: ipaddress.IPv4Network,
    address: IPAddress,
    fid: str,
    taken: dict[str, set[IPAddress]],
) -> None:
    if address not in net:
        raise bad_request("PrivateIPAddressNotInSubnet", f"Private IP {address} of {fid} is not in subnet {subnet_id}.")
    if int(address) - int(net.network_address) < 4 or address == net.broadcast_address:
        raise bad_request("PrivateIPAddressIsReserved", f"Private IP {address} of {fid} is reserved by Azure.")
    holder = subnet_users(ctx.state, subnet_id, exclude=ctx.ref).get(address)
    claimed = taken.setdefault(subnet_id.lower(), set())
    if holder is not None or address in claimed:
        raise bad_request(
            "PrivateIPAddressInUse", f"Private IP {address} of {fid} is already used by {holder or 'another frontend'}."
        )
    claimed.add(address)


def _previous_address(ctx: LbContext, name: str, subnet_id: str) -> IPAddress | None:
    """A dynamic frontend keeps its address across updates while it stays on the same subnet."""
    if ctx.existing is None:
        return None
    before = lookup(ctx.existing.properties.get(FRONTENDS, []), name)
    if before is None or str(before["properties"].get("subnet", {}).get("id", "")).lower() != subnet_id.lower():
        return None
    return ipaddress.ip_address(before["properties"]["privateIPAddress"])


def _first_free(
    ctx: LbContext, subnet_id: str, net: ipaddress.IPv4Network, taken: dict[str, set[IPAddress]]
) -> IPAddress | None:
    used = set(subnet_users(ctx.state, subnet_id, exclude=ctx.ref)) | taken.get(subnet_id.lower(), set())
    return next((address for address in _usable(net) if address not in used), None)


# --- backend pools ----------------------------------------------------------------------------------------------


def pool(ctx: LbContext, item: Json, index: int) -> Json:
    where = f"properties.backendAddressPools[{index}].properties.loadBalancerBackendAddresses"
    pid = ctx.child_id(POOLS, item["name"])
    raw = item["properties"].get("loadBalancerBackendAddresses")
    if raw is not None and not isinstance(raw, list):
        raise bad_request("InvalidRequestFormat", f"Cannot parse the request: {where} must be a list.")
    addresses = list(raw or [])
    limit = ctx.state.limits.backend_addresses_per_pool
    if len(addresses) > limit:
        raise bad_request(
            "MaxBackendAddressesPerPoolReached",
            f"Backend pool {pid} has {len(addresses)} addresses; the limit is {limit}.",
        )
    names: set[str] = set()
    ips: set[IPAddress] = set()
    vnet_of_pool: str | None = None
    out: list[Json] = []
    for i, entry in enumerate(addresses):
        at = f"{where}[{i}]"
        entry = mapping(entry, at)
        name = optional_string(entry.get("name"), f"{at}.name")
        if not name or len(name) > 80:
            raise bad_request("InvalidRequestFormat", f"Cannot parse the request: {at}.name is required (1-80 chars).")
        if name.lower() in names:
            raise bad_request("DuplicateResourceName", f"Backend pool {pid} has two addresses named {name!r}.")
        names.add(name.lower())
        props = mapping(entry.get("properties"), f"{at}.properties")
        address = ip_address(props.get("ipAddress"), f"{at}.properties.ipAddress")
        if address in ips:
            raise bad_request("DuplicateIpAddressInBackendPool", f"Backend pool {pid} lists {address} twice.")
        ips.add(address)
        vnet_id = _address_vnet(ctx, props, address, f"{pid}/loadBalancerBackendAddresses/{name}", at)
        if vnet_of_pool is not None and vnet_of_pool.lower() != vnet_id.lower():
            raise bad_request(
                "BackendAddressesInDifferentVirtualNetworks",
                f"All addresses of backend pool {pid} must be in one virtual network.",
            )
        vnet_of_pool = vnet_id
        kept_props = kept(props, also_computed=("subnet",))
        kept_props.update(ipAddress=str(address), virtualNetwork={"id": vnet_id})
        out.append({"name": name, "properties": kept_props})
    props = kept(item["properties"])
    props["loadBalancerBackendAddresses"] = out
    return {**item, "properties": props}


def _address_vnet(ctx: LbContext, props: Json, address: IPAddress, referrer: str, at: str) -> str:
    vnet_id = ref_id(props.get("virtualNetwork"), f"{at}.properties.virtualNetwork")
    subnet_id = ref_id(props.get("subnet"), f"{at}.properties.subnet")
    if vnet_id is None and subnet_id is not None:
        vnet_id = parse_id(subnet_id, referrer=referrer).parent.id
    if vnet_id is None:
        raise bad_request(
            "LoadBalancerBackendAddressMissingVirtualNetwork",
            f"Backend address {referrer} needs a virtualNetwork (or subnet) reference for IP-based pools.",
        )
    target = parse_id(vnet_id, referrer=referrer)
    vnet = ctx.state.find(target, include_deleting=False) if target.kind == "virtualNetworks" else None
    if vnet is None or target.child_kind is not None:
        raise invalid_reference(vnet_id, referrer)
    spaces = vnet.properties.get("addressSpace", {}).get("addressPrefixes", [])
    if not any(address in ipaddress.ip_network(prefix) for prefix in spaces):
        raise bad_request(
            "BackendAddressIpAddressNotInVirtualNetwork",
            f"IP address {address} of {referrer} is outside the address space of {vnet.ref.id}.",
        )
    return vnet.ref.id


# --- probes -----------------------------------------------------------------------------------------------------


def probe(ctx: LbContext, item: Json, index: int) -> Json:
    where = f"properties.probes[{index}].properties"
    raw = item["properties"]
    protocol = enum(raw.get("protocol"), ("Tcp", "Http", "Https"), f"{where}.protocol")
    props = kept(raw)
    props.update(
        protocol=protocol,
        port=integer(raw.get("port"), f"{where}.port", 1, 65535),
        intervalInSeconds=integer(raw.get("intervalInSeconds"), f"{where}.intervalInSeconds", 5, 2147483646, 15),
        numberOfProbes=integer(raw.get("numberOfProbes"), f"{where}.numberOfProbes", 1, 2147483647, 2),
        probeThreshold=integer(raw.get("probeThreshold"), f"{where}.probeThreshold", 1, 2147483647, 1),
    )
    path = optional_string(raw.get("requestPath"), f"{where}.requestPath")
    pid = ctx.child_id(PROBES, item["name"])
    if protocol == "Tcp" and path is not None:
        raise bad_request("ProbeRequestPathNotAllowedForTcp", f"Tcp probe {pid} must not have a requestPath.")
    if protocol != "Tcp":
        if not path or not path.startswith("/"):
            raise bad_request(
                "ProbeRequestPathRequired", f"{protocol} probe {pid} needs a requestPath starting with '/'."
            )
        props["requestPath"] = path
    return {**item, "properties": props}
