"""Providers for the controller's in-process tests: the in-memory cloud, with a log of calls and scripted errors."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from cloudlb.model import LoadBalancerSpec, LoadBalancerStatus, OwnedLoadBalancer
from tests.support.memory import MemoryCloud, MemoryProvider

__all__ = ["Call", "RecordingProvider"]


@dataclass(frozen=True)
class Call:
    operation: str
    service: str  # namespace/name
    at: float  # time.monotonic()


class RecordingProvider(MemoryProvider):
    """``MemoryProvider`` that logs every call and raises the errors a test queues with ``fail_next``."""

    def __init__(self, cloud: MemoryCloud | None = None) -> None:
        super().__init__(cloud)
        self.calls: list[Call] = []
        self._failures: dict[str, list[Exception]] = {}
        self._lock = threading.Lock()

    def fail_next(self, operation: str, *errors: Exception) -> None:
        with self._lock:
            self._failures.setdefault(operation, []).extend(errors)

    def count(self, operation: str | None = None, service: str | None = None) -> int:
        return sum(
            1
            for call in list(self.calls)
            if (operation is None or call.operation == operation) and (service is None or call.service == service)
        )

    def _log(self, operation: str, service: str) -> None:
        with self._lock:
            self.calls.append(Call(operation, service, time.monotonic()))
            queued = self._failures.get(operation)
            error = queued.pop(0) if queued else None
        if error is not None:
            raise error

    def _logged(self, operation: str, spec: LoadBalancerSpec | OwnedLoadBalancer, run: Callable[[], object]) -> object:
        self._log(operation, f"{spec.namespace}/{spec.name}")
        with self._lock:  # the memory cloud is not built for concurrent callers
            return run()

    def ensure(self, spec: LoadBalancerSpec) -> LoadBalancerStatus:
        status = self._logged("ensure", spec, lambda: super(RecordingProvider, self).ensure(spec))
        assert isinstance(status, LoadBalancerStatus)
        return status

    def update_targets(self, spec: LoadBalancerSpec) -> None:
        self._logged("update_targets", spec, lambda: super(RecordingProvider, self).update_targets(spec))

    def delete(self, spec: LoadBalancerSpec | OwnedLoadBalancer) -> bool:
        return bool(self._logged("delete", spec, lambda: super(RecordingProvider, self).delete(spec)))

    def list_owned(self, cluster: str) -> list[OwnedLoadBalancer]:
        self._log("list_owned", "")
        with self._lock:
            return super().list_owned(cluster)
