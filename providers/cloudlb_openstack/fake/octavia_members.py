"""The fake Octavia's members (one at a time, and the batch update that replaces a pool's whole set) and health
monitors, with Octavia's rules: one member per address and port in a pool, one health monitor per pool, monitor
types by pool protocol (UDP-CONNECT only on UDP pools), HTTP-only monitor fields.

Where this sits: routed from ``octavia.py``; built on ``octavia_base.py``. The batch update
``PUT /v2/lbaas/pools/{pool_id}/members`` matches members by (address, protocol_port): listed and new ones are
created, listed and existing ones updated, unlisted ones deleted (kept with ``?additive_only=true``); it answers
202 with no body, and the LB goes PENDING_UPDATE even when nothing differs, as in Octavia.
"""

from __future__ import annotations

import re
from typing import Any

from cloudlb_openstack.fake.common import Request, Response, new_id
from cloudlb_openstack.fake.octavia_base import (
    check_quota,
    envelope,
    get_record,
    list_records,
    listeners_of_pool,
    new_record,
    not_found,
    render,
    require_mutable,
    touch_updated,
    validation,
)
from cloudlb_openstack.fake.schema import EXPECTED_CODES, HM_POST, HM_PUT, MEMBER_POST, MEMBER_PUT, octavia_fault, parse
from cloudlb_openstack.fake.state import PENDING_UPDATE, State, Touch

__all__ = [
    "batch_update_members",
    "create_healthmonitor",
    "create_member",
    "delete_healthmonitor",
    "delete_member",
    "list_members",
    "update_healthmonitor",
    "update_member",
]

Record = dict[str, Any]
RESERVED_ADDRESSES = ("169.254.169.254",)
UDP_MIN_DELAY = 3  # Octavia's default udp_connect_min_interval_health_monitor
HTTP_TYPES = ("HTTP", "HTTPS")
_HTTP_FIELDS = ("http_method", "url_path", "expected_codes")


def _parents(state: State, pool_id: str) -> list[Touch]:
    return [("pools", pool_id, "update"), *(("listeners", i, "update") for i in listeners_of_pool(state, pool_id))]


def _member_pool(state: State, request: Request, pool_id: str) -> Record:
    return get_record(state, request, "pools", pool_id)


def _check_member(state: State, attrs: Record) -> None:
    if attrs.get("address") in RESERVED_ADDRESSES:
        raise octavia_fault(400, f"{attrs['address']} is not a valid option for member address")
    if attrs.get("subnet_id") and attrs["subnet_id"] not in state.subnets:
        raise not_found("Subnet", attrs["subnet_id"])


def _duplicate(address: str, port: int) -> Exception:
    return octavia_fault(
        409, f"Another member on this pool is already using ip address {address} on protocol_port {port}"
    )


def _new_member(request: Request, pool_id: str, attrs: Record) -> Record:
    attrs = {**attrs, "name": attrs.get("name") or ""}
    attrs.setdefault("monitor_address", None)
    attrs.setdefault("monitor_port", None)
    attrs.setdefault("subnet_id", None)
    attrs["vnic_type"] = "normal"
    return new_record(request, {"id": new_id(), **attrs}, _pool=pool_id)


def list_members(state: State, request: Request, pool_id: str) -> Response:
    _member_pool(state, request, pool_id)
    records = [render(state, "members", m) for m in state.members.values() if m["_pool"] == pool_id]
    return list_records(request, "members", records, link_path=f"/load-balancer/v2/lbaas/pools/{pool_id}/members")


def create_member(state: State, request: Request, pool_id: str) -> Response:
    attrs = parse("member", envelope(request, "member"), MEMBER_POST)
    pool = _member_pool(state, request, pool_id)
    _check_member(state, attrs)
    check_quota(state, request, "members")
    for other in state.members.values():
        if other["_pool"] == pool_id and (other["address"], other["protocol_port"]) == (
            attrs["address"],
            attrs["protocol_port"],
        ):
            raise _duplicate(attrs["address"], attrs["protocol_port"])
    require_mutable(state, pool["_lb"])
    attrs.pop("project_id")
    member = _new_member(request, pool_id, attrs)
    state.members[member["id"]] = member
    state.begin(pool["_lb"], PENDING_UPDATE, [("members", member["id"], "create")], _parents(state, pool_id))
    return Response(201, {"member": render(state, "members", member)})


