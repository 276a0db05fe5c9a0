"""A discovery-only API server for ``kubectl --dry-run=client``: kubectl maps each manifest's kind to a resource
through discovery before it does anything else, even offline. It serves the built-in kinds the deploy manifests
use, answers nothing else, and accepts no writes."""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["discovery_server"]

# group -> (version, [(plural, kind, namespaced)])
GROUPS: dict[str, tuple[str, list[tuple[str, str, bool]]]] = {
    "": (
        "v1",
        [
            ("namespaces", "Namespace", False),
            ("serviceaccounts", "ServiceAccount", True),
            ("secrets", "Secret", True),
        ],
    ),
    "apps": ("v1", [("deployments", "Deployment", True)]),
    "policy": ("v1", [("poddisruptionbudgets", "PodDisruptionBudget", True)]),
    "rbac.authorization.k8s.io": (
        "v1",
        [
            ("clusterroles", "ClusterRole", False),
            ("clusterrolebindings", "ClusterRoleBinding", False),
            ("roles", "Role", True),
            ("rolebindings", "RoleBinding", True),
        ],
    ),
}


def _resources(group_version: str, items: list[tuple[str, str, bool]]) -> dict[str, Any]:
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": [
            {"name": plural, "singularName": "", "namespaced": namespaced, "kind": kind, "verbs": ["create", "get"]}
            for plural, kind, namespaced in items
        ],
    }


def _document(path: str) -> dict[str, Any] | None:
    if path == "/api":
        return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
    if path == "/api/v1":
        return _resources("v1", GROUPS[""][1])
    if path == "/apis":
        groups = []
        for name, (version, _) in GROUPS.items():
            if name:
                entry = {"groupVersion": f"{name}/{version}", "version": version}
                groups.append({"name": name, "versions": [entry], "preferredVersion": entry})
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
    parts = path.strip("/").split("/")
    if len(parts) == 3 and parts[0] == "apis" and parts[1] in GROUPS and GROUPS[parts[1]][0] == parts[2]:
        return _resources(f"{parts[1]}/{parts[2]}", GROUPS[parts[1]][1])
    return None


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        doc = _document(self.path.split("?", 1)[0])
        body = json.dumps(doc if doc is not None else {"kind": "Status", "status": "Failure", "code": 404}).encode()
        self.send_response(200 if doc is not None else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # skips HTTPServer's getfqdn: a DNS lookup, slow offline


@contextmanager
def discovery_server() -> Iterator[str]:
    """Its URL, on loopback, for the duration of the block."""
    server = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
