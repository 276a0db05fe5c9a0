"""The conformance harness for ``LocalProvider``: a real daemon per harness, and a recording proxy in front of it.

The provider talks to the daemon through a small HTTP proxy, which counts the provider's calls, logs every target
change the daemon accepted and injects the suite's faults. Read-backs and planted look-alikes go straight to the
daemon with a client of their own, so they are never counted as the provider's calls. Targets live on 127.1.x.y
(nodes) and 127.2.x.y (pods): the daemon's health checks probe them, and probes must stay on loopback.
"""

from __future__ import annotations

import atexit
import http.client
import json
import random
import shutil
import tempfile
import threading
import urllib.parse
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cloudlb.model import LoadBalancerSpec, Scheme, Target, TargetMode
from cloudlb.model import Protocol as IPProtocol
from cloudlb.naming import CLUSTER_TAG, SERVICE_TAG, Ownership, ownership
from cloudlb_local.client import LocalClient
from cloudlb_local.mapping import SCHEME_TAG
from cloudlb_local.provider import TARGETS_PER_CALL, LocalProvider
from cloudlb_local.testing import DaemonHandle
from tests.conformance.harness import BaseHarness, Endpoint, ObservedLoadBalancer, ResourceView, TargetOp

MUTATING = frozenset({"POST", "PATCH", "DELETE"})


