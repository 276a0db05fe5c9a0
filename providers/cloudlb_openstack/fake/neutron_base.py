"""What the fake Neutron's handlers share: its fault shape, body checks, which records a project may see, and
port creation (which the fake Octavia also uses for each load balancer's VIP port).

Where this sits: below ``neutron.py`` (networks, subnets, tags, routing) and ``neutron_ports.py`` (ports and
floating IPs); ``octavia_lb.py`` calls ``make_port`` and ``State.delete_port``.
"""

from __future__ import annotations

import ipaddress
import random
import uuid
from collections.abc import Mapping
from typing import Any

from cloudlb_openstack.fake.common import Fault, Request, new_id, now_iso
from cloudlb_openstack.fake.state import State

__all__ = [
    "BOOL",
    "base_record",
    "get_visible",
    "make_port",
    "neutron_fault",
    "not_found",
    "parse_body",
    "show",
    "stamp_update",
    "visible",
]

Record = dict[str, Any]

BOOL = "bool"
_NOT_FOUND_TYPE = {
    "networks": ("NetworkNotFound", "Network"),
    "subnets": ("SubnetNotFound", "Subnet"),
    "ports": ("PortNotFound", "Port"),
    "floatingips": ("FloatingIPNotFound", "Floating IP"),
}


def neutron_fault(status: int, kind: str, message: str) -> Fault:
    return Fault(status, {"NeutronError": {"type": kind, "message": message, "detail": ""}})


def not_found(collection: str, record_id: str) -> Fault:
    kind, label = _NOT_FOUND_TYPE[collection]
    return neutron_fault(404, kind, f"{label} {record_id} could not be found.")


def _bad(message: str) -> Fault:
    return neutron_fault(400, "HTTPBadRequest", message)


def _convert(name: str, kind: str, value: Any) -> Any:
    """Neutron's attribute converters and validators, for the kinds the fake uses."""
    if value is None:
        return None
    if kind == BOOL:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
            return value.lower() in ("true", "1")
        raise _bad(f"Invalid input for {name}. Reason: '{value}' cannot be converted to boolean.")
    if kind == "uuid":
        try:
            uuid.UUID(str(value))
        except ValueError:
            raise _bad(f"Invalid input for {name}. Reason: '{value}' is not a valid UUID.") from None
        return str(value)
    if kind == "ip":
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise _bad(f"Invalid input for {name}. Reason: '{value}' is not a valid IP address.") from None
    if kind == "cidr":
        try:
            return str(ipaddress.ip_network(value, strict=False))
        except (ValueError, TypeError):
            raise _bad(f"Invalid input for {name}. Reason: '{value}' is not a valid IP subnet.") from None
    if kind == "str":
        if not isinstance(value, str) or len(value) > 255:
            raise _bad(f"Invalid input for {name}. Reason: '{value}' is not a valid string.")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad(f"Invalid input for {name}. Reason: '{value}' is not an integer.")
        return value
    if kind == "strs":
        if not isinstance(value, list) or not all(isinstance(v, str) and len(v) <= 255 for v in value):
            raise _bad(f"Invalid input for {name}. Reason: '{value}' is not a list of strings.")
        return list(value)
    return value  # "any": lists and dicts Neutron checks elsewhere


def parse_body(request: Request, key: str, fields: Mapping[str, str], *, required: tuple[str, ...] = ()) -> Record:
    """``{key: {...}}`` -> the converted attributes; 400 for a missing envelope, an unknown, read-only or
    missing attribute, or a value of the wrong kind."""
    body = request.body
    if not isinstance(body, dict) or not isinstance(body.get(key), dict):
        raise _bad(f"Resource body required: expected a '{key}' object")
    attrs: Record = body[key]
    unknown = sorted(set(attrs) - set(fields))
    if unknown:
        if request.method == "PUT":
            raise _bad(f"Cannot update read-only attribute {', '.join(unknown)}")
        raise _bad(f"Unrecognized attribute(s) '{', '.join(unknown)}'")
    for name in required:
        if attrs.get(name) is None:
            raise _bad(f"Failed to parse request. Required attribute '{name}' not specified")
    return {name: _convert(name, fields[name], value) for name, value in attrs.items()}


def visible(state: State, request: Request, collection: str, record: Record) -> bool:
    """A project sees its own records, plus shared and external networks and their subnets."""
    if record.get("project_id") == request.project_id:
        return True
    if collection == "networks":
        return bool(record.get("shared") or record.get("router:external"))
    if collection == "subnets":
        network = state.networks.get(record["network_id"], {})
        return bool(network.get("shared") or network.get("router:external"))
    return False


