"""The fake Octavia's listeners and pools, with the cross-field rules Octavia enforces on them: one listener per
L4 protocol and port, listener/pool protocol compatibility, header insertion and TLS only where they apply,
``allowed_cidrs`` of the VIP's IP version, session persistence by pool protocol.

Where this sits: routed from ``octavia.py``; built on ``octavia_base.py``. Each write locks the LB (and the
listeners it passes through) to PENDING_UPDATE and the written record to PENDING_<action>.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from cloudlb_openstack.fake.common import Request, Response, new_id
from cloudlb_openstack.fake.octavia_base import (
    check_quota,
    envelope,
    get_record,
    listeners_of_pool,
    new_record,
    not_found,
    render,
    require_mutable,
    touch_updated,
    validation,
)
from cloudlb_openstack.fake.schema import LISTENER_POST, LISTENER_PUT, POOL_POST, POOL_PUT, octavia_fault, parse
from cloudlb_openstack.fake.state import PENDING_UPDATE, State

__all__ = [
    "create_listener",
    "create_pool",
    "delete_listener",
    "delete_pool",
    "update_listener",
    "update_pool",
]

Record = dict[str, Any]

POOL_PROTOCOLS_FOR = {
    "TCP": {"HTTP", "HTTPS", "PROXY", "PROXYV2", "TCP"},
    "HTTP": {"HTTP", "PROXY", "PROXYV2"},
    "HTTPS": {"HTTPS", "PROXY", "PROXYV2", "TCP"},
    "TERMINATED_HTTPS": {"HTTP", "PROXY", "PROXYV2"},
    "UDP": {"UDP"},
    "SCTP": {"SCTP"},
    "PROMETHEUS": set(),
}
HEADERS = {"X-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Proto"}
SSL_HEADERS = {
    "X-SSL-Client-Verify",
    "X-SSL-Client-Has-Cert",
    "X-SSL-Client-DN",
    "X-SSL-Client-CN",
    "X-SSL-Issuer",
    "X-SSL-Client-SHA1",
    "X-SSL-Client-Not-Before",
    "X-SSL-Client-Not-After",
}


def _l4(protocol: str) -> str:
    return protocol if protocol in ("UDP", "SCTP") else "TCP"


def _check_protocols(listener_protocol: str, pool_protocol: str) -> None:
    if pool_protocol not in POOL_PROTOCOLS_FOR[listener_protocol]:
        raise validation(
            f"The pool protocol '{pool_protocol}' is invalid while the listener protocol is '{listener_protocol}'."
        )


def _check_listener(state: State, lb: Record, protocol: str, listener: Record) -> None:
    headers = listener.get("insert_headers") or {}
    if headers:
        if protocol not in ("HTTP", "TERMINATED_HTTPS"):
            raise octavia_fault(400, f"insert-headers is not a valid option for a {protocol} protocol listener.")
        allowed = HEADERS | SSL_HEADERS if protocol == "TERMINATED_HTTPS" else HEADERS
        if set(headers) - allowed:
            raise octavia_fault(400, f"{sorted(set(headers) - allowed)} is not a valid option for insert_headers")
    has_tls = listener.get("default_tls_container_ref") or listener.get("sni_container_refs")
    if protocol != "TERMINATED_HTTPS" and (has_tls or listener.get("client_ca_tls_container_ref")):
        raise validation("Certificate container references are only allowed on TERMINATED_HTTPS protocol listeners.")
    if protocol == "TERMINATED_HTTPS" and not has_tls:
        raise validation(
            "An SNI or default certificate container reference must be provided for TERMINATED_HTTPS protocol "
            "listeners."
        )
    if listener.get("client_authentication", "NONE") != "NONE" and not listener.get("client_ca_tls_container_ref"):
        raise validation(
            f"Client authentication setting {listener['client_authentication']} requires a client CA container "
            "reference."
        )
    vip_version = ipaddress.ip_address(lb["vip_address"]).version
    for cidr in listener.get("allowed_cidrs") or []:
        if ipaddress.ip_network(cidr).version != vip_version:
            raise validation(f"CIDR {cidr} IP version incompatible with VIP {lb['vip_address']} IP version.")
    pool_id = listener.get("default_pool_id")
    if pool_id:
        pool = state.pools.get(pool_id)
        if pool is None or pool["_lb"] != lb["id"]:
            raise not_found("Pool", pool_id)
        _check_protocols(protocol, pool["protocol"])


def create_listener(state: State, request: Request) -> Response:
    attrs = parse("listener", envelope(request, "listener"), LISTENER_POST)
    if attrs.pop("default_pool") or attrs.pop("l7policies"):
        raise validation("this fake Octavia does not implement single-call (graph) creation; create each resource")
    lb = get_record(state, request, "loadbalancers", attrs.pop("loadbalancer_id"))
    check_quota(state, request, "listeners")
    require_mutable(state, lb["id"])
    _check_listener(state, lb, attrs["protocol"], attrs)
    for other in state.listeners.values():
        same_port = other["_lb"] == lb["id"] and other["protocol_port"] == attrs["protocol_port"]
        if same_port and _l4(other["protocol"]) == _l4(attrs["protocol"]):
            raise octavia_fault(
                409,
                f"Another Listener on this Load Balancer is already using protocol {other['protocol']} and "
                f"protocol_port {attrs['protocol_port']}",
            )
    attrs.update(
        name=attrs["name"] or "", description=attrs["description"] or "", allowed_cidrs=attrs["allowed_cidrs"] or []
    )
    listener = new_record(request, {"id": new_id(), **attrs}, _lb=lb["id"])
    state.listeners[listener["id"]] = listener
    state.begin(lb["id"], PENDING_UPDATE, [("listeners", listener["id"], "create")])
    return Response(201, {"listener": render(state, "listeners", listener)})


def update_listener(state: State, request: Request, listener_id: str) -> Response:
    changes = parse("listener", envelope(request, "listener"), LISTENER_PUT, defaults=False)
    listener = get_record(state, request, "listeners", listener_id)
    lb = require_mutable(state, listener["_lb"])
    _check_listener(state, lb, listener["protocol"], {**listener, **changes})
    touch_updated(listener, changes)
    state.begin(lb["id"], PENDING_UPDATE, [("listeners", listener_id, "update")])
    return Response(200, {"listener": render(state, "listeners", listener)})


def delete_listener(state: State, request: Request, listener_id: str) -> Response:
    listener = get_record(state, request, "listeners", listener_id)
    require_mutable(state, listener["_lb"])
    state.begin(listener["_lb"], PENDING_UPDATE, [("listeners", listener_id, "delete")])
    return Response(204)


def _session_persistence(protocol: str, sp: Record | None) -> Record | None:
    if sp is None:
        return None
    sp = {"cookie_name": None, "persistence_timeout": None, "persistence_granularity": None, **sp}
    if sp.get("type") is None:
        raise octavia_fault(400, "Invalid input for field/attribute type. Value: 'None'. Mandatory field missing.")
    if protocol == "UDP":
        if sp["cookie_name"]:
            raise validation("Cookie names are not supported for UDP pools.")
        if sp["type"] in ("HTTP_COOKIE", "APP_COOKIE"):
            raise validation(f"Session persistence of type {sp['type']} is not supported for UDP protocol pools.")
    elif sp["persistence_timeout"] is not None or sp["persistence_granularity"] is not None:
        raise validation("persistence_timeout and persistence_granularity is only for UDP protocol pools.")
    if sp["type"] == "APP_COOKIE" and not sp["cookie_name"]:
        raise validation("Field cookie_name must be specified when using the APP_COOKIE session persistence type.")
    if sp["type"] != "APP_COOKIE" and sp["cookie_name"]:
        raise validation(
            f"Field cookie_name must not be specified when using the {sp['type']} session persistence type."
        )
    return sp


def _check_algorithm(algorithm: str | None) -> None:
    if algorithm == "SOURCE_IP_PORT":
        raise octavia_fault(
            501,
            "Provider 'amphora' does not support a requested option: Amphora provider does not support "
            "SOURCE_IP_PORT algorithm.",
        )


def create_pool(state: State, request: Request) -> Response:
    attrs = parse("pool", envelope(request, "pool"), POOL_POST)
    if attrs.pop("healthmonitor") or attrs.pop("members"):
        raise validation("this fake Octavia does not implement single-call (graph) creation; create each resource")
    attrs["session_persistence"] = _session_persistence(attrs["protocol"], attrs["session_persistence"])
    listener_id, lb_id = attrs.pop("listener_id"), attrs.pop("loadbalancer_id")
    listener = None
    if listener_id:
        listener = get_record(state, request, "listeners", listener_id)
        _check_protocols(listener["protocol"], attrs["protocol"])
        lb_id = listener["_lb"]
    elif not lb_id:
        raise validation("Must provide at least one of: loadbalancer_id, listener_id")
    lb = get_record(state, request, "loadbalancers", lb_id)
    _check_algorithm(attrs["lb_algorithm"])
    check_quota(state, request, "pools")
    if listener is not None and listener["default_pool_id"]:
        raise octavia_fault(409, "This listener already has a default pool")
    require_mutable(state, lb["id"])
    attrs.update(name=attrs["name"] or "", description=attrs["description"] or "")
    pool = new_record(request, {"id": new_id(), **attrs}, _lb=lb["id"], _hm=None)
    state.pools[pool["id"]] = pool
    parents = []
    if listener is not None:
        listener["default_pool_id"] = pool["id"]
        parents.append(("listeners", listener["id"], "update"))
    state.begin(lb["id"], PENDING_UPDATE, [("pools", pool["id"], "create")], parents)
    return Response(201, {"pool": render(state, "pools", pool)})


def update_pool(state: State, request: Request, pool_id: str) -> Response:
    changes = parse("pool", envelope(request, "pool"), POOL_PUT, defaults=False)
    pool = get_record(state, request, "pools", pool_id)
    if changes.get("session_persistence") is not None:
        merged = {**(pool["session_persistence"] or {}), **changes["session_persistence"]}
        changes["session_persistence"] = _session_persistence(pool["protocol"], merged)
    _check_algorithm(changes.get("lb_algorithm"))
    require_mutable(state, pool["_lb"])
    touch_updated(pool, changes)
    parents = [("listeners", i, "update") for i in listeners_of_pool(state, pool_id)]
    state.begin(pool["_lb"], PENDING_UPDATE, [("pools", pool_id, "update")], parents)
    return Response(200, {"pool": render(state, "pools", pool)})


def delete_pool(state: State, request: Request, pool_id: str) -> Response:
    pool = get_record(state, request, "pools", pool_id)
    require_mutable(state, pool["_lb"])
    parents = [("listeners", i, "update") for i in listeners_of_pool(state, pool_id)]
    state.begin(pool["_lb"], PENDING_UPDATE, [("pools", pool_id, "delete")], parents)
    return Response(204)
