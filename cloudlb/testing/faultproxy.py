"""A fault-injecting HTTP/1.1 reverse proxy on loopback, in front of any fake cloud or moto's server.

Where this sits: every provider's resilience tests put a ``FaultProxy`` between the SDK and the fake, point the
provider's endpoint option at ``proxy.url`` and let rules answer some requests with 429, a throttling error, a 5xx,
a delay or a dropped connection. The proxy knows nothing about any cloud: the throttling body is data
(``AWS_QUERY_THROTTLING`` is the shape botocore reads as a ``Throttling`` ClientError for query-protocol APIs such
as ELBv2 and EC2), and predicates see a plain ``ProxiedRequest``. The rule vocabulary lives in
``cloudlb.testing.faults`` and is re-exported here.

    rules = [FaultRule(Fault.throttling(), rate=0.3, when=Match(action=lambda a: not a.startswith("Describe")))]
    with FaultProxy("http://127.0.0.1:5000", rules=rules, seed=7) as proxy:
        client = boto3.client("elbv2", endpoint_url=proxy.url, ...)
        ...
        proxy.counts.injected[FaultKind.THROTTLING]

Decisions are reproducible: one ``random.Random(seed)``, drawn once per request for each rule whose predicate
matches, under a lock, in arrival order. Forwarding is transparent: the method, path, headers (Host included, so
signatures stay valid) and body bytes go upstream unchanged, hop-by-hop headers aside; a chunked body keeps its
framing on the way up and is re-chunked on the way down.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import random
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import MappingProxyType, TracebackType
from typing import Self

from cloudlb.testing.faults import (
    AWS_QUERY_THROTTLING,
    Fault,
    FaultKind,
    FaultRule,
    Match,
    Predicate,
    ProxiedRequest,
    ProxyCounts,
)

__all__ = [
    "AWS_QUERY_THROTTLING",
    "Fault",
    "FaultKind",
    "FaultProxy",
    "FaultRule",
    "Match",
    "Predicate",
    "ProxiedRequest",
    "ProxyCounts",
]

log = logging.getLogger(__name__)

# Connection-scoped headers (RFC 9110 7.6.1) are not forwarded; Transfer-Encoding is handled with the body.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer"}
    | {"upgrade", "transfer-encoding", "expect"}  # the proxy answers Expect: 100-continue itself
)
_NO_BODY_STATUSES = frozenset({204, 304})
_COPY_SIZE = 64 * 1024
_MAX_LINE = 64 * 1024


class FaultProxy:
    """An HTTP/1.1 reverse proxy on 127.0.0.1 (a free port) in front of ``upstream_url``; a context manager.

    ``rules`` are tried in order: every latency rule that fires adds its delay, and the first other rule that fires
    decides the answer. ``rules`` may be replaced while the proxy runs (per-rule ``nth`` counting restarts).
    ``sleep`` is how latency is served, injectable so tests can record it.
    """

    def __init__(
        self,
        upstream_url: str,
        *,
        rules: Sequence[FaultRule] = (),
        seed: int = 0,
        sleep: Callable[[float], None] = time.sleep,
        upstream_ssl_context: ssl.SSLContext | None = None,
        timeout: float = 60.0,
    ) -> None:
        parts = urllib.parse.urlsplit(upstream_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"upstream must be an http(s) URL, not {upstream_url!r}")
        self.upstream_url = upstream_url
        self._scheme, self._host = parts.scheme, parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._prefix = parts.path.rstrip("/")
        self._ssl_context = upstream_ssl_context
        self._timeout = timeout
        self._sleep = sleep
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self._rules: tuple[FaultRule, ...] = tuple(rules)
        self._seen = [0] * len(self._rules)
        self._received = self._forwarded = self._upstream_errors = 0
        self._injected: Counter[FaultKind] = Counter()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError("the proxy is already running")
        self._server = _Server(("127.0.0.1", 0), _Handler, proxy=self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="cloudlb-fault-proxy", daemon=True
        )
        self._thread.start()
        log.debug("fault proxy %s -> %s", self.url, self.upstream_url)
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.shutdown()
        thread.join()
        server.close_connections()  # idle keep-alive connections would otherwise hold their threads
        server.server_close()
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the proxy is not running")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # --- rules and counts --------------------------------------------------------------------------------------

    @property
    def rules(self) -> tuple[FaultRule, ...]:
        return self._rules

    @rules.setter
    def rules(self, rules: Sequence[FaultRule]) -> None:
        with self._lock:
            self._rules = tuple(rules)
            self._seen = [0] * len(self._rules)

    @property
    def counts(self) -> ProxyCounts:
        with self._lock:
            return ProxyCounts(
                self._received, self._forwarded, self._upstream_errors, MappingProxyType(dict(self._injected))
            )

    def reset_counts(self) -> None:
        with self._lock:
            self._received = self._forwarded = self._upstream_errors = 0
            self._injected.clear()

    def _decide(self, request: ProxiedRequest) -> tuple[Fault | None, float]:
        """The fault to answer with (None: forward) and the latency to add first."""
        chosen: Fault | None = None
        delay = 0.0
        with self._lock:
            self._received += 1
            for index, rule in enumerate(self._rules):
                if rule.when is not None and not rule.when(request):
                    continue
                self._seen[index] += 1
                fires = self._seen[index] in rule.nth
                if rule.rate > 0.0:  # drawn even when nth already fired, so the sequence does not depend on nth
                    fires = (self._random.random() < rule.rate) or fires
                if not fires:
                    continue
                if rule.fault.kind is FaultKind.LATENCY:
                    delay += rule.fault.delay
                    self._injected[FaultKind.LATENCY] += 1
                elif chosen is None:
                    chosen = rule.fault
                    self._injected[chosen.kind] += 1
            if chosen is None:
                self._forwarded += 1
        return chosen, delay

    def _upstream_failed(self) -> None:
        with self._lock:
            self._upstream_errors += 1

    def _connect(self) -> http.client.HTTPConnection:
        # A fresh upstream connection per request: no stale keep-alive connection can swallow a retried request.
        if self._scheme == "https":
            return http.client.HTTPSConnection(self._host, self._port, timeout=self._timeout, context=self._ssl_context)
        return http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[_Handler], *, proxy: FaultProxy) -> None:
        self.proxy = proxy
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def track(self, connection: socket.socket, *, alive: bool) -> None:
        with self._connections_lock:
            if alive:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def handle_error(self, request: object, client_address: object) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):  # a client went away: its business, not a proxy fault
            log.debug("fault proxy: client %s dropped its connection", client_address)
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]

    def close_connections(self) -> None:
        with self._connections_lock:
            for connection in self._connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stalls
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, alive=True)

    def finish(self) -> None:
        self.server.track(self.connection, alive=False)
        with contextlib.suppress(OSError):  # the connection may have been reset on purpose
            super().finish()

    def log_message(self, format: str, *args: object) -> None:
        log.debug("fault proxy: " + format, *args)

    def _proxy(self) -> None:
        try:
            body, raw = self._read_body()
        except ValueError as exc:
            self.send_error(400, f"bad request body: {exc}")
            self.close_connection = True
            return
        proxy = self.server.proxy
        request = ProxiedRequest(self.command, self.path, tuple(self.headers.items()), body)
        fault, delay = proxy._decide(request)
        if delay:
            proxy._sleep(delay)
        if fault is None:
            self._forward(request, raw)
        elif fault.kind is FaultKind.RESET:
            self._reset()
        else:
            self._answer(fault.status, fault.headers, fault.body)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _proxy

    def _read_body(self) -> tuple[bytes, bytes]:
        """(payload, bytes exactly as received). Chunked framing is kept raw so it can be forwarded unchanged."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if length is None:
            return b"", b""
        if not length.strip().isdigit():
            raise ValueError(f"Content-Length {length!r}")
        data = self.rfile.read(int(length))
        return data, data

    def _read_chunked(self) -> tuple[bytes, bytes]:
        payload, raw = bytearray(), bytearray()
        while True:
            line = self.rfile.readline(_MAX_LINE)
            raw += line
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise ValueError(f"chunk size line {line[:40]!r}") from None
            if size == 0:
                break
            data = self.rfile.read(size + 2)  # the chunk and its CRLF
            raw += data
            payload += data[:size]
        while True:  # trailer fields, then the empty line
            line = self.rfile.readline(_MAX_LINE)
            raw += line
            if line in (b"\r\n", b"\n", b""):
                return bytes(payload), bytes(raw)

    def _forward(self, request: ProxiedRequest, raw_body: bytes) -> None:
        proxy = self.server.proxy
        upstream = proxy._connect()
        try:
            upstream.putrequest(request.method, proxy._prefix + request.path, skip_host=True, skip_accept_encoding=True)
            for name, value in request.headers:
                if name.lower() not in _HOP_BY_HOP:
                    upstream.putheader(name, value)
            encoding = self.headers.get("Transfer-Encoding")
            if encoding is not None:
                upstream.putheader("Transfer-Encoding", encoding)
            upstream.endheaders()
            if raw_body:
                upstream.send(raw_body)
            response = upstream.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            upstream.close()
            proxy._upstream_failed()
            log.debug("fault proxy: upstream %s failed: %s", proxy.upstream_url, exc)
            self._answer(502, (("Content-Type", "text/plain"),), f"upstream failed: {exc}\n".encode())
            return
        try:
            self._relay(response)
        finally:
            upstream.close()

    def _relay(self, response: http.client.HTTPResponse) -> None:
        self.send_response_only(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        if self.command == "HEAD" or response.status in _NO_BODY_STATUSES or response.status < 200:
            self._end_headers()
        elif response.chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self._end_headers()
            while chunk := response.read1(_COPY_SIZE):
                self.wfile.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        else:
            if response.length is None:  # delimited by the upstream closing: so is ours
                self.close_connection = True
            self._end_headers()
            while chunk := response.read(_COPY_SIZE):
                self.wfile.write(chunk)

    def _answer(self, status: int, headers: Sequence[tuple[str, str]], body: bytes) -> None:
        self.send_response_only(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self._end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _end_headers(self) -> None:
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()

    def _reset(self) -> None:
        # Linger 0: close() sends RST, so the client sees a reset rather than an orderly end of stream.
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