class _Recorder:
    """What the proxy saw and what it should break next. Guarded by one lock: the proxy serves from threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls = 0
        self.mutating = 0
        self.target_ops: list[TargetOp] = []
        self.fail_at: tuple[int, bool] | None = None  # (n-th mutating call from when it was set, after its effect)
        self.seen_since_fault = 0

    def fault_for(self, method: str) -> bool | None:
        """Count a call; None when it should go through, else whether to fail it after its effect."""
        with self.lock:
            self.calls += 1
            if method not in MUTATING:
                return None
            self.mutating += 1
            if self.fail_at is None:
                return None
            self.seen_since_fault += 1
            at, after = self.fail_at
            if self.seen_since_fault != at:
                return None
            self.fail_at = None
            return after

    def record(self, method: str, path: str, body: Any, answer: Any) -> None:
        """Log the target changes of a call the daemon accepted, in the order the daemon applied them."""
        parts = path.split("?")[0].strip("/").split("/")  # v1 loadbalancers [id [listeners [key [targets]]]]
        ops: list[TargetOp] = []
        if method == "POST" and len(parts) == 2 and isinstance(answer, dict):
            for listener in body.get("listeners") or ():
                ops.append(_op(answer["id"], listener, "register", listener.get("targets")))
        elif method == "POST" and len(parts) == 4:
            ops.append(_op(parts[2], body, "register", body.get("targets")))
        elif method == "POST" and len(parts) == 6:
            pool = f"{parts[2]}/{parts[4]}"
            # The daemon applies adds before removes, in one step.
            ops.append(TargetOp(pool, "register", _endpoints(body.get("add"))))
            ops.append(TargetOp(pool, "deregister", _endpoints(body.get("remove"))))
        with self.lock:
            self.target_ops.extend(op for op in ops if op.targets)


def _endpoints(items: Any) -> frozenset[Endpoint]:
    return frozenset((str(t["ip"]), int(t["port"])) for t in items or ())


def _op(lb_id: str, listener: Mapping[str, Any], kind: Any, targets: Any) -> TargetOp:
    return TargetOp(f"{lb_id}/{listener['protocol']}-{listener['port']}", kind, _endpoints(targets))


def _proxy(upstream: str, recorder: _Recorder) -> ThreadingHTTPServer:
    parsed = urllib.parse.urlsplit(upstream)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 80

    class Handler(BaseHTTPRequestHandler):
        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            fault = recorder.fault_for(self.command) if self.path.startswith("/v1") else None
            if fault is False:
                # A crash before the call reached the cloud: nothing happened, and the caller must not retry blindly.
                return self._reply(400, _error(f"injected failure before {self.command} {self.path}"))
            headers = {k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type")}
            conn = http.client.HTTPConnection(host, port, timeout=30)
            try:
                conn.request(self.command, self.path, body=raw or None, headers=headers)
                response = conn.getresponse()
                status, answer = response.status, response.read()
            finally:
                conn.close()
            if status < 400 and self.command in MUTATING:
                body = json.loads(raw) if raw else {}
                recorder.record(self.command, self.path, body, json.loads(answer) if answer else None)
            if fault is True:
                return self._reply(400, _error(f"injected failure after {self.command} {self.path}: response lost"))
            self._reply(status, answer)

        do_GET = do_POST = do_PATCH = do_DELETE = _forward

        def _reply(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _error(message: str) -> bytes:
    return json.dumps({"error": {"code": "InjectedFailure", "message": message}}).encode()


_shared: DaemonHandle | None = None


def _shared_daemon() -> DaemonHandle:
    """One daemon for the whole run, emptied by each harness: starting one per test would dominate the suite."""
    global _shared
    if _shared is None:
        tmp = Path(tempfile.mkdtemp(prefix="cloudlb-conformance-"))
        pool = f"127.{random.randint(150, 249)}.{random.randint(0, 255)}.0/24"
        handle = DaemonHandle(state_dir=tmp / "state", address_pool=pool)
        handle.start()
        atexit.register(shutil.rmtree, tmp, ignore_errors=True)
        atexit.register(handle.stop)  # atexit runs last-in first-out: stop, then remove
        _shared = handle
    elif _shared.process is None or _shared.process.poll() is not None:
        _shared.start()
    return _shared


class LocalHarness(BaseHarness):
    def __init__(self) -> None:
        self.id = "local"
        self.target_batch_size: int | None = TARGETS_PER_CALL
        self.daemon = _shared_daemon()
        self.direct = LocalClient(self.daemon.state_dir)  # uncounted: read-backs, planted resources, cleanup
        for lb in self.direct.list_load_balancers():  # a new, empty cloud for every harness
            self.direct.delete_load_balancer(lb["id"])
        self.recorder = _Recorder()
        self._proxy = _proxy(self.daemon.url, self.recorder)
        self._foreign: list[str] = []

    def target(self, index: int, port: int, mode: TargetMode) -> Target:
        net = 1 if mode is TargetMode.NODE else 2
        ip = f"127.{net}.{index // 250}.{index % 250 + 1}"
        return Target(ip=ip, port=port, node_name=f"node-{index}" if mode is TargetMode.NODE else None)

    def make_provider(self) -> LocalProvider:
        host, port = self._proxy.server_address[:2]
        return LocalProvider(self.daemon.state_dir, api_url=f"http://{host!s}:{port}", token=self.daemon.token)

    def mutating_calls(self) -> int:
        with self.recorder.lock:
            return self.recorder.mutating

    def all_calls(self) -> int:
        with self.recorder.lock:
            return self.recorder.calls

    def read_back(self, spec: LoadBalancerSpec) -> list[ObservedLoadBalancer]:
        found = self.direct.list_load_balancers({CLUSTER_TAG: spec.cluster, SERVICE_TAG: spec.ref.service})
        return [_observed(lb) for lb in found if ownership(lb["tags"], spec.ref) is Ownership.MINE]

    def target_ops(self) -> list[TargetOp]:
        with self.recorder.lock:
            return list(self.recorder.target_ops)

    def resources(self) -> list[ResourceView]:
        return [
            ResourceView("load-balancer", lb["id"], lb["name"], lb["tags"]) for lb in self.direct.list_load_balancers()
        ]

    def create_foreign_lookalike(self, spec: LoadBalancerSpec, *, tags: Mapping[str, str]) -> str:
        listeners = [
            {
                "name": lst.name,
                "protocol": lst.protocol.value,
                "port": lst.port,
                "targets": [{"ip": "127.9.0.1", "port": 9000 + i}],
            }
            for i, lst in enumerate(spec.listeners)
        ]
        name = self.make_provider().load_balancer_name(spec)
        lb = self.direct.create_load_balancer(
            {"name": name, "tags": dict(tags), "settings": {}, "listeners": listeners}
        )
        self._foreign.append(lb["id"])
        return str(lb["id"])

    def foreign_state(self) -> object:
        return [self.direct.get_load_balancer(lb_id) for lb_id in self._foreign]

    def fail_at_mutating_call(self, n: int, *, after: bool = False) -> None:
        with self.recorder.lock:
            self.recorder.fail_at, self.recorder.seen_since_fault = (n, after), 0

    def clear_faults(self) -> None:
        with self.recorder.lock:
            self.recorder.fail_at = None

    def close(self) -> None:
        self._proxy.shutdown()
        self._proxy.server_close()


def _observed(lb: Mapping[str, Any]) -> ObservedLoadBalancer:
    listeners = {(IPProtocol(lst["protocol"]), int(lst["port"])): _endpoints(lst["targets"]) for lst in lb["listeners"]}
    internal = lb["tags"].get(SCHEME_TAG) == Scheme.INTERNAL.value
    return ObservedLoadBalancer(lb["id"], lb["name"], dict(lb["tags"]), listeners, internal)


def local_harness() -> LocalHarness:
    return LocalHarness()
