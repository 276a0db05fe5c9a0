"""Specs, call counting and a flaky API proxy for the local provider's tests."""

from __future__ import annotations

import http.client
import threading
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cloudlb.model import HealthCheck, Listener, LoadBalancerSpec, Protocol, Target
from cloudlb_local.client import LocalClient

__all__ = ["FAST_CHECKS", "CallCounter", "FlakyApi", "make_spec", "tcp", "udp"]

# Short checks so that failover happens within a test's patience; thresholds of 1 react to the first probe.
FAST_CHECKS = HealthCheck(interval=0.3, timeout=0.2, healthy_threshold=1, unhealthy_threshold=1)
MUTATING = ("POST", "PATCH", "DELETE")


@dataclass
class CallCounter:
    """API calls the daemon served between ``start()`` and ``delta()``, not counting the counter's own reads."""

    client: LocalClient
    _before: dict[str, int] | None = None

    def start(self) -> None:
        self._before = dict(self.client.info()["calls"])

    def delta(self) -> dict[str, int]:
        assert self._before is not None, "call start() first"
        after = self.client.info()["calls"]
        out = {method: after[method] - self._before.get(method, 0) for method in after}
        out["GET"] -= 1  # the info call that read ``after``
        return out

    def mutating(self) -> int:
        delta = self.delta()
        return sum(delta[m] for m in MUTATING)


def make_spec(
    *listeners: Listener, name: str = "web", uid: str = "uid-1", cluster: str = "test", **fields: object
) -> LoadBalancerSpec:
    fields.setdefault("health_check", FAST_CHECKS)
    return LoadBalancerSpec(cluster, "demo", name, uid, listeners=listeners, **fields)  # type: ignore[arg-type]


def tcp(port: int, pool: frozenset[Target], name: str = "http") -> Listener:
    return Listener(name, Protocol.TCP, port, targets=pool)


def udp(port: int, pool: frozenset[Target], name: str = "dns") -> Listener:
    return Listener(name, Protocol.UDP, port, targets=pool)


class FlakyApi:
    """An HTTP proxy in front of the daemon that loses the answer of the next ``lose`` writes: the daemon applies
    each, then the client gets a 503, as when a connection drops after the cloud acted."""

    def __init__(self, upstream: str) -> None:
        self.lose = 0
        self.lost = 0
        parsed = urllib.parse.urlsplit(upstream)
        target = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        flaky = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type")}
                conn = http.client.HTTPConnection(*target, timeout=30)
                try:
                    conn.request(self.command, self.path, body=raw or None, headers=headers)
                    response = conn.getresponse()
                    status, body = response.status, response.read()
                finally:
                    conn.close()
                if self.command != "GET" and flaky.lose > 0:
                    flaky.lose -= 1
                    flaky.lost += 1
                    status, body = 503, b'{"error": {"code": "Unavailable", "message": "answer lost"}}'
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PATCH = do_DELETE = _forward

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        host, port = self.server.server_address[:2]
        self.url = f"http://{host!s}:{port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