def get_visible(state: State, request: Request, collection: str, record_id: str, *, write: bool = False) -> Record:
    """The record if the caller may see it (404 otherwise, as Neutron hides others' records); 403 when it may
    see but not change it (an external network it does not own)."""
    record = state.collection(collection).get(record_id)
    if record is None or not visible(state, request, collection, record):
        raise not_found(collection, record_id)
    if write and record.get("project_id") != request.project_id:
        raise neutron_fault(403, "PolicyNotAuthorized", f"update_{collection[:-1]} is disallowed by policy")
    return record


def show(state: State, collection: str, record: Record) -> Record:
    """The record as the API shows it: internal ``_`` keys dropped; a network lists its subnets."""
    out = {k: v for k, v in record.items() if not k.startswith("_")}
    if collection == "networks":
        out["subnets"] = [s["id"] for s in state.subnets.values() if s["network_id"] == record["id"]]
    return out


def stamp_update(record: Record, changes: Record) -> None:
    record.update(changes)
    record["updated_at"] = now_iso(zulu=True)
    record["revision_number"] += 1


def base_record(project_id: str, **fields: Any) -> Record:
    stamp = now_iso(zulu=True)
    return {
        "id": new_id(),
        "name": "",
        "description": "",
        "tags": [],
        "project_id": project_id,
        "tenant_id": project_id,
        "created_at": stamp,
        "updated_at": stamp,
        "revision_number": 0,
        **fields,
    }


def make_port(
    state: State,
    *,
    network_id: str,
    project_id: str,
    fixed_ips: list[Record] | None = None,
    **fields: Any,
) -> Record:
    """Create a port with addresses from ``fixed_ips`` (``subnet_id`` and/or ``ip_address`` each) or, by default,
    one from the network's first IPv4 subnet. 409 when an address is taken or a subnet is full."""
    subnets = [s for s in state.subnets.values() if s["network_id"] == network_id]
    requests = fixed_ips if fixed_ips is not None else ([{"subnet_id": subnets[0]["id"]}] if subnets else [])
    allocated: list[Record] = []
    try:
        for wanted in requests:
            allocated.append(_allocate(state, network_id, subnets, wanted))
    except Fault:
        for done in allocated:
            state.release_ip(done["subnet_id"], done["ip_address"])
        raise
    mac = "fa:16:3e:" + ":".join(f"{random.randrange(256):02x}" for _ in range(3))
    port = base_record(
        project_id,
        network_id=network_id,
        admin_state_up=True,
        status="DOWN",
        mac_address=mac,
        fixed_ips=allocated,
        device_id="",
        device_owner="",
        allowed_address_pairs=[],
        extra_dhcp_opts=[],
        security_groups=[],
        port_security_enabled=True,
        qos_policy_id=None,
        dns_name="",
        **{"binding:vnic_type": "normal"},
    )
    port.update({k: v for k, v in fields.items() if v is not None})
    state.ports[port["id"]] = port
    return port


def _allocate(state: State, network_id: str, subnets: list[Record], wanted: Record) -> Record:
    address = wanted.get("ip_address")
    subnet_id = wanted.get("subnet_id")
    if subnet_id is None:
        # Neutron picks the subnet holding the requested address, or else one with room.
        fits = [
            s for s in subnets if address is None or ipaddress.ip_address(address) in ipaddress.ip_network(s["cidr"])
        ]
        subnet_id = fits[0]["id"] if fits else None
    subnet = state.subnets.get(subnet_id or "")
    if subnet is None or subnet["network_id"] != network_id:
        raise neutron_fault(
            400,
            "InvalidInput",
            f"Invalid input for operation: IP allocation requires subnet {subnet_id} on network {network_id}.",
        )
    if address is not None and ipaddress.ip_address(address) not in ipaddress.ip_network(subnet["cidr"]):
        raise neutron_fault(
            400, "InvalidIpForSubnet", f"IP address {address} is not a valid IP for the specified subnet."
        )
    got = state.allocate_ip(subnet, address)
    if got is None and address is not None:
        raise neutron_fault(
            409, "IpAddressAlreadyAllocated", f"IP address {address} already allocated in subnet {subnet['id']}"
        )
    if got is None:
        raise neutron_fault(
            409, "IpAddressGenerationFailure", f"No more IP addresses available on network {network_id}."
        )
    return {"subnet_id": subnet["id"], "ip_address": got}
