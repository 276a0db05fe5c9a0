"""The fake Neutron v2.0: version discovery, extensions, networks, subnets, ports, floating IPs and their tags.

Where this sits: ``server.py`` routes ``/networking/...`` here; ports and floating IPs live in
``neutron_ports.py``. ``seed`` builds the starting topology every fake cloud has: an external network "public"
(``router:external``, owned by the admin project) with subnet "public-subnet", and the user's network "private"
with subnet "private-subnet", joined by a router the floating IPs go through.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from cloudlb_openstack.fake import neutron_ports as ports
from cloudlb_openstack.fake.common import PAGING_PARAMS, TAG_PARAMS, Fault, Request, Response, list_response
from cloudlb_openstack.fake.keystone import NETWORK_PREFIX, authenticate
from cloudlb_openstack.fake.neutron_base import (
    BOOL,
    base_record,
    get_visible,
    neutron_fault,
    parse_body,
    show,
    stamp_update,
    visible,
)
from cloudlb_openstack.fake.state import State

__all__ = ["handle", "seed"]

Record = dict[str, Any]
COLLECTIONS = {"networks": "network", "subnets": "subnet", "ports": "port", "floatingips": "floatingip"}
EXTENSIONS = (
    ("external-net", "Neutron external network"),
    ("router", "Neutron L3 Router"),
    ("standard-attr-tag", "Tag support for resources with standard attribute: subnet, network, port, floatingip"),
    ("tag-creation", "Tag support for resources on creation"),
    ("filter-validation", "Filter parameters validation"),
    ("fip-port-details", "Floating IP Port Details Extension"),
    ("standard-attr-description", "standard-attr-description"),
    ("standard-attr-revisions", "Resource revision numbers"),
    ("standard-attr-timestamp", "Resource timestamps"),
    ("project-id", "project_id field enabled"),
    ("port-security", "Port Security"),
    ("binding", "Port Binding"),
)

NETWORK_PUT = {
    "name": "str",
    "description": "str",
    "admin_state_up": BOOL,
    "mtu": "int",
    "port_security_enabled": BOOL,
    "dns_domain": "str",
    "qos_policy_id": "uuid",
}
NETWORK_POST = {
    **NETWORK_PUT,
    "shared": BOOL,
    "router:external": BOOL,
    "tags": "strs",
    "project_id": "str",
    "tenant_id": "str",
    "availability_zone_hints": "any",
}
SUBNET_PUT = {
    "name": "str",
    "description": "str",
    "gateway_ip": "ip",
    "allocation_pools": "any",
    "enable_dhcp": BOOL,
    "dns_nameservers": "any",
    "host_routes": "any",
    "service_types": "any",
}
SUBNET_POST = {
    **SUBNET_PUT,
    "network_id": "uuid",
    "cidr": "cidr",
    "ip_version": "int",
    "tags": "strs",
    "project_id": "str",
    "tenant_id": "str",
    "ipv6_ra_mode": "str",
    "ipv6_address_mode": "str",
    "subnetpool_id": "uuid",
    "segment_id": "uuid",
}


def _network(project_id: str, name: str, *, external: bool = False) -> Record:
    return base_record(
        project_id,
        name=name,
        admin_state_up=True,
        status="ACTIVE",
        shared=False,
        mtu=1500,
        port_security_enabled=True,
        availability_zone_hints=[],
        availability_zones=["nova"],
        ipv4_address_scope=None,
        ipv6_address_scope=None,
        qos_policy_id=None,
        dns_domain="",
        is_default=external,
        l2_adjacency=True,
        **{"router:external": external},
    )


def _subnet(project_id: str, network_id: str, attrs: Record) -> Record:
    cidr = ipaddress.ip_network(attrs["cidr"])
    hosts = list(cidr.hosts()) if cidr.num_addresses <= 65536 else [cidr[1], cidr[-2]]
    gateway = attrs["gateway_ip"] if "gateway_ip" in attrs else str(hosts[0])
    first = 1 if gateway == str(hosts[0]) else 0
    pools = attrs.get("allocation_pools") or [{"start": str(hosts[first]), "end": str(hosts[-1])}]
    for pool in pools:
        if not isinstance(pool, dict) or not all(
            ipaddress.ip_address(pool.get(k, "")) in cidr for k in ("start", "end")
        ):
            raise neutron_fault(
                400,
                "InvalidInput",
                f"Invalid input for operation: allocation pool {pool} spans beyond the subnet cidr {cidr}.",
            )
    return base_record(
        project_id,
        network_id=network_id,
        name=attrs.get("name") or "",
        description=attrs.get("description") or "",
        tags=attrs.get("tags") or [],
        cidr=str(cidr),
        ip_version=cidr.version,
        gateway_ip=gateway,
        allocation_pools=pools,
        enable_dhcp=attrs.get("enable_dhcp", True),
        dns_nameservers=attrs.get("dns_nameservers") or [],
        host_routes=attrs.get("host_routes") or [],
        service_types=attrs.get("service_types") or [],
        ipv6_ra_mode=attrs.get("ipv6_ra_mode"),
        ipv6_address_mode=attrs.get("ipv6_address_mode"),
        subnetpool_id=attrs.get("subnetpool_id"),
        segment_id=attrs.get("segment_id"),
    )


def seed(state: State, *, public_cidr: str = "172.24.4.0/24", private_cidr: str = "10.0.0.0/24") -> None:
    public = _network(state.admin_project.id, "public", external=True)
    private = _network(state.project.id, "private")
    public_subnet = _subnet(state.admin_project.id, public["id"], {"name": "public-subnet", "cidr": public_cidr})
    private_subnet = _subnet(state.project.id, private["id"], {"name": "private-subnet", "cidr": private_cidr})
    for record in (public, private):
        state.networks[record["id"]] = record
    for record in (public_subnet, private_subnet):
        state.subnets[record["id"]] = record


def _versions(request: Request) -> Response:
    href = f"{request.base_url}{NETWORK_PREFIX}/v2.0/"
    return Response(200, {"versions": [{"id": "v2.0", "status": "CURRENT", "links": [{"href": href, "rel": "self"}]}]})


def _own(request: Request, attrs: Record) -> None:
    for key in ("project_id", "tenant_id"):
        if attrs.pop(key, None) not in (None, request.project_id):
            raise neutron_fault(403, "PolicyNotAuthorized", "create with another project is disallowed by policy")


def _create_network(state: State, request: Request) -> Response:
    attrs = parse_body(request, "network", NETWORK_POST)
    _own(request, attrs)
    for admin_only in ("shared", "router:external"):
        if attrs.get(admin_only):
            raise neutron_fault(
                403,
                "PolicyNotAuthorized",
                f"(rule:create_network and rule:create_network:{admin_only}) is disallowed by policy",
            )
    network = _network(request.project_id, "")
    network.update({k: v for k, v in attrs.items() if v is not None})
    state.networks[network["id"]] = network
    return Response(201, {"network": show(state, "networks", network)})


def _create_subnet(state: State, request: Request) -> Response:
    attrs = parse_body(request, "subnet", SUBNET_POST, required=("network_id", "ip_version", "cidr"))
    _own(request, attrs)
    network = get_visible(state, request, "networks", attrs["network_id"], write=True)
    if attrs["ip_version"] != ipaddress.ip_network(attrs["cidr"]).version:
        raise neutron_fault(400, "InvalidInput", "Invalid input for operation: cidr and ip_version are inconsistent.")
    for other in state.subnets.values():
        if other["network_id"] == network["id"] and ipaddress.ip_network(other["cidr"]).overlaps(
            ipaddress.ip_network(attrs["cidr"])
        ):
            raise neutron_fault(
                400,
                "InvalidInput",
                f"Invalid input for operation: Requested subnet with cidr: {attrs['cidr']} for network: "
                f"{network['id']} overlaps with another subnet.",
            )
    subnet = _subnet(request.project_id, network["id"], attrs)
    state.subnets[subnet["id"]] = subnet
    return Response(201, {"subnet": show(state, "subnets", subnet)})


def _delete(state: State, request: Request, collection: str, record_id: str) -> Response:
    record = get_visible(state, request, collection, record_id, write=True)
    if collection == "networks" and any(p["network_id"] == record_id for p in state.ports.values()):
        raise neutron_fault(
            409,
            "NetworkInUse",
            f"Unable to complete operation on network {record_id}. "
            "There are one or more ports still in use on the network.",
        )
    if collection == "subnets" and state.allocated.get(record_id):
        raise neutron_fault(
            409,
            "SubnetInUse",
            f"Unable to complete operation on subnet {record_id}: "
            "One or more ports have an IP allocation from this subnet.",
        )
    if collection == "networks":
        for subnet_id in [s["id"] for s in state.subnets.values() if s["network_id"] == record["id"]]:
            del state.subnets[subnet_id]
    del state.collection(collection)[record_id]
    return Response(204)


def _update(state: State, request: Request, collection: str, record_id: str) -> Response:
    fields = {"networks": NETWORK_PUT, "subnets": SUBNET_PUT}[collection]
    record = get_visible(state, request, collection, record_id, write=True)
    stamp_update(record, parse_body(request, COLLECTIONS[collection], fields))
    return Response(200, {COLLECTIONS[collection]: show(state, collection, record)})


def _fixed_ips_filter(record: Record, wanted: list[str]) -> bool:
    """Neutron's ``fixed_ips=ip_address=X`` / ``fixed_ips=subnet_id=Y`` port filter."""
    for item in wanted:
        key, _, value = item.partition("=")
        if not any(f.get(key) == value for f in record.get("fixed_ips", [])):
            return False
    return True


