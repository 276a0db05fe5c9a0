"""``FakeArm``: the fake Azure Resource Manager as a real HTTPS server on loopback.

Where this sits: the Azure provider's tests, the conformance harness and ``cloudlb mock-server azure`` start one;
``azure-mgmt-network`` talks to it unchanged, bearer-token policy and all, trusting the CA this server generates
(``trustme``, in the ``mock`` extra). ARM semantics live in ``cloudlb_azure.fake.api``; this module is transport:
TLS, the request log, and injected write failures for crash tests.

    with FakeArm(lro_delay=0.05) as fake:
        fake.state.create_group("rg")
        client = NetworkManagementClient(FakeArmCredential(), fake.subscription_id, base_url=fake.url,
                                         connection_verify=fake.ca_path)

Behind a proxy (``cloudlb.testing.FaultProxy``), operation URLs must lead back through the proxy. They follow
``X-Forwarded-Proto``/``X-Forwarded-Host`` when a proxy sends them; otherwise, when the Host header is not this
server's own address, they are given as paths, which azure-core resolves against the client's endpoint. For fault
tests the fake can also serve plain HTTP (``tls=False``), since FaultProxy speaks plain HTTP to its clients.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import ssl
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from cloudlb_azure.fake.api import ArmApi, Request
from cloudlb_azure.fake.state import ArmState, Limits

__all__ = ["DEFAULT_SUBSCRIPTION", "FakeArm", "RequestRecord"]

DEFAULT_SUBSCRIPTION = "00000000-0000-0000-0000-00000000c10b"
_WRITES = frozenset({"PUT", "PATCH", "DELETE", "POST"})


@dataclass(frozen=True)
class RequestRecord:
    """One request as the fake answered it. ``body`` is the parsed JSON request body, or None."""

    method: str
    path: str
    status: int
    if_match: str | None
    if_none_match: str | None
    body: Any = None

    @property
    def is_write(self) -> bool:
        return self.method in _WRITES


@dataclass
class _WriteFault:
    nth: int
    after: bool
    status: int
    code: str


class FakeArm:
    """A fake ARM endpoint for one subscription, on ``host`` (loopback) and ``port`` (0: a free one).

    ``lro_delay`` is how long each write stays ``Updating`` (and its async operation ``InProgress``);
    ``poll_interval`` is the poll hint sent with it (default: ``lro_delay``, at least 1 ms); ``token``, when set, is
    the only bearer token accepted (default: any). ``limits`` lowers Azure's per-resource limits for tests.
    ``ca_dir`` keeps the CA's ``ca.pem`` in that folder (default: a temporary one, removed by ``stop()``).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        subscription_id: str = DEFAULT_SUBSCRIPTION,
        lro_delay: float = 0.05,
        poll_interval: float | None = None,
        tls: bool = True,
        token: str | None = None,
        limits: Limits | None = None,
        clock: Callable[[], float] = time.monotonic,
        ca_dir: Path | None = None,
    ) -> None:
        if not host.startswith("127.") and host not in ("localhost", "::1"):
            raise ValueError(f"the fake ARM serves on loopback only, not {host!r}")
        self.host, self.port, self.tls = host, port, tls
        self.subscription_id = subscription_id
        self.state = ArmState(subscription_id, lro_delay=lro_delay, limits=limits, clock=clock)
        interval = poll_interval if poll_interval is not None else max(lro_delay, 0.001)
        self.api = ArmApi(self.state, poll_interval=interval, token=token)
        self._log: list[RequestRecord] = []
        self._log_lock = threading.Lock()
        self._fault: _WriteFault | None = None
        self._writes_since_fault = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._ca_dir = ca_dir
        self._dir: Path | None = None

    # --- lifecycle --------------------------------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError("the fake ARM is already running")
        context = None
        if self.tls:
            context = self._tls_context()
        self._server = _Server((self.host, self.port), fake=self, ssl_context=context)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="cloudlb-fake-arm", daemon=True
        )
        self._thread.start()
        return self

    def _tls_context(self) -> ssl.SSLContext:
        import trustme  # the `mock` extra; imported only when a TLS fake starts

        ca = trustme.CA(organization_name="cloudlb fake ARM")
        cert = ca.issue_cert(self.host, "localhost", "127.0.0.1")
        if self._ca_dir is not None:
            self._ca_dir.mkdir(parents=True, exist_ok=True)
        self._dir = self._ca_dir or Path(tempfile.mkdtemp(prefix="cloudlb-fake-arm-"))
        ca.cert_pem.write_to_path(str(self._dir / "ca.pem"))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)  # no client certificates, so no CA store to load
        cert.configure_cert(context)
        return context

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.shutdown()
        thread.join()
        server.close_connections()
        server.server_close()
        self._server = self._thread = None
        if self._dir is not None and self._ca_dir is None:
            shutil.rmtree(self._dir, ignore_errors=True)
        self._dir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake ARM is not running")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    @property
    def ca_path(self) -> str:
        """The PEM file of the CA that signed this server's certificate: ``connection_verify`` for the SDK."""
        if self._dir is None:
            raise RuntimeError("the fake ARM has no CA: it is not running, or it serves plain HTTP")
        return str(self._dir / "ca.pem")

    def create(self, kind: str, group: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """Create or replace a resource directly (no HTTP, not logged), Succeeded at once; see ``ArmApi.create``."""
        return self.api.create(kind, group, name, body)

    # --- the request log and injected failures ----------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        with self._log_lock:
            return list(self._log)

    def writes(self) -> list[RequestRecord]:
        """Every PUT, PATCH, DELETE and POST so far, in arrival order (polls are GETs, so not among them)."""
        return [record for record in self.requests if record.is_write]

    def clear_requests(self) -> None:
        with self._log_lock:
            self._log.clear()

    def fail_write(
        self, nth: int = 1, *, after: bool = False, status: int = 500, code: str = "InternalServerError"
    ) -> None:
        """Make the ``nth`` write from now fail once with ARM error ``status``/``code``. ``after``: the write takes
        effect first and only its response is lost. (azure-core retries 5xx by itself; pass a 4xx to make the
        caller see the failure.)"""
        with self._log_lock:
            self._fault = _WriteFault(nth, after, status, code)
            self._writes_since_fault = 0

    def clear_faults(self) -> None:
        with self._log_lock:
            self._fault = None

    def _write_fault(self, method: str) -> _WriteFault | None:
        with self._log_lock:
            if method not in _WRITES or self._fault is None:
                return None
            self._writes_since_fault += 1
            if self._writes_since_fault != self._fault.nth:
                return None
            fault, self._fault = self._fault, None
            return fault

    # --- serving ----------------------------------------------------------------------------------------------

    def _base_url(self, handler: BaseHTTPRequestHandler) -> str:
        proto, fwd_host = handler.headers.get("X-Forwarded-Proto"), handler.headers.get("X-Forwarded-Host")
        host = handler.headers.get("Host") or ""
        if proto or fwd_host:
            return f"{proto or ('https' if self.tls else 'http')}://{fwd_host or host}"
        own = {f"{self.host}:{self.port}", f"localhost:{self.port}", f"[{self.host}]:{self.port}"}
        if host in own:
            return self.url
        return ""  # reached through a proxy that did not say how: operation URLs become paths

    def serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        split = urllib.parse.urlsplit(handler.path)
        request = Request(
            method=handler.command,
            path=split.path,
            query=dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True)),
            header=handler.headers.get,
            body=raw,
            base_url=self._base_url(handler),
        )
        fault = self._write_fault(handler.command)
        body: object
        headers: dict[str, str]
        if fault is not None and not fault.after:
            status, body, headers = fault.status, _injected(fault, "before"), {}
        else:
            status, body, headers = self.api.handle(request)
            if fault is not None:
                status, body, headers = fault.status, _injected(fault, "after"), {}
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        record = RequestRecord(
            handler.command,
            split.path,
            status,
            handler.headers.get("If-Match"),
            handler.headers.get("If-None-Match"),
            parsed,
        )
        with self._log_lock:
            self._log.append(record)
        self._reply(handler, status, body, headers)

    def _reply(self, handler: BaseHTTPRequestHandler, status: int, body: object, headers: dict[str, str]) -> None:
        payload = b"" if body is None else json.dumps(body).encode()
        handler.send_response(status)
        request_id = str(uuid.uuid4())
        handler.send_header("x-ms-request-id", request_id)
        handler.send_header("x-ms-correlation-request-id", handler.headers.get("x-ms-client-request-id") or request_id)
        for name, value in headers.items():
            handler.send_header(name, value)
        if body is not None:
            handler.send_header("Content-Type", "application/json; charset=utf-8")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        if payload and handler.command != "HEAD":
            handler.wfile.write(payload)


