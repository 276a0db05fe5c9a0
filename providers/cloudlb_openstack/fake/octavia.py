"""The fake Octavia v2: version discovery at the endpoint root and the ``/lbaas`` API under both ``/v2`` and
``/v2.0``, routed to the handler modules.

Where this sits: ``server.py`` routes ``/load-balancer/...`` here. Discovery is anonymous, as in Octavia; everything
under ``/lbaas`` needs a project-scoped token (``keystone.authenticate``). Lists show the caller's project only and
take exact filters on any field, the tag filters, ``fields`` and ``limit``/``marker``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from cloudlb_openstack.fake import octavia_lb as lbs
from cloudlb_openstack.fake import octavia_listeners as listeners
from cloudlb_openstack.fake import octavia_members as members
from cloudlb_openstack.fake.common import Request, Response
from cloudlb_openstack.fake.keystone import LOAD_BALANCER_PREFIX, authenticate
from cloudlb_openstack.fake.octavia_base import get_record, list_records, render
from cloudlb_openstack.fake.schema import octavia_fault
from cloudlb_openstack.fake.state import State

__all__ = ["handle"]

Handler = Callable[..., Response]
_ID = r"([^/]+)"
_SINGULAR = {
    "loadbalancers": "loadbalancer",
    "listeners": "listener",
    "pools": "pool",
    "healthmonitors": "healthmonitor",
}
# (method, path regex below /lbaas, handler taking (state, request, *groups))
ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    ("POST", re.compile(r"^/loadbalancers$"), lbs.create_lb),
    ("PUT", re.compile(rf"^/loadbalancers/{_ID}$"), lbs.update_lb),
    ("DELETE", re.compile(rf"^/loadbalancers/{_ID}$"), lbs.delete_lb),
    ("GET", re.compile(rf"^/loadbalancers/{_ID}/status$"), lbs.lb_status_tree),
    ("POST", re.compile(r"^/listeners$"), listeners.create_listener),
    ("PUT", re.compile(rf"^/listeners/{_ID}$"), listeners.update_listener),
    ("DELETE", re.compile(rf"^/listeners/{_ID}$"), listeners.delete_listener),
    ("POST", re.compile(r"^/pools$"), listeners.create_pool),
    ("PUT", re.compile(rf"^/pools/{_ID}$"), listeners.update_pool),
    ("DELETE", re.compile(rf"^/pools/{_ID}$"), listeners.delete_pool),
    ("GET", re.compile(rf"^/pools/{_ID}/members$"), members.list_members),
    ("POST", re.compile(rf"^/pools/{_ID}/members$"), members.create_member),
    ("PUT", re.compile(rf"^/pools/{_ID}/members$"), members.batch_update_members),
    ("GET", re.compile(rf"^/pools/{_ID}/members/{_ID}$"), lambda s, r, p, m: _show_member(s, r, p, m)),
    ("PUT", re.compile(rf"^/pools/{_ID}/members/{_ID}$"), members.update_member),
    ("DELETE", re.compile(rf"^/pools/{_ID}/members/{_ID}$"), members.delete_member),
    ("POST", re.compile(r"^/healthmonitors$"), members.create_healthmonitor),
    ("PUT", re.compile(rf"^/healthmonitors/{_ID}$"), members.update_healthmonitor),
    ("DELETE", re.compile(rf"^/healthmonitors/{_ID}$"), members.delete_healthmonitor),
    ("GET", re.compile(r"^/quotas$"), lambda s, r: lbs.get_quota(s, r, None)),
    ("GET", re.compile(rf"^/quotas/{_ID}$"), lbs.get_quota),
    ("GET", re.compile(r"^/(providers|flavors|availabilityzones)$"), lbs.list_catalogue),
]


def _versions(request: Request) -> Response:
    """Octavia's root document: every v2.x microversion, all served at ``/v2``."""
    href = f"{request.base_url}{LOAD_BALANCER_PREFIX}/v2"
    versions: list[dict[str, Any]] = [
        {
            "id": f"v2.{minor}",
            "status": "SUPPORTED",
            "updated": "2016-12-11T00:00:00Z",
            "links": [{"href": href, "rel": "self"}],
        }
        for minor in range(27)
    ]
    versions[-1]["status"] = "CURRENT"
    return Response(200, {"versions": versions})


def _show_member(state: State, request: Request, pool_id: str, member_id: str) -> Response:
    get_record(state, request, "pools", pool_id)
    member = get_record(state, request, "members", member_id)
    if member["_pool"] != pool_id:
        raise octavia_fault(404, f"Member {member_id} not found.")
    return Response(200, {"member": render(state, "members", member)})


def _generic_read(state: State, request: Request, rest: str) -> Response | None:
    """GET of a top-level collection or one of its records."""
    parts = rest.strip("/").split("/")
    if parts[0] not in _SINGULAR or len(parts) > 2:
        return None
    collection = parts[0]
    if len(parts) == 2:
        record = get_record(state, request, collection, parts[1])
        return Response(200, {_SINGULAR[collection]: render(state, collection, record)})
    records = [
        render(state, collection, r)
        for r in state.collection(collection).values()
        if r["project_id"] == request.project_id
    ]
    return list_records(request, collection, records, link_path=f"{LOAD_BALANCER_PREFIX}/v2/lbaas/{collection}")


def handle(state: State, request: Request) -> Response:
    path = request.path.rstrip("/")
    if path in ("", "/v2", "/v2.0") and request.method == "GET":
        return _versions(request)
    match = re.match(r"^/v2(?:\.0)?/lbaas(/.*)?$", path)
    if match is None:
        raise octavia_fault(404, "The resource could not be found.")
    authenticate(state, request)
    rest = match.group(1) or ""
    allowed = False
    for method, pattern, handler in ROUTES:
        found = pattern.match(rest)
        if found is None:
            continue
        allowed = True
        if method == request.method:
            return handler(state, request, *found.groups())
    if request.method == "GET":
        answer = _generic_read(state, request, rest)
        if answer is not None:
            return answer
    if allowed or rest.strip("/").split("/")[0] in _SINGULAR:
        raise octavia_fault(405, "The method is not allowed for the requested URL.")
    raise octavia_fault(404, "The resource could not be found.")