def _list(state: State, request: Request, collection: str) -> Response:
    records = [
        show(state, collection, r)
        for r in state.collection(collection).values()
        if visible(state, request, collection, r)
    ]
    for name in request.query:
        if name not in _QUERY_PARAMS and not _is_attribute(collection, name):
            raise neutron_fault(400, "HTTPBadRequest", f"[{name}] is invalid attribute for filtering")
    return list_response(
        request,
        key=collection,
        records=records,
        custom={"fixed_ips": _fixed_ips_filter},
        link_path=f"{NETWORK_PREFIX}/v2.0/{collection}",
    )


_QUERY_PARAMS = {*TAG_PARAMS, *PAGING_PARAMS, "fixed_ips"}
_SHOWN_ONLY = {  # attributes a record shows but no request sets, which are still filters
    "networks": {"status", "subnets", "availability_zones", "is_default"},
    "subnets": set(),
    "ports": {"status"},
    "floatingips": {"status", "router_id"},
}


def _is_attribute(collection: str, name: str) -> bool:
    """Neutron's filter validation: a filter must name an attribute of the resource."""
    fields = {"networks": NETWORK_POST, "subnets": SUBNET_POST, "ports": ports.PORT_POST, "floatingips": ports.FIP_POST}
    common = {"id", "created_at", "updated_at", "revision_number"}
    return name in fields[collection] or name in common or name in _SHOWN_ONLY[collection]