def _injected(fault: _WriteFault, when: str) -> dict[str, Any]:
    message = "the fake ARM failed this write on purpose" + (" after applying it" if when == "after" else "")
    return {"error": {"code": fault.code, "message": message}}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 30
    server: _Server

    def _serve(self) -> None:
        self.server.fake.serve(self)

    do_GET = do_PUT = do_PATCH = do_DELETE = do_POST = do_HEAD = _serve

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    """TLS is negotiated in each connection's own thread, so a slow or broken client cannot stall the others."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], *, fake: FakeArm, ssl_context: ssl.SSLContext | None) -> None:
        self.fake = fake
        self.ssl_context = ssl_context
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        connection: socket.socket = request
        if self.ssl_context is not None:
            connection.settimeout(10)
            try:
                connection = self.ssl_context.wrap_socket(connection, server_side=True)
            except (OSError, ssl.SSLError):
                return
        with self._connections_lock:
            self._connections.add(connection)
        try:
            super().finish_request(connection, client_address)
        except OSError:
            pass  # the client went away mid-request
        finally:
            with self._connections_lock:
                self._connections.discard(connection)
            if connection is not request:
                with contextlib.suppress(OSError):
                    connection.close()

    def close_connections(self) -> None:
        with self._connections_lock:
            for connection in self._connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
