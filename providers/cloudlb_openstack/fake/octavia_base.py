"""What every fake Octavia handler shares: rendering records in the API's shape, finding one the caller may see,
the immutability (409) and quota (403) checks, and starting an operation on the state machine.

Where this sits: below ``octavia_lb.py``, ``octavia_listeners.py`` and ``octavia_members.py``; above ``state.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cloudlb_openstack.fake.common import PAGING_PARAMS, TAG_PARAMS, Fault, Request, Response, list_response, now_iso
from cloudlb_openstack.fake.schema import HM_POST, LB_POST, LISTENER_POST, MEMBER_POST, POOL_POST, octavia_fault
from cloudlb_openstack.fake.state import ACTIVE, ERROR, State

__all__ = [
    "LABEL",
    "check_quota",
    "envelope",
    "forbidden",
    "get_record",
    "list_records",
    "listeners_of_pool",
    "new_record",
    "not_found",
    "render",
    "require_mutable",
    "touch_updated",
    "validation",
]

Record = dict[str, Any]

# collection -> the resource name Octavia's messages use
LABEL = {
    "loadbalancers": "Load Balancer",
    "listeners": "Listener",
    "pools": "Pool",
    "members": "Member",
    "healthmonitors": "Health Monitor",
}


def envelope(request: Request, key: str) -> Any:
    """The object under ``key`` in the body (``{"listener": {...}}``); 400 for any other shape."""
    body = request.body
    if not isinstance(body, dict) or set(body) - {key}:
        extra = sorted(set(body) - {key}) if isinstance(body, dict) else [type(body).__name__]
        raise octavia_fault(
            400,
            f"Invalid input for field/attribute {key}_. Value: '{body}'. "
            f"Unknown attribute for argument {key}_: {', '.join(extra)}",
        )
    if body.get(key) is None:
        raise octavia_fault(400, f"Invalid input for field/attribute {key}. Value: 'None'. Mandatory field missing.")
    return body[key]


def _related(field: str) -> Callable[[Record, list[str]], bool]:
    """A filter on a relation the API shows as ``[{"id": ...}]`` (Octavia filters on its database column)."""
    return lambda record, wanted: any(item["id"] in wanted for item in record.get(field) or [])


_RELATION_FILTERS = {
    "load_balancer_id": _related("loadbalancers"),
    "loadbalancer_id": _related("loadbalancers"),
    "listener_id": _related("listeners"),
    "pool_id": _related("pools"),
}
_SHOWN = {"id", "project_id", "provisioning_status", "operating_status", "created_at", "updated_at"}
# What each collection may be filtered on: its attributes (Octavia refuses any other filter with a 400).
_FILTERS = {
    "loadbalancers": {*LB_POST, *_SHOWN, "vip_vnic_type"},
    "listeners": {*LISTENER_POST, *_SHOWN, "load_balancer_id"},
    "pools": {*POOL_POST, *_SHOWN, "healthmonitor_id", "load_balancer_id"},
    "members": {*MEMBER_POST, *_SHOWN, "vnic_type"},
    "healthmonitors": {*HM_POST, *_SHOWN},
}


def list_records(request: Request, collection: str, records: list[Record], *, link_path: str) -> Response:
    """A list answer for rendered ``records``, filtered by the query as Octavia does."""
    for name in request.query:
        if name not in _FILTERS[collection] and name not in TAG_PARAMS and name not in PAGING_PARAMS:
            raise octavia_fault(400, "One or more arguments are either duplicate or invalid.")
    return list_response(request, key=collection, records=records, custom=_RELATION_FILTERS, link_path=link_path)


def validation(detail: str) -> Fault:
    return octavia_fault(400, f"Validation failure: {detail}")


def not_found(label: str, record_id: str) -> Fault:
    return octavia_fault(404, f"{label} {record_id} not found.")


def forbidden() -> Fault:
    return octavia_fault(403, "Policy does not allow this request to be performed.")


def listeners_of_pool(state: State, pool_id: str) -> list[str]:
    return [item["id"] for item in state.listeners.values() if item.get("default_pool_id") == pool_id]


def render(state: State, collection: str, record: Record) -> Record:
    """The record as the API shows it: internal ``_`` keys dropped, relations as ``[{"id": ...}]``."""
    out = {k: v for k, v in record.items() if not k.startswith("_")}
    if collection == "loadbalancers":
        out["listeners"] = [{"id": i["id"]} for i in state.listeners.values() if i["_lb"] == record["id"]]
        out["pools"] = [{"id": p["id"]} for p in state.pools.values() if p["_lb"] == record["id"]]
    elif collection == "listeners":
        out["loadbalancers"] = [{"id": record["_lb"]}]
        out["l7policies"] = []
        out["allowed_cidrs"] = record["allowed_cidrs"] or None
    elif collection == "pools":
        out["loadbalancers"] = [{"id": record["_lb"]}]
        out["listeners"] = [{"id": i} for i in listeners_of_pool(state, record["id"])]
        out["members"] = [{"id": m["id"]} for m in state.members.values() if m["_pool"] == record["id"]]
        out["healthmonitor_id"] = record["_hm"]
    elif collection == "healthmonitors":
        out["pools"] = [{"id": record["_pool"]}]
    return out


def get_record(state: State, request: Request, collection: str, record_id: str) -> Record:
    """The record, or 404 when there is none, or 403 when it belongs to another project (Octavia's RBAC)."""
    record = state.collection(collection).get(record_id)
    if record is None:
        raise not_found(LABEL[collection], record_id)
    if record["project_id"] != request.project_id:
        raise forbidden()
    return record


def check_quota(state: State, request: Request, collection: str, adding: int = 1) -> None:
    if adding > 0 and state.over_quota(request.project_id, collection, adding):
        raise octavia_fault(403, f"Quota has been met for resources: {LABEL[collection]}")


def require_mutable(state: State, lb_id: str, *, deleting_lb: bool = False) -> Record:
    """409 unless the LB can take a write now: ACTIVE, or ERROR when the write deletes the LB itself."""
    lb = state.loadbalancers[lb_id]
    allowed = (ACTIVE, ERROR) if deleting_lb else (ACTIVE,)
    if lb["provisioning_status"] not in allowed:
        raise octavia_fault(409, f"Load Balancer {lb_id} is immutable and cannot be updated.")
    return lb


def new_record(request: Request, fields: Record, **internal: Any) -> Record:
    """A fresh record owned by the caller's project, PENDING_CREATE and OFFLINE until its operation completes."""
    stamp = now_iso()
    record: Record = {
        **{k: v for k, v in fields.items() if k != "project_id"},
        "project_id": request.project_id,
        "provisioning_status": "PENDING_CREATE",
        "operating_status": "OFFLINE",
        "created_at": stamp,
        "updated_at": None,
    }
    record.update(internal)
    return record


_CLEARED: dict[str, Callable[[], Any]] = {"name": str, "description": str, "tags": list, "allowed_cidrs": list}


def touch_updated(record: Record, changes: Record) -> None:
    """Apply a PUT. A null clears a field: to "" or [] where the API shows that, and not at all for a boolean."""
    for key, value in changes.items():
        if value is None and isinstance(record.get(key), bool):
            continue
        record[key] = value if value is not None else _CLEARED[key]() if key in _CLEARED else None
    record["updated_at"] = now_iso()