def update_member(state: State, request: Request, pool_id: str, member_id: str) -> Response:
    changes = parse("member", envelope(request, "member"), MEMBER_PUT, defaults=False)
    pool = _member_pool(state, request, pool_id)
    member = get_record(state, request, "members", member_id)
    if member["_pool"] != pool_id:
        raise not_found("Member", member_id)
    require_mutable(state, pool["_lb"])
    touch_updated(member, changes)
    state.begin(pool["_lb"], PENDING_UPDATE, [("members", member_id, "update")], _parents(state, pool_id))
    return Response(200, {"member": render(state, "members", member)})


def delete_member(state: State, request: Request, pool_id: str, member_id: str) -> Response:
    pool = _member_pool(state, request, pool_id)
    member = get_record(state, request, "members", member_id)
    if member["_pool"] != pool_id:
        raise not_found("Member", member_id)
    require_mutable(state, pool["_lb"])
    state.begin(pool["_lb"], PENDING_UPDATE, [("members", member_id, "delete")], _parents(state, pool_id))
    return Response(204)


def batch_update_members(state: State, request: Request, pool_id: str) -> Response:
    listed = envelope(request, "members")
    if not isinstance(listed, list):
        raise octavia_fault(
            400, f"Invalid input for field/attribute members. Value: '{listed}'. Value should be a list"
        )
    wanted = [parse("members", item, MEMBER_POST) for item in listed]
    pool = _member_pool(state, request, pool_id)
    for attrs in wanted:
        _check_member(state, attrs)
    require_mutable(state, pool["_lb"])
    current = {(m["address"], m["protocol_port"]): m for m in state.members.values() if m["_pool"] == pool_id}
    seen: set[tuple[str, int]] = set()
    for attrs in wanted:
        key = (attrs["address"], attrs["protocol_port"])
        if key in seen:
            raise _duplicate(*key)
        seen.add(key)
    additive = request.arg("additive_only") in ("true", "True", "1")
    new = [a for a in wanted if (a["address"], a["protocol_port"]) not in current]
    gone = [] if additive else [m for key, m in current.items() if key not in seen]
    check_quota(state, request, "members", len(new) - len(gone))
    touched: list[Touch] = []
    for attrs in wanted:
        attrs.pop("project_id")
        existing = current.get((attrs["address"], attrs["protocol_port"]))
        if existing is None:
            member = _new_member(request, pool_id, attrs)
            state.members[member["id"]] = member
            touched.append(("members", member["id"], "create"))
        else:
            # Unset optional fields stay as they are; the POST defaults (weight, admin_state_up, backup) apply.
            touch_updated(existing, {k: v for k, v in attrs.items() if v is not None})
            touched.append(("members", existing["id"], "update"))
    touched.extend(("members", m["id"], "delete") for m in gone)
    state.begin(pool["_lb"], PENDING_UPDATE, touched, _parents(state, pool_id))
    return Response(202)


