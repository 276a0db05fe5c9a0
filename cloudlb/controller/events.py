"""Events on Services, with the reasons Kubernetes' own service controller uses, written in the background.

Where this sits: the reconciler calls ``recorder.event(service, reason, message)``; a background thread writes
core/v1 Events, so a slow API server never holds a reconcile up, and a full queue drops events (counted) rather
than memory. As Kubernetes' recorder does, a repeat of the same event on the same object within ``REPEAT_WINDOW``
bumps ``count`` on the existing Event instead of creating another.
"""

from __future__ import annotations

import collections
import datetime
import logging
import queue
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from cloudlb.controller.kubeclient import KubeAPIError, KubeClient

__all__ = [
    "DELETED",
    "DELETE_FAILED",
    "DELETING",
    "ENSURED",
    "ENSURING",
    "NO_NODES",
    "SYNC_FAILED",
    "TYPE_CHANGED",
    "UPDATED",
    "UPDATE_FAILED",
    "WARNING_REASONS",
    "EventRecorder",
]

log = logging.getLogger("cloudlb.controller.events")

# The reasons of Kubernetes' service controller (k8s.io/cloud-provider/controllers/service), so dashboards and
# alerts written for a cloud-controller-manager keep working.
ENSURING = "EnsuringLoadBalancer"
ENSURED = "EnsuredLoadBalancer"
SYNC_FAILED = "SyncLoadBalancerFailed"
DELETING = "DeletingLoadBalancer"
DELETED = "DeletedLoadBalancer"
DELETE_FAILED = "DeleteLoadBalancerFailed"
UPDATED = "UpdatedLoadBalancer"
UPDATE_FAILED = "UpdateLoadBalancerFailed"
NO_NODES = "UnAvailableLoadBalancer"
TYPE_CHANGED = "Type"
WARNING_REASONS = frozenset({SYNC_FAILED, DELETE_FAILED, UPDATE_FAILED, NO_NODES})

COMPONENT = "cloudlb-controller"
REPEAT_WINDOW = 600.0  # seconds
_MAX_REMEMBERED = 4096
_MAX_MESSAGE = 1024


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventRecorder:
    """Writes Events from a background thread. ``on_result(reason, result)`` counts them (created, repeated,
    dropped, failed)."""

    def __init__(
        self,
        client: KubeClient,
        *,
        identity: str,
        max_queued: int = 1000,
        on_result: Callable[[str, str], None] = lambda reason, result: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.identity = identity
        self.on_result = on_result
        self._clock = clock
        self._queue: queue.Queue[tuple[str, str, dict[str, Any]] | None] = queue.Queue(max_queued)
        # (namespace, uid, type, reason, message) -> (event name, count, first seen)
        self._seen: collections.OrderedDict[tuple[str, ...], tuple[str, int, float]] = collections.OrderedDict()
        self._thread = threading.Thread(target=self._run, name="event-recorder", daemon=True)
        self._started = False
        self._start_lock = threading.Lock()

    def event(self, service: Mapping[str, Any], reason: str, message: str) -> None:
        """Record ``reason``/``message`` on ``service`` (a Service dict); never blocks, never raises."""
        meta = service.get("metadata") or {}
        involved = {
            "apiVersion": "v1",
            "kind": "Service",
            "namespace": meta.get("namespace") or "default",
            "name": meta.get("name"),
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
        }
        kind = "Warning" if reason in WARNING_REASONS else "Normal"
        log.log(
            logging.WARNING if kind == "Warning" else logging.INFO,
            "%s/%s: %s: %s",
            involved["namespace"],
            involved["name"],
            reason,
            message,
        )
        with self._start_lock:
            if not self._started:
                self._thread.start()
                self._started = True
        try:
            self._queue.put_nowait((kind, reason, {"involvedObject": involved, "message": message[:_MAX_MESSAGE]}))
        except queue.Full:
            self.on_result(reason, "dropped")

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued event is written (tests, shutdown). False if ``timeout`` passed first."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self, timeout: float = 5.0) -> None:
        if self._started:
            self.flush(timeout)
            self._queue.put(None)
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                kind, reason, body = item
                try:
                    self.on_result(reason, self._write(kind, reason, body))
                except KubeAPIError as exc:
                    log.warning("could not record event %s: %s", reason, exc)
                    self.on_result(reason, "failed")
            finally:
                self._queue.task_done()

    def _write(self, kind: str, reason: str, body: dict[str, Any]) -> str:
        involved = body["involvedObject"]
        namespace = involved["namespace"]
        key = (namespace, str(involved["uid"]), kind, reason, body["message"])
        now = self._clock()
        seen = self._seen.get(key)
        if seen is not None and now - seen[2] < REPEAT_WINDOW:
            name, count, first = seen
            try:
                self.client.patch_event(namespace, name, {"count": count + 1, "lastTimestamp": _now()})
                self._remember(key, (name, count + 1, first))
                return "repeated"
            except KubeAPIError as exc:
                if not exc.not_found:
                    raise
                # Someone (the TTL) removed it: write a new one.
        timestamp = _now()
        name = f"{involved['name']}.{secrets.token_hex(8)}"
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            **body,
            "reason": reason,
            "type": kind,
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "reportingInstance": self.identity,
            "firstTimestamp": timestamp,
            "lastTimestamp": timestamp,
            "count": 1,
        }
        self.client.create_event(namespace, event)
        self._remember(key, (name, 1, now))
        return "created"

    def _remember(self, key: tuple[str, ...], value: tuple[str, int, float]) -> None:
        self._seen[key] = value
        self._seen.move_to_end(key)
        while len(self._seen) > _MAX_REMEMBERED:
            self._seen.popitem(last=False)
