"""Helpers for the daemon's tests: a plain HTTP client, tiny backends on 127.0.0.x, and reading state.db directly.

Everything here talks to the daemon the way an outside client would (HTTP on loopback, the SQLite file on disk), so
the tests assert on what the daemon did, not on what its code says it did.
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import socketserver
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloudlb_local.testing import DaemonHandle

JSON = dict[str, Any]

_rng = random.Random()


def unique_pool(prefix: int = 28) -> str:
    """A small pool no other test (or engineer's test run on this machine) is likely to use at the same time."""
    return f"127.{_rng.randint(150, 249)}.{_rng.randint(0, 255)}.0/{prefix}"


@dataclass
class Answer:
    status: int
    body: Any

    @property
    def error(self) -> JSON:
        assert isinstance(self.body, dict) and "error" in self.body, self.body
        error: JSON = self.body["error"]
        return error


class Api:
    """One method: ``call``. The token defaults to the daemon's; pass ``token=None`` to send none."""

    _DEFAULT = object()

    def __init__(self, daemon: DaemonHandle) -> None:
        self.daemon = daemon

    def call(
        self, method: str, path: str, body: Any = None, *, token: Any = _DEFAULT, raw: bytes | None = None
    ) -> Answer:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(self.daemon.url + path, data=data, method=method)
        token = self.daemon.token if token is self._DEFAULT else token
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, payload = response.status, response.read()
                content_type = response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            status, payload, content_type = exc.code, exc.read(), exc.headers.get("Content-Type", "")
        if "json" in content_type and payload:
            return Answer(status, json.loads(payload))
        return Answer(status, payload.decode())

    def ok(self, method: str, path: str, body: Any = None, *, expect: int = 200) -> Any:
        answer = self.call(method, path, body)
        assert answer.status == expect, (method, path, answer)
        return answer.body

    def create(self, body: JSON) -> JSON:
        created: JSON = self.ok("POST", "/v1/loadbalancers", body, expect=201)
        return created

    def get(self, lb_id: str) -> JSON:
        found: JSON = self.ok("GET", f"/v1/loadbalancers/{lb_id}")
        return found

    def info(self) -> JSON:
        found: JSON = self.ok("GET", "/v1/info")
        return found


def lb_body(name: str = "web", **overrides: Any) -> JSON:
    body: JSON = {
        "name": name,
        "tags": {"cloudlb.io/cluster": "test", "cloudlb.io/service": f"default/{name}"},
        "settings": {"health_check": None},
        "listeners": [],
    }
    body.update(overrides)
    return body


def db_rows(state_dir: Path) -> dict[str, JSON]:
    """The load balancers as stored in ``state.db``, read with plain SQL, by id."""
    db = sqlite3.connect(state_dir / "state.db")
    try:
        rows = db.execute(
            "SELECT id, name, tags, address, settings, listeners, revision FROM load_balancers"
        ).fetchall()
    finally:
        db.close()
    return {
        row[0]: {
            "id": row[0],
            "name": row[1],
            "tags": json.loads(row[2]),
            "address": row[3],
            "settings": json.loads(row[4]),
            "listeners": json.loads(row[5]),
            "revision": row[6],
        }
        for row in rows
    }


class _IdHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        server: Any = self.server
        with contextlib.suppress(OSError):
            self.request.sendall(server.backend_id.encode())


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@contextlib.contextmanager
def id_backend(backend_id: str, ip: str = "127.0.0.1") -> Iterator[tuple[str, int]]:
    """A TCP backend that answers every connection with ``backend_id`` and closes. Yields (ip, port)."""
    server = _Server((ip, 0), _IdHandler)
    server.backend_id = backend_id  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        host, port = server.socket.getsockname()[:2]
        yield str(host), int(port)
    finally:
        server.shutdown()
        server.server_close()


def fetch(address: str, port: int, *, timeout: float = 5.0) -> str:
    """Connect through the load balancer and read what the backend says."""
    with socket.create_connection((address, port), timeout=timeout) as sock:
        chunks = []
        while chunk := sock.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def fetch_eventually(address: str, port: int, *, timeout: float = 10.0) -> str:
    """``fetch``, retried while the listener comes up; correctness, not speed, is what the tests check."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            answer = fetch(address, port)
            if answer:
                return answer
        except OSError:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            return ""
        time.sleep(0.05)