def _check_monitor(hm_type: str, pool_protocol: str, attrs: Record) -> None:
    if pool_protocol in ("UDP", "SCTP"):
        allowed = ("UDP-CONNECT", "SCTP", "TCP", "HTTP")
        if hm_type not in allowed:
            raise validation(
                f"The associated pool protocol is {pool_protocol}, so only a {'/'.join(allowed)} health monitor "
                "is supported."
            )
        if hm_type == "UDP-CONNECT" and attrs.get("delay") is not None and attrs["delay"] < UDP_MIN_DELAY:
            raise validation(
                f"The request delay value {attrs['delay']} should be larger than {UDP_MIN_DELAY} for UDP-CONNECT "
                "health monitor type."
            )
    elif hm_type in ("UDP-CONNECT", "SCTP"):
        raise validation(
            f"The {hm_type} type is only supported for pools of type {'UDP' if hm_type == 'UDP-CONNECT' else 'SCTP'}."
        )
    if hm_type not in HTTP_TYPES:
        for name in _HTTP_FIELDS:
            if attrs.get(name):
                raise octavia_fault(400, f"{name} is not a valid option for health monitors of type {hm_type}")
    if attrs.get("url_path") and not str(attrs["url_path"]).startswith("/"):
        raise octavia_fault(
            400,
            f"Invalid input for field/attribute url_path. Value: '{attrs['url_path']}'. "
            "Value should be a valid URL path",
        )
    codes = attrs.get("expected_codes")
    if codes and not EXPECTED_CODES.match(codes):
        raise octavia_fault(
            400,
            f"Invalid input for field/attribute expected_codes. Value: '{codes}'. "
            f"Value should match the pattern {EXPECTED_CODES.pattern}",
        )
    if attrs.get("domain_name") and not attrs.get("http_version"):
        raise validation("'http_version' must be specified when 'domain_name' is provided.")
    if attrs.get("domain_name") and not re.match(r"^[A-Za-z0-9.-]+$", attrs["domain_name"]):
        raise octavia_fault(400, f"Invalid input for field/attribute domain_name. Value: '{attrs['domain_name']}'.")


def create_healthmonitor(state: State, request: Request) -> Response:
    attrs = parse("healthmonitor", envelope(request, "healthmonitor"), HM_POST)
    pool = get_record(state, request, "pools", attrs.pop("pool_id"))
    _check_monitor(attrs["type"], pool["protocol"], attrs)
    check_quota(state, request, "healthmonitors")
    if pool["_hm"]:
        raise octavia_fault(409, "This pool already has a health monitor")
    require_mutable(state, pool["_lb"])
    attrs.pop("project_id")
    if attrs["type"] in HTTP_TYPES:
        attrs["http_method"] = attrs["http_method"] or "GET"
        attrs["url_path"] = attrs["url_path"] or "/"
        attrs["expected_codes"] = attrs["expected_codes"] or "200"
    attrs["name"] = attrs["name"] or ""
    hm = new_record(request, {"id": new_id(), **attrs}, _pool=pool["id"])
    state.healthmonitors[hm["id"]] = hm
    pool["_hm"] = hm["id"]
    state.begin(pool["_lb"], PENDING_UPDATE, [("healthmonitors", hm["id"], "create")], _parents(state, pool["id"]))
    return Response(201, {"healthmonitor": render(state, "healthmonitors", hm)})


def update_healthmonitor(state: State, request: Request, hm_id: str) -> Response:
    changes = parse("healthmonitor", envelope(request, "healthmonitor"), HM_PUT, defaults=False)
    hm = get_record(state, request, "healthmonitors", hm_id)
    pool = state.pools[hm["_pool"]]
    for name in ("delay", "timeout", "max_retries"):
        if name in changes and changes[name] is None:
            raise octavia_fault(400, f"None is not a valid option for {name}")
    _check_monitor(hm["type"], pool["protocol"], {**{k: v for k, v in hm.items() if k not in _HTTP_FIELDS}, **changes})
    require_mutable(state, pool["_lb"])
    touch_updated(hm, changes)
    state.begin(pool["_lb"], PENDING_UPDATE, [("healthmonitors", hm_id, "update")], _parents(state, pool["id"]))
    return Response(200, {"healthmonitor": render(state, "healthmonitors", hm)})


def delete_healthmonitor(state: State, request: Request, hm_id: str) -> Response:
    hm = get_record(state, request, "healthmonitors", hm_id)
    pool = state.pools[hm["_pool"]]
    require_mutable(state, pool["_lb"])
    state.begin(pool["_lb"], PENDING_UPDATE, [("healthmonitors", hm_id, "delete")], _parents(state, pool["id"]))
    return Response(204)
