"""Request bodies for the fake ARM's tests, as plain ARM JSON (the SDK sends the same), with every field named."""

from __future__ import annotations

from typing import Any

from azure.mgmt.network import NetworkManagementClient, models

from cloudlb_azure.fake import DEFAULT_SUBSCRIPTION

__all__ = [
    "LOCATION",
    "NSG",
    "RG",
    "SUBNET",
    "VNET",
    "child_id",
    "create_public_ip",
    "internal_frontend",
    "lb_id",
    "load_balancer",
    "pool",
    "probe",
    "public_frontend",
    "public_ip",
    "rule",
    "subnet_id",
    "vnet_id",
]

Json = dict[str, Any]

RG, LOCATION, VNET, SUBNET, NSG = "rg-test", "eastus", "vnet", "subnet", "nsg"
GROUP_ID = f"/subscriptions/{DEFAULT_SUBSCRIPTION}/resourceGroups/{RG}/providers/Microsoft.Network"


def lb_id(name: str) -> str:
    return f"{GROUP_ID}/loadBalancers/{name}"


def child_id(lb: str, collection: str, name: str) -> str:
    return f"{lb_id(lb)}/{collection}/{name}"


def vnet_id() -> str:
    return f"{GROUP_ID}/virtualNetworks/{VNET}"


def subnet_id(name: str = SUBNET) -> str:
    return f"{vnet_id()}/subnets/{name}"


def public_ip(*, label: str | None = None, tags: dict[str, str] | None = None) -> models.PublicIPAddress:
    props: Json = {"publicIPAllocationMethod": "Static"}
    if label is not None:
        props["dnsSettings"] = {"domainNameLabel": label}
    return models.PublicIPAddress(
        {"location": LOCATION, "sku": {"name": "Standard"}, "tags": tags or {}, "properties": props}
    )


def create_public_ip(client: NetworkManagementClient, name: str, **kwargs: Any) -> str:
    """Create a Standard static public IP through the SDK and return its ID."""
    created = client.public_ip_addresses.begin_create_or_update(RG, name, public_ip(**kwargs)).result()
    assert isinstance(created.id, str)
    return created.id


def public_frontend(name: str, pip: str) -> Json:
    return {"name": name, "properties": {"publicIPAddress": {"id": pip}}}


def internal_frontend(name: str, *, ip: str | None = None, subnet: str | None = None) -> Json:
    props: Json = {"subnet": {"id": subnet or subnet_id()}}
    if ip is not None:
        props.update(privateIPAllocationMethod="Static", privateIPAddress=ip)
    return {"name": name, "properties": props}


def pool(name: str, ips: tuple[str, ...] = ()) -> Json:
    addresses = [{"name": ip, "properties": {"ipAddress": ip, "virtualNetwork": {"id": vnet_id()}}} for ip in ips]
    return {"name": name, "properties": {"loadBalancerBackendAddresses": addresses}}


def probe(name: str, port: int, *, protocol: str = "Tcp", path: str | None = None) -> Json:
    props: Json = {"protocol": protocol, "port": port}
    if path is not None:
        props["requestPath"] = path
    return {"name": name, "properties": props}


def rule(
    lb: str,
    name: str,
    *,
    frontend: str,
    port: int,
    backend_port: int | None = None,
    pool_name: str | None = None,
    probe_name: str | None = None,
    protocol: str = "Tcp",
    floating_ip: bool = False,
) -> Json:
    props: Json = {
        "frontendIPConfiguration": {"id": child_id(lb, "frontendIPConfigurations", frontend)},
        "protocol": protocol,
        "frontendPort": port,
        "backendPort": port if backend_port is None else backend_port,
        "enableFloatingIP": floating_ip,
    }
    if pool_name is not None:
        props["backendAddressPool"] = {"id": child_id(lb, "backendAddressPools", pool_name)}
    if probe_name is not None:
        props["probe"] = {"id": child_id(lb, "probes", probe_name)}
    return {"name": name, "properties": props}


def load_balancer(
    *,
    frontends: list[Json],
    pools: list[Json] | None = None,
    probes: list[Json] | None = None,
    rules: list[Json] | None = None,
    tags: dict[str, str] | None = None,
) -> models.LoadBalancer:
    """A Standard load balancer as the SDK model (a mapping: tests may still edit it as JSON)."""
    body = {
        "location": LOCATION,
        "sku": {"name": "Standard"},
        "tags": tags or {},
        "properties": {
            "frontendIPConfigurations": frontends,
            "backendAddressPools": pools or [],
            "probes": probes or [],
            "loadBalancingRules": rules or [],
        },
    }
    return models.LoadBalancer(body)
