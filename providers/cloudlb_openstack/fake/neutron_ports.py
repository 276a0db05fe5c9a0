"""The fake Neutron's ports and floating IPs: create, show, update, delete, and floating IP association.

Where this sits: routed from ``neutron.py``. A floating IP takes its address from the external network's subnet;
setting ``port_id`` (on POST or PUT) associates it with that port's fixed IP and marks it ACTIVE, ``port_id: null``
or deleting the port disassociates it (``State.delete_port``).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from cloudlb_openstack.fake.common import Request, Response
from cloudlb_openstack.fake.neutron_base import (
    BOOL,
    base_record,
    get_visible,
    make_port,
    neutron_fault,
    parse_body,
    show,
    stamp_update,
)
from cloudlb_openstack.fake.state import State

__all__ = [
    "create_floatingip",
    "create_port",
    "delete_floatingip",
    "delete_port",
    "update_floatingip",
    "update_port",
]

Record = dict[str, Any]

PORT_PUT = {
    "name": "str",
    "description": "str",
    "admin_state_up": BOOL,
    "device_id": "str",
    "device_owner": "str",
    "fixed_ips": "any",
    "security_groups": "any",
    "allowed_address_pairs": "any",
    "port_security_enabled": BOOL,
    "binding:vnic_type": "str",
    "qos_policy_id": "uuid",
    "dns_name": "str",
}
PORT_POST = {
    **PORT_PUT,
    "network_id": "uuid",
    "mac_address": "str",
    "tags": "strs",
    "project_id": "str",
    "tenant_id": "str",
}
FIP_PUT = {"port_id": "uuid", "fixed_ip_address": "ip", "description": "str", "qos_policy_id": "uuid"}
FIP_POST = {
    **FIP_PUT,
    "floating_network_id": "uuid",
    "floating_ip_address": "ip",
    "subnet_id": "uuid",
    "tags": "strs",
    "project_id": "str",
    "tenant_id": "str",
    "dns_name": "str",
    "dns_domain": "str",
}


def _own_project(request: Request, attrs: Record) -> None:
    for key in ("project_id", "tenant_id"):
        if attrs.pop(key, None) not in (None, request.project_id):
            raise neutron_fault(403, "PolicyNotAuthorized", "create with another project is disallowed by policy")


def create_port(state: State, request: Request) -> Response:
    attrs = parse_body(request, "port", PORT_POST, required=("network_id",))
    _own_project(request, attrs)
    network = get_visible(state, request, "networks", attrs.pop("network_id"))
    fixed = attrs.pop("fixed_ips", None)
    if fixed is not None and not (isinstance(fixed, list) and all(isinstance(f, dict) for f in fixed)):
        raise neutron_fault(400, "HTTPBadRequest", f"Invalid input for fixed_ips. Reason: '{fixed}' is not a list.")
    port = make_port(state, network_id=network["id"], project_id=request.project_id, fixed_ips=fixed, **attrs)
    return Response(201, {"port": show(state, "ports", port)})


def update_port(state: State, request: Request, port_id: str) -> Response:
    port = get_visible(state, request, "ports", port_id, write=True)
    attrs = parse_body(request, "port", PORT_PUT)
    fixed = attrs.pop("fixed_ips", None)
    if fixed is not None:
        # Replace the addresses: allocate the new set on a scratch port, then swap it in.
        scratch = make_port(state, network_id=port["network_id"], project_id=port["project_id"], fixed_ips=fixed)
        for old in port["fixed_ips"]:
            state.release_ip(old["subnet_id"], old["ip_address"])
        attrs["fixed_ips"] = state.ports.pop(scratch["id"])["fixed_ips"]
    stamp_update(port, attrs)
    return Response(200, {"port": show(state, "ports", port)})


def delete_port(state: State, request: Request, port_id: str) -> Response:
    get_visible(state, request, "ports", port_id, write=True)
    state.delete_port(port_id)
    return Response(204)


def _associate(state: State, request: Request, fip: Record, port_id: str | None, fixed_ip: str | None) -> None:
    if port_id is None:
        fip.update(port_id=None, fixed_ip_address=None, router_id=None, status="DOWN", port_details=None)
        return
    port = get_visible(state, request, "ports", port_id)
    addresses = [f["ip_address"] for f in port["fixed_ips"] if ipaddress.ip_address(f["ip_address"]).version == 4]
    if not addresses:
        raise neutron_fault(
            400, "BadRequest", f"Bad floatingip request: Port {port_id} does not have any IPv4 address."
        )
    if fixed_ip is not None and fixed_ip not in addresses:
        raise neutron_fault(
            400, "BadRequest", f"Bad floatingip request: Port {port_id} does not have fixed ip {fixed_ip}."
        )
    fixed_ip = fixed_ip or addresses[0]
    for other in state.floatingips.values():
        if other["id"] != fip["id"] and other["port_id"] == port_id and other["fixed_ip_address"] == fixed_ip:
            raise neutron_fault(
                409,
                "FloatingIPPortAlreadyAssociated",
                f"Cannot associate floating IP {fip['floating_ip_address']} ({fip['id']}) with port {port_id} using "
                f"fixed IP {fixed_ip}, as that fixed IP already has a floating IP on external network "
                f"{other['floating_network_id']}.",
            )
    details = {
        k: port[k]
        for k in ("name", "network_id", "mac_address", "admin_state_up", "status", "device_id", "device_owner")
    }
    fip.update(
        port_id=port_id, fixed_ip_address=fixed_ip, router_id=state.router_id, status="ACTIVE", port_details=details
    )


def create_floatingip(state: State, request: Request) -> Response:
    attrs = parse_body(request, "floatingip", FIP_POST, required=("floating_network_id",))
    _own_project(request, attrs)
    network = get_visible(state, request, "networks", attrs["floating_network_id"])
    if not network.get("router:external"):
        raise neutron_fault(
            400, "BadRequest", f"Bad floatingip request: Network {network['id']} is not a valid external network."
        )
    if state.over_quota(request.project_id, "floatingips"):
        raise neutron_fault(409, "OverQuota", "Quota exceeded for resources: ['floatingip'].")
    wanted: Record = {}
    if attrs.get("subnet_id"):
        wanted["subnet_id"] = attrs["subnet_id"]
    if attrs.get("floating_ip_address"):
        wanted["ip_address"] = attrs["floating_ip_address"]
    # The address is held by a port owned by the network, as in Neutron ("network:floatingip" ports).
    holder = make_port(
        state, network_id=network["id"], project_id="", fixed_ips=[wanted], device_owner="network:floatingip"
    )
    address = state.ports.pop(holder["id"])["fixed_ips"][0]
    fip = base_record(
        request.project_id,
        floating_network_id=network["id"],
        floating_ip_address=address["ip_address"],
        router_id=None,
        port_id=None,
        fixed_ip_address=None,
        status="DOWN",
        port_details=None,
        qos_policy_id=attrs.get("qos_policy_id"),
        dns_name=attrs.get("dns_name") or "",
        dns_domain=attrs.get("dns_domain") or "",
        port_forwardings=[],
        description=attrs.get("description") or "",
        tags=attrs.get("tags") or [],
        _subnet_id=address["subnet_id"],
    )
    try:
        _associate(state, request, fip, attrs.get("port_id"), attrs.get("fixed_ip_address"))
    except Exception:
        state.release_ip(address["subnet_id"], address["ip_address"])
        raise
    state.floatingips[fip["id"]] = fip
    return Response(201, {"floatingip": show(state, "floatingips", fip)})


def update_floatingip(state: State, request: Request, fip_id: str) -> Response:
    fip = get_visible(state, request, "floatingips", fip_id, write=True)
    attrs = parse_body(request, "floatingip", FIP_PUT)
    if "port_id" in attrs:
        _associate(state, request, fip, attrs.pop("port_id"), attrs.pop("fixed_ip_address", None))
    elif "fixed_ip_address" in attrs:
        _associate(state, request, fip, fip["port_id"], attrs.pop("fixed_ip_address"))
    stamp_update(fip, attrs)
    return Response(200, {"floatingip": show(state, "floatingips", fip)})


def delete_floatingip(state: State, request: Request, fip_id: str) -> Response:
    fip = get_visible(state, request, "floatingips", fip_id, write=True)
    state.release_ip(fip["_subnet_id"], fip["floating_ip_address"])
    del state.floatingips[fip_id]
    return Response(204)
