"""The fake Keystone v3: version discovery, password (and token) authentication scoped to a project, a token with
the service catalog, and the token check every other service runs first.

Where this sits: ``server.py`` routes every path outside Octavia's and Neutron's prefixes here (Keystone serves
the root), and the Octavia and Neutron handlers call ``authenticate`` first. Catalog and discovery URLs are built
from the URL the client used (``Request.base_url``), so a client that reaches the fake through the fault-injecting
proxy keeps going through it.
"""

from __future__ import annotations

import datetime
import secrets
from typing import Any

from cloudlb_openstack.fake.common import Fault, Request, Response
from cloudlb_openstack.fake.state import Project, State, Token, User

__all__ = [
    "IDENTITY_PREFIX",
    "LOAD_BALANCER_PREFIX",
    "NETWORK_PREFIX",
    "REGION",
    "authenticate",
    "handle",
    "keystone_fault",
]

IDENTITY_PREFIX = ""  # Keystone answers at the root, so the auth URL is the bare endpoint
LOAD_BALANCER_PREFIX = "/load-balancer"
NETWORK_PREFIX = "/networking"
REGION = "RegionOne"

_ROLES = [{"id": "9fe2ff9ee4384b1894a90878d3e92bab", "name": "member"}, {"id": "reader", "name": "reader"}]


def keystone_fault(status: int, message: str, headers: dict[str, str] | None = None) -> Fault:
    title = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed"}[status]
    return Fault(status, {"error": {"code": status, "message": message, "title": title}}, headers)


def _version(base_url: str) -> dict[str, Any]:
    return {
        "id": "v3.14",
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": f"{base_url}{IDENTITY_PREFIX}/v3/"}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}],
    }


def _iso(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def catalog(base_url: str) -> list[dict[str, Any]]:
    services = [
        ("identity", "keystone", IDENTITY_PREFIX),
        ("load-balancer", "octavia", LOAD_BALANCER_PREFIX),
        ("network", "neutron", NETWORK_PREFIX),
    ]
    return [
        {
            "id": f"{name}-service",
            "type": service_type,
            "name": name,
            "endpoints": [
                {
                    "id": f"{name}-{interface}",
                    "interface": interface,
                    "region": REGION,
                    "region_id": REGION,
                    "url": base_url + prefix,
                }
                for interface in ("public", "internal", "admin")
            ],
        }
        for service_type, name, prefix in services
    ]


def _token_body(state: State, token: Token, base_url: str) -> dict[str, Any]:
    user = state.users[token.user_id]
    body: dict[str, Any] = {
        "methods": token.methods,
        "user": {"id": user.id, "name": user.name, "domain": dict(state.domain), "password_expires_at": None},
        "audit_ids": [secrets.token_urlsafe(16)],
        "issued_at": _iso(token.issued_at),
        "expires_at": _iso(token.expires_at),
    }
    if token.project_id is not None:
        project = state.projects[token.project_id]
        body.update(
            project={"id": project.id, "name": project.name, "domain": dict(state.domain)},
            is_domain=False,
            roles=_ROLES,
            catalog=catalog(base_url),
        )
    return {"token": body}


def _domain_matches(state: State, ref: object) -> bool:
    if not isinstance(ref, dict):
        return False
    return ref.get("id") == state.domain["id"] or ref.get("name") == state.domain["name"]


def _find_user(state: State, ref: dict[str, Any]) -> User | None:
    if "id" in ref:
        return state.users.get(str(ref["id"]))
    if not _domain_matches(state, ref.get("domain")):
        return None
    return next((u for u in state.users.values() if u.name == ref.get("name")), None)


def _find_project(state: State, ref: dict[str, Any]) -> Project | None:
    if "id" in ref:
        return state.projects.get(str(ref["id"]))
    if not _domain_matches(state, ref.get("domain")):
        return None
    return state.project_named(str(ref.get("name")))


def _issue(state: State, request: Request) -> Response:
    auth = request.body.get("auth") if isinstance(request.body, dict) else None
    if not isinstance(auth, dict) or not isinstance(auth.get("identity"), dict):
        raise keystone_fault(400, "Invalid input for field 'identity': 'identity' is a required property")
    identity = auth["identity"]
    methods = identity.get("methods") or []
    user: User | None = None
    if "password" in methods:
        user_ref = (identity.get("password") or {}).get("user") or {}
        user = _find_user(state, user_ref)
        if user is None or user_ref.get("password") != user.password:
            raise keystone_fault(401, "The request you have made requires authentication.")
    elif "token" in methods:
        old = state.tokens.get(str((identity.get("token") or {}).get("id")))
        if old is None or old.expires_at < _wall():
            raise keystone_fault(401, "The request you have made requires authentication.")
        user = state.users[old.user_id]
    else:
        raise keystone_fault(401, "The request you have made requires authentication.")
    project_id: str | None = None
    scope = auth.get("scope")
    if scope is not None:
        project_ref = scope.get("project") if isinstance(scope, dict) else None
        project = _find_project(state, project_ref) if isinstance(project_ref, dict) else None
        if project is None or project.id not in user.project_ids:
            raise keystone_fault(401, "The request you have made requires authentication.")
        project_id = project.id
    now = _wall()
    token = Token(secrets.token_urlsafe(32), user.id, project_id, list(methods), now, now + state.token_lifetime)
    state.tokens[token.id] = token
    return Response(201, _token_body(state, token, request.base_url), {"X-Subject-Token": token.id})


def _wall() -> float:
    return datetime.datetime.now(datetime.UTC).timestamp()


def _valid_token(state: State, token_id: str | None) -> Token | None:
    token = state.tokens.get(token_id or "")
    if token is None or token.expires_at < _wall():
        return None
    return token


def authenticate(state: State, request: Request) -> None:
    """keystonemiddleware's job: a valid, project-scoped ``X-Auth-Token`` or 401."""
    token = _valid_token(state, request.headers.get("X-Auth-Token"))
    if token is None or token.project_id is None:
        raise keystone_fault(
            401,
            "The request you have made requires authentication.",
            {"WWW-Authenticate": f'Keystone uri="{request.base_url}{IDENTITY_PREFIX}"'},
        )
    request.project_id = token.project_id
    request.user_id = token.user_id


def handle(state: State, request: Request) -> Response:
    path = request.path.rstrip("/")
    if path == "" and request.method == "GET":
        return Response(300, {"versions": {"values": [_version(request.base_url)]}})
    if path == "/v3" and request.method == "GET":
        return Response(200, {"version": _version(request.base_url)})
    if path == "/v3/auth/tokens":
        if request.method == "POST":
            return _issue(state, request)
        if _valid_token(state, request.headers.get("X-Auth-Token")) is None:
            raise keystone_fault(401, "The request you have made requires authentication.")
        subject = _valid_token(state, request.headers.get("X-Subject-Token"))
        if subject is None:
            raise keystone_fault(404, "Could not find token.")
        if request.method in ("GET", "HEAD"):
            return Response(200, _token_body(state, subject, request.base_url), {"X-Subject-Token": subject.id})
        if request.method == "DELETE":
            del state.tokens[subject.id]
            return Response(204)
        raise keystone_fault(405, "The method is not allowed for the requested URL.")
    raise keystone_fault(404, "The resource could not be found.")