def _tags(state: State, request: Request, collection: str, record_id: str, tag: str | None) -> Response:
    record = get_visible(state, request, collection, record_id, write=request.method != "GET")
    tags: list[str] = record["tags"]
    if tag is None:
        if request.method == "GET":
            return Response(200, {"tags": list(tags)})
        if request.method == "PUT":
            body = request.body if isinstance(request.body, dict) else {}
            new = body.get("tags")
            if not isinstance(new, list) or not all(isinstance(t, str) and 0 < len(t) <= 255 for t in new):
                raise neutron_fault(
                    400, "HTTPBadRequest", f"Invalid input for tags. Reason: '{new}' is not a list of tags."
                )
            stamp_update(record, {"tags": sorted(set(new))})
            return Response(200, {"tags": record["tags"]})
        stamp_update(record, {"tags": []})
        return Response(204)
    if request.method == "PUT":
        if tag not in tags:
            stamp_update(record, {"tags": sorted({*tags, tag})})
        return Response(201)
    if tag not in tags:
        raise neutron_fault(
            404, "TagNotFound", f"Tag {tag} could not be found for {COLLECTIONS[collection]} {record_id}."
        )
    if request.method == "DELETE":
        stamp_update(record, {"tags": [t for t in tags if t != tag]})
    return Response(204)


_ITEM = re.compile(r"^/v2\.0/(networks|subnets|ports|floatingips)/([^/]+)(/tags(?:/(.+))?)?$")


def handle(state: State, request: Request) -> Response:
    path = request.path.rstrip("/")
    if path == "" and request.method == "GET":
        return _versions(request)
    if not path.startswith("/v2.0"):
        raise neutron_fault(404, "HTTPNotFound", "The resource could not be found.")
    authenticate(state, request)
    if path == "/v2.0" and request.method == "GET":
        resources = [
            {
                "name": single,
                "collection": c,
                "links": [{"href": f"{request.base_url}{NETWORK_PREFIX}/v2.0/{c}", "rel": "self"}],
            }
            for c, single in COLLECTIONS.items()
        ]
        return Response(200, {"resources": resources})
    if path == "/v2.0/extensions" and request.method == "GET":
        extensions = [
            {"alias": a, "name": n, "description": n, "updated": "2024-01-01T00:00:00-00:00", "links": []}
            for a, n in EXTENSIONS
        ]
        return Response(200, {"extensions": extensions})
    collection = path.removeprefix("/v2.0/")
    if collection in COLLECTIONS:
        if request.method == "GET":
            return _list(state, request, collection)
        creators = {
            "networks": _create_network,
            "subnets": _create_subnet,
            "ports": ports.create_port,
            "floatingips": ports.create_floatingip,
        }
        if request.method == "POST":
            return creators[collection](state, request)
        raise _not_allowed()
    match = _ITEM.match(path)
    if match is None:
        raise neutron_fault(404, "HTTPNotFound", "The resource could not be found.")
    collection, record_id, tags_path, tag = match.groups()
    if tags_path:
        if request.method not in ("GET", "PUT", "DELETE"):
            raise _not_allowed()
        return _tags(state, request, collection, record_id, tag)
    if request.method == "GET":
        return Response(
            200, {COLLECTIONS[collection]: show(state, collection, get_visible(state, request, collection, record_id))}
        )
    if request.method == "PUT":
        if collection == "ports":
            return ports.update_port(state, request, record_id)
        if collection == "floatingips":
            return ports.update_floatingip(state, request, record_id)
        return _update(state, request, collection, record_id)
    if request.method == "DELETE":
        if collection == "ports":
            return ports.delete_port(state, request, record_id)
        if collection == "floatingips":
            return ports.delete_floatingip(state, request, record_id)
        return _delete(state, request, collection, record_id)
    raise _not_allowed()


def _not_allowed() -> Fault:
    return neutron_fault(405, "HTTPMethodNotAllowed", "The method is not allowed for the requested URL.")
