"""The fake Octavia's load balancers (create with a VIP port from Neutron, update, delete with or without
cascade, status tree) and its read-only catalogues: quotas, providers, flavors, availability zones.

Where this sits: routed from ``octavia.py``; built on ``octavia_base.py``. A new load balancer's VIP address comes
from its VIP subnet through a Neutron port it owns ("octavia-lb-<id>"), which is released when the load balancer
is deleted; a port the caller passed as ``vip_port_id`` stays the caller's.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from cloudlb_openstack.fake.common import Fault, Request, Response, list_response, new_id
from cloudlb_openstack.fake.neutron_base import make_port, visible
from cloudlb_openstack.fake.octavia_base import (
    check_quota,
    envelope,
    forbidden,
    get_record,
    new_record,
    render,
    require_mutable,
    touch_updated,
    validation,
)
from cloudlb_openstack.fake.schema import LB_POST, LB_PUT, octavia_fault, parse
from cloudlb_openstack.fake.state import OCTAVIA_QUOTA_KEYS, PENDING_CREATE, PENDING_DELETE, PENDING_UPDATE, State

__all__ = [
    "PROVIDERS",
    "create_lb",
    "delete_lb",
    "get_quota",
    "lb_status_tree",
    "list_catalogue",
    "update_lb",
]

Record = dict[str, Any]
PROVIDERS = {"amphora": "The Octavia Amphora driver.", "octavia": "Deprecated alias of the Octavia Amphora driver."}


def _vip(state: State, request: Request, attrs: Record) -> tuple[Record, str, bool]:
    """For the request's vip_* attributes: (the caller's port, or else the subnet the LB's own port goes on; the
    address asked for, "" for any; whether the LB will own the port)."""
    port_id, subnet_id, network_id = attrs["vip_port_id"], attrs["vip_subnet_id"], attrs["vip_network_id"]
    if not (port_id or subnet_id or network_id):
        raise validation("VIP must contain one of: vip_port_id, vip_network_id, vip_subnet_id.")
    if port_id:
        port = state.ports.get(port_id)
        if port is None or not visible(state, request, "ports", port):
            raise octavia_fault(400, f"Port {port_id} not found.")
        addresses = [f["ip_address"] for f in port["fixed_ips"]]
        if not addresses or (attrs["vip_address"] and attrs["vip_address"] not in addresses):
            raise validation(f"No VIP address found on port {port_id}.")
        return port, attrs["vip_address"] or addresses[0], False
    if subnet_id:
        subnet = state.subnets.get(subnet_id)
        if subnet is None or not visible(state, request, "subnets", subnet):
            raise octavia_fault(400, f"Subnet {subnet_id} not found.")
        if network_id and subnet["network_id"] != network_id:
            raise validation(f"Subnet {subnet_id} is not on network {network_id}.")
    else:
        network = state.networks.get(network_id)
        if network is None or not visible(state, request, "networks", network):
            raise octavia_fault(400, f"Network {network_id} not found.")
        candidates = sorted(
            (s for s in state.subnets.values() if s["network_id"] == network_id), key=lambda s: s["ip_version"]
        )
        if attrs["vip_address"]:
            wanted = ipaddress.ip_address(attrs["vip_address"])
            candidates = [s for s in candidates if wanted in ipaddress.ip_network(s["cidr"])]
        if not candidates:
            raise validation(f"Supplied network does not contain a subnet for the VIP: {network_id}")
        subnet = candidates[0]
    if attrs["vip_address"] and ipaddress.ip_address(attrs["vip_address"]) not in ipaddress.ip_network(subnet["cidr"]):
        raise validation(f"VIP address {attrs['vip_address']} is not in subnet {subnet['id']}.")
    return subnet, attrs["vip_address"] or "", True


def create_lb(state: State, request: Request) -> Response:
    attrs = parse("loadbalancer", envelope(request, "loadbalancer"), LB_POST)
    if attrs["listeners"] or attrs["pools"]:
        raise validation("this fake Octavia does not implement single-call (graph) creation; create each resource")
    if attrs["project_id"] not in (None, request.project_id):
        raise forbidden()
    provider = attrs["provider"] or "amphora"
    if provider not in PROVIDERS:
        raise octavia_fault(400, f"Provider '{provider}' is not enabled.")
    if attrs["flavor_id"] and attrs["flavor_id"] not in state.flavors:
        raise octavia_fault(400, f"{attrs['flavor_id']} is not a valid option for flavor_id")
    if attrs["availability_zone"] and attrs["availability_zone"] not in state.availability_zones:
        raise octavia_fault(400, f"{attrs['availability_zone']} is not a valid option for availability_zone")
    target, address, owns_port = _vip(state, request, attrs)
    check_quota(state, request, "loadbalancers")
    lb_id = new_id()
    port = target
    if owns_port:
        wanted = {"subnet_id": target["id"], **({"ip_address": address} if address else {})}
        try:
            port = make_port(
                state,
                network_id=target["network_id"],
                project_id=request.project_id,
                fixed_ips=[wanted],
                name=f"octavia-lb-{lb_id}",
                device_owner="Octavia",
                device_id=f"lb-{lb_id}",
            )
        except Fault as exc:
            raise octavia_fault(exc.status, exc.body["NeutronError"]["message"]) from None
        address = port["fixed_ips"][0]["ip_address"]
    vip = next(f for f in port["fixed_ips"] if f["ip_address"] == address)
    fields = {
        "id": lb_id,
        "name": attrs["name"] or "",
        "description": attrs["description"] or "",
        "admin_state_up": attrs["admin_state_up"],
        "provider": "amphora",
        "flavor_id": attrs["flavor_id"],
        "availability_zone": attrs["availability_zone"],
        "vip_address": vip["ip_address"],
        "vip_port_id": port["id"],
        "vip_subnet_id": vip["subnet_id"],
        "vip_network_id": port["network_id"],
        "vip_qos_policy_id": attrs["vip_qos_policy_id"],
        "vip_sg_ids": attrs["vip_sg_ids"],
        "vip_vnic_type": "normal",
        "additional_vips": [],
        "tags": attrs["tags"],
    }
    lb = new_record(request, fields, _owns_vip_port=owns_port)
    state.loadbalancers[lb_id] = lb
    state.begin(lb_id, PENDING_CREATE, [])
    return Response(201, {"loadbalancer": render(state, "loadbalancers", lb)})


def update_lb(state: State, request: Request, lb_id: str) -> Response:
    changes = parse("loadbalancer", envelope(request, "loadbalancer"), LB_PUT, defaults=False)
    lb = get_record(state, request, "loadbalancers", lb_id)
    require_mutable(state, lb_id)
    touch_updated(lb, changes)
    state.begin(lb_id, PENDING_UPDATE, [])
    return Response(200, {"loadbalancer": render(state, "loadbalancers", lb)})


def delete_lb(state: State, request: Request, lb_id: str) -> Response:
    get_record(state, request, "loadbalancers", lb_id)
    require_mutable(state, lb_id, deleting_lb=True)
    children = list(state.children(lb_id))
    if children and request.arg("cascade") not in ("true", "True", "1"):
        raise validation(f"Cannot delete Load Balancer {lb_id} - it has children")
    state.begin(lb_id, PENDING_DELETE, [(name, record["id"], "delete") for name, record in children])
    return Response(204)


def lb_status_tree(state: State, request: Request, lb_id: str) -> Response:
    lb = get_record(state, request, "loadbalancers", lb_id)

    def status(record: Record, **extra: Any) -> Record:
        keys = ("id", "name", "provisioning_status", "operating_status")
        return {**{k: record[k] for k in keys}, **extra}

    def pool_status(pool: Record) -> Record:
        hm = state.healthmonitors.get(pool["_hm"] or "")
        members = [
            status(m, address=m["address"], protocol_port=m["protocol_port"])
            for m in state.members.values()
            if m["_pool"] == pool["id"]
        ]
        return status(pool, members=members, **({"health_monitor": status(hm, type=hm["type"])} if hm else {}))

    listeners = [
        status(item, pools=[pool_status(p) for p in state.pools.values() if p["id"] == item["default_pool_id"]])
        for item in state.listeners.values()
        if item["_lb"] == lb_id
    ]
    return Response(200, {"statuses": {"loadbalancer": status(lb, listeners=listeners)}})


def get_quota(state: State, request: Request, project_id: str | None) -> Response:
    if project_id is not None and project_id not in (request.project_id, "defaults"):
        raise forbidden()
    values = state.default_quotas if project_id == "defaults" else state.quota(request.project_id)
    quota = {key: values[key] for key in OCTAVIA_QUOTA_KEYS}
    quota.update(l7policy=-1, l7rule=-1, loadbalancer=quota["load_balancer"], healthmonitor=quota["health_monitor"])
    if project_id is None:
        return Response(200, {"quotas": [{**quota, "project_id": request.project_id}], "quotas_links": []})
    return Response(200, {"quota": quota})


def list_catalogue(state: State, request: Request, name: str) -> Response:
    if name == "providers":
        records = [{"name": k, "description": v} for k, v in PROVIDERS.items()]
    elif name == "flavors":
        records = list(state.flavors.values())
    else:
        records = list(state.availability_zones.values())
    return list_response(request, key=name, records=records, link_path=f"/load-balancer/v2/lbaas/{name}")
