"""``FakeOpenStack``: Keystone, Octavia and Neutron served over real HTTP on loopback, in a background thread.

Where this sits: the entry to the fake. Tests and ``cloudlb mock-server openstack`` (``cloudlb_openstack.mock``)
start one; clients reach it through openstacksdk exactly as they would a cloud, at ``.url`` (the Keystone auth URL).
One port serves all three services: Keystone at the root (as on its own port 5000), Octavia under
``/load-balancer`` and Neutron under ``/networking`` (devstack's prefixes). So the auth URL is the bare endpoint and
the fault-injecting proxy fronts the whole cloud when it takes ``.url`` as its upstream.

    with FakeOpenStack(provisioning_delay=0.05) as cloud:
        conn = openstack.connection.Connection(**cloud.connection_options())
        ...
        assert cloud.count("PUT", "/members") == 1
        cloud.state.force_error(lb_id)

Catalog and discovery URLs come from the request's ``Host`` (or ``X-Forwarded-Host``/``-Proto``) unless
``public_url`` is set, so a client that came through a proxy keeps using the proxy.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import traceback
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit

from cloudlb_openstack.fake import keystone, neutron, octavia
from cloudlb_openstack.fake.common import Fault, Request, Response, new_id
from cloudlb_openstack.fake.neutron_base import neutron_fault
from cloudlb_openstack.fake.schema import octavia_fault
from cloudlb_openstack.fake.state import State

__all__ = ["FakeOpenStack", "RequestRecord"]


class RequestRecord(NamedTuple):
    method: str
    path: str  # the full path, without the query string
    status: int


# Octavia and Neutron under their prefixes; Keystone takes everything else (it serves the root).
_SERVICES = (
    (keystone.LOAD_BALANCER_PREFIX, octavia.handle),
    (keystone.NETWORK_PREFIX, neutron.handle),
    (keystone.IDENTITY_PREFIX, keystone.handle),
)


# Each service's own answer to a body that is not JSON.
_MALFORMED = {
    keystone.LOAD_BALANCER_PREFIX: octavia_fault(400, "The request body is not valid JSON."),
    keystone.NETWORK_PREFIX: neutron_fault(400, "HTTPBadRequest", "Malformed request body"),
    keystone.IDENTITY_PREFIX: Fault(
        400, {"error": {"code": 400, "message": "Malformed request body", "title": "Bad Request"}}
    ),
}


class FakeOpenStack:
    """A fake OpenStack cloud. ``start()``/``stop()`` or use it as a context manager."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        provisioning_delay: float = 0.05,
        quotas: Mapping[str, int] | None = None,
        project: str = "demo",
        user: str = "demo",
        password: str = "secret",
        public_url: str | None = None,
    ) -> None:
        self.host, self._port = host, port
        self.username, self.password, self.project_name = user, password, project
        self.public_url = public_url
        self._state = State(
            provisioning_delay=provisioning_delay, project=project, user=user, password=password, quotas=quotas
        )
        neutron.seed(self._state)
        # One flavor and one availability zone exist, so the provider's flavor-id and availability-zone options
        # have something real to name.
        flavor_id = new_id()
        self._state.flavors[flavor_id] = {
            "id": flavor_id,
            "name": "amphora-single",
            "description": "",
            "enabled": True,
            "flavor_profile_id": new_id(),
        }
        self._state.availability_zones["az1"] = {
            "name": "az1",
            "description": "",
            "enabled": True,
            "availability_zone_profile_id": new_id(),
        }
        self.requests: list[RequestRecord] = []
        self.server_errors: list[str] = []  # tracebacks of requests the fake itself failed on
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()  # open client connections, closed by stop()

    # lifecycle ------------------------------------------------------------------------------------------------

    def start(self) -> FakeOpenStack:
        if self._server is not None:
            raise RuntimeError("the fake OpenStack is already running")
        server = ThreadingHTTPServer((self.host, self._port), _handler_class(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-openstack", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        # Idle keep-alive connections would otherwise go on being served after the cloud "went away".
        with self._state.lock:
            connections, self._connections = set(self._connections), set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeOpenStack:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    # what clients and tests use -------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the fake OpenStack is not running")
        return int(self._server.server_address[1])

    @property
    def endpoint(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:PORT``; a proxy in front takes this as its upstream."""
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The Keystone auth URL: the bare endpoint, unversioned (clients discover v3 there)."""
        return self.endpoint

    @property
    def state(self) -> State:
        """The cloud's data, with every due provisioning operation completed first."""
        self._state.settle()
        return self._state

    @property
    def external_network_id(self) -> str:
        return str(next(n["id"] for n in self._state.networks.values() if n["router:external"]))

    @property
    def subnet_id(self) -> str:
        """The user's private subnet: the VIP and member subnet."""
        return str(next(s["id"] for s in self._state.subnets.values() if s["name"] == "private-subnet"))

    def connection_options(self, auth_url: str | None = None) -> dict[str, Any]:
        """Keyword arguments for ``openstack.connection.Connection`` (and the provider's auth options)."""
        return {
            "auth_url": auth_url or self.url,
            "username": self.username,
            "password": self.password,
            "project_name": self.project_name,
            "user_domain_name": "Default",
            "project_domain_name": "Default",
            "region_name": keystone.REGION,
        }

    def count(self, method: str | None = None, path: str | None = None, status: int | None = None) -> int:
        """How many logged requests match: ``method`` exactly, ``path`` as a regex searched in the path."""
        with self._state.lock:
            records = list(self.requests)
        return sum(
            1
            for r in records
            if (method is None or r.method == method)
            and (path is None or re.search(path, r.path))
            and (status is None or r.status == status)
        )

    def clear_requests(self) -> None:
        with self._state.lock:
            self.requests.clear()

    # serving --------------------------------------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, headers: Mapping[str, str], raw_body: bytes) -> Response:
        split = urlsplit(raw_path)
        path = unquote(split.path)
        with self._state.lock:
            self._state.settle()
            response = self._dispatch(method, path, split.query, headers, raw_body)
            self.requests.append(RequestRecord(method, path, response.status))
        return response

    def _dispatch(self, method: str, path: str, query: str, headers: Mapping[str, str], raw_body: bytes) -> Response:
        found = [(p, s) for p, s in _SERVICES if path == p or path.startswith(p + "/")]  # "" matches any path
        if not found:
            return Response(404, {"message": f"no service at {path}"})
        prefix, service = found[0]
        body: Any = None
        if raw_body:
            try:
                body = json.loads(raw_body)
            except ValueError:
                return Response(400, _MALFORMED[prefix].body)
        request = Request(
            method=method,
            path=path[len(prefix) :],
            query=parse_qs(query, keep_blank_values=True),
            headers=headers,
            body=body,
            base_url=self._base_url(headers),
        )
        try:
            return service(self._state, request)
        except Fault as fault:
            return Response(fault.status, fault.body, fault.headers)
        except Exception:  # a bug in the fake: answer 500 as a service would, and keep it for the tests to see
            self.server_errors.append(traceback.format_exc())
            return Response(500, octavia_fault(500, "Internal Server Error").body)

    def _base_url(self, headers: Mapping[str, str]) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = headers.get("X-Forwarded-Host") or headers.get("Host") or f"{self.host}:{self.port}"
        scheme = headers.get("X-Forwarded-Proto") or "http"
        return f"{scheme}://{host.split(',')[0].strip()}"


def _handler_class(cloud: FakeOpenStack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "FakeOpenStack/1.0"
        # Headers and body leave in one write, with Nagle off: otherwise each answer waits out a delayed ACK.
        disable_nagle_algorithm = True
        wbufsize = 64 * 1024

        def setup(self) -> None:
            super().setup()
            with cloud._state.lock:
                cloud._connections.add(self.connection)

        def finish(self) -> None:
            with cloud._state.lock:
                cloud._connections.discard(self.connection)
            super().finish()

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw_body = self.rfile.read(length) if length else b""
            headers = {key: value for key, value in self.headers.items()}
            response = cloud.handle(self.command, self.path, _Headers(headers), raw_body)
            payload = b"" if response.body is None else json.dumps(response.body).encode()
            self.send_response(response.status)
            for key, value in response.headers.items():
                self.send_header(key, value)
            if response.body is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


class _Headers(dict[str, str]):
    """Case-insensitive lookups, as HTTP headers are."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        super().__init__({k.lower(): v for k, v in headers.items()})

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())
