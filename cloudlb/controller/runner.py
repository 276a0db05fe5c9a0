"""One controller process: the health server, leader election, and a ``Controller`` for each term as leader.

Where this sits: ``command.py`` parses flags, connects and calls ``run``; tests call ``run`` in a thread or run
``python -m cloudlb.controller`` as a process. A replica that loses the lease stops its workers (the fence has
already stopped their cloud calls) and ``run`` returns 1, so the process exits and Kubernetes restarts it with
empty caches, as client-go controllers do. ``stop`` (SIGTERM) stops the workers, releases the lease and returns 0.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass, field

from cloudlb.controller.kubeclient import KubeClient
from cloudlb.controller.leader import LeaderElector
from cloudlb.controller.manager import Controller, Settings
from cloudlb.controller.metrics import HealthServer, Metrics
from cloudlb.provider import Provider

__all__ = ["LeaderSettings", "Process", "default_identity", "default_namespace"]

log = logging.getLogger("cloudlb.controller")

_SA_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


def default_namespace() -> str:
    """The Pod's namespace ($POD_NAMESPACE or the service account's), else "default"."""
    found = os.environ.get("POD_NAMESPACE")
    if found:
        return found
    try:
        with open(_SA_NAMESPACE, encoding="utf-8") as handle:
            return handle.read().strip() or "default"
    except OSError:
        return "default"


def default_identity() -> str:
    """Unique per process, even for two processes in one Pod: ``$POD_NAME`` (or the host name) and a random tail."""
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}_{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True, slots=True)
class LeaderSettings:
    enabled: bool = True
    namespace: str = "default"
    name: str = "cloudlb-controller"
    identity: str = field(default_factory=default_identity)
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


class Process:
    """Everything one ``cloudlb controller`` process runs. ``run()`` blocks until ``stop()`` or a lost lease."""

    def __init__(
        self,
        client: KubeClient,
        provider: Provider,
        settings: Settings,
        leader: LeaderSettings,
        *,
        metrics_address: str | None = None,
    ) -> None:
        self.client = client
        self.provider = provider
        self.settings = settings
        self.leader_settings = leader
        self.metrics = Metrics()
        self.stopping = threading.Event()
        self.controller: Controller | None = None
        self.elector: LeaderElector | None = None
        if leader.enabled:
            self.elector = LeaderElector(
                client,
                namespace=leader.namespace,
                name=leader.name,
                identity=leader.identity,
                lease_duration=leader.lease_duration,
                renew_deadline=leader.renew_deadline,
                retry_period=leader.retry_period,
                on_change=lambda leading: self.metrics.leader.set(1 if leading else 0),
            )
        self.health: HealthServer | None = None
        if metrics_address:
            self.health = HealthServer(metrics_address, self.metrics, healthy=self._healthy, ready=self._ready)

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> int:
        """0 after ``stop()``; 1 when the lease was lost."""
        if self.health is not None:
            self.health.start()
            log.info("serving /metrics, /healthz and /readyz on %s", self.health.address)
        try:
            if self.elector is None:
                self._start_controller()
                self.stopping.wait()
                self._stop_controller()
                return 0
            stopped = self.elector.run(
                self.stopping, on_started_leading=self._start_controller, on_stopped_leading=self._stop_controller
            )
            return 0 if stopped else 1
        finally:
            if self.health is not None:
                self.health.stop()

    def _start_controller(self) -> None:
        fence = self.elector.check if self.elector is not None else (lambda: None)
        self.controller = Controller(
            self.client,
            self.provider,
            self.settings,
            identity=self.leader_settings.identity,
            metrics=self.metrics,
            fence=fence,
        ).start()

    def _stop_controller(self) -> None:
        if self.controller is not None:
            self.controller.stop()

    def _healthy(self) -> tuple[bool, str]:
        controller = self.controller
        if controller is None:
            return True, "standing by"
        return controller.healthy()

    def _ready(self) -> tuple[bool, str]:
        controller = self.controller
        if self.stopping.is_set():
            return False, "shutting down"
        if controller is None:
            holder = self.elector.holder() if self.elector is not None else None
            return True, f"standing by; the leader is {holder or 'not known yet'}"
        if controller.workers_started.is_set():
            return True, "leading; caches synced"
        return False, "leading; caches syncing"
