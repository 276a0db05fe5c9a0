"""The controller's Prometheus metrics, the provider wrapper that counts cloud calls, and the health server.

Where this sits: one ``Metrics`` per controller process (its own ``CollectorRegistry``, so tests can run several
controllers in one process); ``CountingProvider`` wraps the provider so every cloud call is counted and timed by
operation and outcome; ``HealthServer`` serves ``/metrics``, ``/healthz`` (the process works: a liveness probe)
and ``/readyz`` (it is leading with synced caches, or standing by: a readiness probe).
"""

from __future__ import annotations

import logging
import socketserver
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from cloudlb.errors import CloudLBError, TemporaryError
from cloudlb.model import Feature, LoadBalancerSpec, LoadBalancerStatus, OwnedLoadBalancer
from cloudlb.plan import Plan
from cloudlb.provider import Provider

__all__ = ["CountingProvider", "HealthServer", "Metrics"]

log = logging.getLogger("cloudlb.controller.metrics")

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.reconciles = Counter(
            "cloudlb_controller_reconciles", "Reconciles by outcome.", ["outcome"], registry=registry
        )
        self.reconcile_errors = Counter(
            "cloudlb_controller_reconcile_errors", "Failed reconciles by error class.", ["error"], registry=registry
        )
        self.reconcile_seconds = Histogram(
            "cloudlb_controller_reconcile_duration_seconds",
            "Time one reconcile took.",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.queue_depth = Gauge("cloudlb_controller_queue_depth", "Keys waiting in the work queue.", registry=registry)
        self.queue_wait_seconds = Histogram(
            "cloudlb_controller_queue_wait_seconds",
            "Time from a key's first event to a worker taking it (pacing and backoff included).",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.cloud_calls = Counter(
            "cloudlb_controller_cloud_calls", "Provider calls.", ["provider", "operation", "result"], registry=registry
        )
        self.cloud_call_seconds = Histogram(
            "cloudlb_controller_cloud_call_duration_seconds",
            "Time one provider call took.",
            ["provider", "operation"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.leader = Gauge("cloudlb_controller_leader", "1 while this replica holds the lease.", registry=registry)
        self.watch_restarts = Counter(
            "cloudlb_controller_watch_restarts",
            "Watches restarted, by cause.",
            ["resource", "reason"],
            registry=registry,
        )
        self.cached_objects = Gauge(
            "cloudlb_controller_cached_objects", "Objects in the local caches.", ["resource"], registry=registry
        )
        self.events = Counter(
            "cloudlb_controller_events", "Kubernetes Events written.", ["reason", "result"], registry=registry
        )
        self.gc_deleted = Counter(
            "cloudlb_controller_gc_deleted", "Orphaned load balancers deleted by gc.", registry=registry
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


_OPERATIONS = ("plan", "ensure", "update_targets", "get", "delete", "list_owned")


class CountingProvider:
    """A ``Provider`` that forwards to ``inner`` and counts and times each call in ``metrics``."""

    def __init__(self, inner: Provider, metrics: Metrics) -> None:
        self.inner = inner
        self.name = inner.name
        self._metrics = metrics

    @property
    def capabilities(self) -> frozenset[Feature]:
        return self.inner.capabilities

    def load_balancer_name(self, spec: LoadBalancerSpec) -> str:
        return self.inner.load_balancer_name(spec)

    def _call(self, operation: str, fn: Callable[..., Any], *args: Any) -> Any:
        start = time.monotonic()
        result = "error"
        try:
            value = fn(*args)
            result = "ok"
            return value
        except TemporaryError:
            result = "temporary-error"
            raise
        except CloudLBError:
            result = "error"
            raise
        finally:
            self._metrics.cloud_calls.labels(self.name, operation, result).inc()
            self._metrics.cloud_call_seconds.labels(self.name, operation).observe(time.monotonic() - start)

    def plan(self, spec: LoadBalancerSpec) -> Plan:
        plan: Plan = self._call("plan", self.inner.plan, spec)
        return plan

    def ensure(self, spec: LoadBalancerSpec) -> LoadBalancerStatus:
        status: LoadBalancerStatus = self._call("ensure", self.inner.ensure, spec)
        return status

    def update_targets(self, spec: LoadBalancerSpec) -> None:
        self._call("update_targets", self.inner.update_targets, spec)

    def get(self, spec: LoadBalancerSpec) -> LoadBalancerStatus | None:
        status: LoadBalancerStatus | None = self._call("get", self.inner.get, spec)
        return status

    def delete(self, spec: LoadBalancerSpec | OwnedLoadBalancer) -> bool:
        return bool(self._call("delete", self.inner.delete, spec))

    def list_owned(self, cluster: str) -> list[OwnedLoadBalancer]:
        owned: list[OwnedLoadBalancer] = self._call("list_owned", self.inner.list_owned, cluster)
        return owned


# A check answers (ok, detail).
Check = Callable[[], tuple[bool, str]]


class HealthServer:
    """``/metrics``, ``/healthz`` and ``/readyz`` on ``address`` ("HOST:PORT"; port 0 picks a free one)."""

    def __init__(self, address: str, metrics: Metrics, *, healthy: Check, ready: Check) -> None:
        host, _, port = address.rpartition(":")
        self._server = _Server((host or "0.0.0.0", int(port)), _Handler)  # probes come from the kubelet
        self._server.routes = {
            "/metrics": lambda: (True, metrics.render().decode()),
            "/healthz": healthy,
            "/readyz": ready,
        }
        self._thread = threading.Thread(target=self._server.serve_forever, name="health-server", daemon=True)

    @property
    def address(self) -> str:
        return f"{self._server.host}:{self._server.port}"

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    routes: dict[str, Check]
    host = ""
    port = 0

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name with getfqdn: a DNS query, slow or hanging offline.
        socketserver.TCPServer.server_bind(self)
        self.host, self.port = str(self.server_address[0]), int(self.server_address[1])


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("health server: " + format, *args)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        check = self.server.routes.get(path)
        if check is None:
            code, body, content_type = 404, "not found\n", "text/plain; charset=utf-8"
        else:
            try:
                ok, detail = check()
            except Exception as exc:  # a probe must answer, whatever broke
                ok, detail = False, f"check failed: {type(exc).__name__}: {exc}"
            code = 200 if ok else 503
            content_type = CONTENT_TYPE_LATEST if path == "/metrics" else "text/plain; charset=utf-8"
            body = detail if path == "/metrics" else f"{'ok' if ok else 'not ok'}: {detail}\n"
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
