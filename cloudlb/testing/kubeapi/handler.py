"""HTTP for the fake API server: routing Kubernetes REST paths, the bearer token, faults, the request log.

Where this sits: ``server.py`` runs ``KubeHTTPServer`` (stdlib, one thread per connection, HTTP/1.1 keep-alive as
the official client's urllib3 pool expects) in a background thread. Each request is routed here to a
``ResourceType`` and a Kubernetes verb, checked against the armed faults, served by ``registry.py`` (or streamed
by ``watch.py`` as chunked JSON lines) and logged. Only JSON is spoken; the client asks for it first.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import select
import socket
import socketserver
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

from cloudlb.testing.kubeapi.errors import KubeError
from cloudlb.testing.kubeapi.faults import Faults, RequestLog, RequestRecord
from cloudlb.testing.kubeapi.registry import Registry
from cloudlb.testing.kubeapi.resources import ResourceType, discovery, find_route
from cloudlb.testing.kubeapi.watch import watch_events

__all__ = ["KubeHTTPServer", "Route", "ServerContext", "parse_route"]

log = logging.getLogger(__name__)

VERSION = {
    "major": "1",
    "minor": "31",
    "gitVersion": "v1.31.0-cloudlb-fake",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2024-08-13T00:00:00Z",
    "goVersion": "go1.22.5",
    "compiler": "gc",
    "platform": "linux/amd64",
}


class Route(NamedTuple):
    rt: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None
    watch_prefix: bool  # the deprecated /watch/ path form


@dataclass
class ServerContext:
    registry: Registry
    faults: Faults
    log: RequestLog
    token: str
    bookmark_interval: float
    max_watch_seconds: float
    address: str = ""


def parse_route(segments: list[str]) -> Route | None:
    """The resource a REST path names, or None when the fake serves nothing there."""
    if segments[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", segments[2:]
    elif len(segments) >= 3 and segments[0] == "apis":
        group, version, rest = segments[1], segments[2], segments[3:]
    else:
        return None
    watch_prefix = rest[:1] == ["watch"]
    if watch_prefix:
        rest = rest[1:]
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    if not 1 <= len(rest) <= 3:
        return None
    rt = find_route(group, version, rest[0])
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else None
    if rt is None or (namespace is not None and not rt.namespaced) or (rt.namespaced and name and namespace is None):
        return None
    if subresource is not None and (subresource != "status" or not rt.status_subresource):
        return None
    return Route(rt, namespace, name, subresource, watch_prefix)


def verb_of(method: str, route: Route, query: dict[str, str]) -> str | None:
    named, collection_ok = route.name is not None, route.namespace is not None or not route.rt.namespaced
    if route.watch_prefix:
        return "watch" if method == "GET" and not named else None
    match method:
        case "GET" if named:
            return "get"
        case "GET":
            return "watch" if query.get("watch") in ("true", "1") else "list"
        case "POST" if not named and route.subresource is None and collection_ok:
            return "create"
        case "PUT" if named:
            return "update"
        case "PATCH" if named:
            return "patch"
        case "DELETE" if named and route.subresource is None:
            return "delete"
        case "DELETE" if collection_ok:
            return "deletecollection"
    return None


class KubeHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # informers, leader election and a test's own calls arrive together

    def __init__(self, address: tuple[str, int], context: ServerContext) -> None:
        self.context = context
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host up with getfqdn: a DNS query, slow or impossible offline.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Unblock every connection thread (idle keep-alives wait in a read) so stopping does not hang."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes; Nagle would hold the second back
    server: KubeHTTPServer
    _record: RequestRecord | None = None  # this request's log entry until it is written

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    # -- plumbing

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = bytearray()
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                body += self.rfile.read(size)
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return bytes(body)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _log(self, status: int) -> None:
        """Log this request once, before its answer is sent, so a client that has its answer sees it logged."""
        if self._record is not None:
            self.server.context.log.append(self._record._replace(status=status))
            self._record = None

    def _send(self, code: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self._log(code)
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _send_json(self, code: int, doc: Any, headers: dict[str, str] | None = None) -> None:
        self._send(code, json.dumps(doc, separators=(",", ":")).encode(), "application/json", headers)

    def _client_gone(self) -> bool:
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _authorized(self) -> bool:
        given = self.headers.get("Authorization", "").encode()
        return hmac.compare_digest(given, f"Bearer {self.server.context.token}".encode())

    # -- the request

    def _serve(self, method: str) -> None:
        split = urlsplit(self.path)
        path = split.path
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        segments = [s for s in path.split("/") if s]
        route = parse_route(segments)
        # Named before authentication, so even a refused request is logged under its Kubernetes verb.
        verb = (verb_of(method, route, query) if route else None) or method.lower()
        status = 500
        self._record = RequestRecord(verb, path, 500)
        try:
            status = self._answer(method, path, segments, route, verb, query, self._read_body())
        except KubeError as exc:
            status = exc.code
            self._send_json(exc.code, exc.status())
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception:
            log.exception("fake API server failed on %s %s", method, self.path)
            status = 500
            self._send_json(500, KubeError(500, "InternalError", "internal error in the fake API server").status())
        finally:
            self._log(status)

    def _answer(
        self,
        method: str,
        path: str,
        segments: list[str],
        route: Route | None,
        verb: str,
        query: dict[str, str],
        body: bytes,
    ) -> int:
        """Serve one request; the HTTP status sent."""
        ctx = self.server.context
        # Health and version need no token, as the real server grants them to everyone (system:public-info-viewer).
        path = path.rstrip("/") or "/"
        if path in ("/healthz", "/livez", "/readyz"):
            self._send(200, b"ok", "text/plain; charset=utf-8")
            return 200
        if path == "/version":
            self._send_json(200, VERSION)
            return 200
        if not self._authorized():
            raise KubeError(401, "Unauthorized", "Unauthorized")
        doc = discovery(segments, ctx.address) if method == "GET" else None
        if doc is not None:
            self._send_json(200, doc)
            return 200
        if route is None:
            raise KubeError.no_route()
        if verb_of(method, route, query) is None:
            raise KubeError.method_not_allowed()
        fault = ctx.faults.take(verb, path)
        if fault is None:
            return self._dispatch(verb, route, query, body)
        injected = KubeError.injected(fault.status, fault.message)
        if verb == "watch" and fault.status == 410:
            # The real server reports an expired watch as an ERROR event inside a 200 stream.
            self._stream(iter([{"type": "ERROR", "object": injected.status()}]))
            return 200
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
        self._send_json(injected.code, injected.status(), headers)
        return injected.code

    def _dispatch(self, verb: str, route: Route, query: dict[str, str], body: bytes) -> int:
        registry, rt, ns, name = self.server.context.registry, route.rt, route.namespace, route.name
        if verb == "watch":
            ctx = self.server.context
            events = watch_events(
                registry.store,
                rt,
                ns,
                query,
                bookmark_interval=ctx.bookmark_interval,
                max_seconds=ctx.max_watch_seconds,
                client_gone=self._client_gone,
            )
            self._stream(events)
            return 200
        if query.get("dryRun"):
            raise KubeError.bad_request("dryRun is not served by the fake API server")
        result: dict[str, Any]
        code = 200
        if verb == "list":
            result = registry.list(rt, ns, query)
        elif verb == "deletecollection":
            result = registry.delete_collection(rt, ns, query)
        elif verb == "create":
            result, code = registry.create(rt, ns, _decode(body)), 201
        elif name is None:
            raise KubeError.method_not_allowed()
        elif verb == "get":
            result = registry.get(rt, ns, name)
        elif verb == "update":
            result = registry.update(rt, ns, name, _decode(body), subresource=route.subresource)
        elif verb == "patch":
            content_type = self.headers.get("Content-Type", "")
            result = registry.patch(rt, ns, name, content_type, body, subresource=route.subresource)
        else:
            result = registry.delete(rt, ns, name, _decode(body) if body.strip() else None)
        self._send_json(code, result)
        return code

    def _stream(self, events: Any) -> None:
        """Send ``events`` as chunked JSON lines; the client's hanging up simply ends the watch."""
        # Logged when the stream opens, not when it ends, so a test can count the watches that are running.
        self._log(200)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for event in events:
                line = json.dumps(event, separators=(",", ":")).encode() + b"\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            self.close_connection = True
        except Exception:
            # Headers are out, so no Status can follow; dropping the connection tells the client the watch broke.
            log.exception("fake API server failed streaming %s", self.path)
            self.close_connection = True


def _decode(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except ValueError as exc:
        raise KubeError.bad_request(f"the body of the request could not be decoded as JSON: {exc}") from exc
