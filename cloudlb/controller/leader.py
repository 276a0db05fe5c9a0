"""Leader election through a ``coordination.k8s.io/v1`` Lease, so that exactly one replica reconciles.

Where this sits: ``runner.py`` runs ``LeaderElector.run`` in its main loop; the controller (informers, queue,
workers) runs only between ``on_started_leading`` and ``on_stopped_leading``, and every cloud call and API write a
worker makes first asks ``is_leader()``.

The rules, after client-go's leader election:
- A candidate takes the Lease when it is free (no holder) or when the holder has not renewed it for
  ``lease_duration``, measured on the candidate's own clock from when it last saw the record change, so the
  replicas' clocks never need to agree. Writes carry the Lease's resourceVersion: of two candidates, one wins and
  the other gets 409.
- The leader renews every ``retry_period``. It counts itself leader only until ``renew_deadline`` after the start of
  its last successful renewal. Since ``renew_deadline < lease_duration``, it has stopped acting before any other
  replica may take the Lease. A cloud call already running when that deadline passes runs to its end; that is why
  the deadline must leave room for one.
- On graceful shutdown the leader releases the Lease (no holder, duration 1 s) after its workers stopped, so a
  standby takes over at its next try instead of after a whole lease duration.
"""

from __future__ import annotations

import datetime
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from cloudlb.controller.kubeclient import KubeAPIError, KubeClient

__all__ = ["LeaderElector", "LeadershipLost"]

log = logging.getLogger("cloudlb.controller.leader")

JSON = dict[str, Any]


class LeadershipLost(Exception):
    """Raised by a fenced action when this replica may no longer act as leader."""


def _micro_time() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    def __init__(
        self,
        client: KubeClient,
        *,
        namespace: str,
        name: str,
        identity: str,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[bool], None] = lambda leading: None,
    ) -> None:
        if not 0 < retry_period < renew_deadline < lease_duration:
            raise ValueError(
                "leader election needs 0 < retry period < renew deadline < lease duration, got "
                f"{retry_period:g}s, {renew_deadline:g}s, {lease_duration:g}s"
            )
        self.client = client
        self.namespace, self.name, self.identity = namespace, name, identity
        self.lease_duration, self.renew_deadline, self.retry_period = lease_duration, renew_deadline, retry_period
        self._clock = clock
        self._on_change = on_change
        self._lock = threading.Lock()
        self._renewed_at: float | None = None  # start of our last successful acquire or renew
        self._observed: JSON | None = None  # the lease spec we last saw
        self._observed_at = 0.0  # when we saw it change, on our clock
        self._lease: JSON | None = None  # the last Lease object we read or wrote

    # -- the fence

    def is_leader(self) -> bool:
        with self._lock:
            return self._renewed_at is not None and self._clock() < self._renewed_at + self.renew_deadline

    def check(self) -> None:
        """Raise ``LeadershipLost`` unless this replica still leads: call it before every action."""
        if not self.is_leader():
            raise LeadershipLost(f"{self.identity} no longer holds lease {self.namespace}/{self.name}")

    def holder(self) -> str | None:
        """The holder we last observed (None: nobody)."""
        with self._lock:
            return (self._observed or {}).get("holderIdentity") or None

    # -- the loop

    def run(
        self,
        stop: threading.Event,
        *,
        on_started_leading: Callable[[], None],
        on_stopped_leading: Callable[[], None],
    ) -> bool:
        """Campaign until leading, lead until ``stop`` is set or the lease is lost. True if ``stop`` ended it.

        ``on_stopped_leading`` runs before the lease is released, so the workers have stopped by then.
        """
        while not stop.is_set():
            if self.try_acquire_or_renew():
                break
            stop.wait(self.retry_period * random.uniform(1.0, 1.2))  # jitter keeps candidates apart
        else:
            return True
        log.info("%s is now the leader (lease %s/%s)", self.identity, self.namespace, self.name)
        self._on_change(True)
        on_started_leading()
        try:
            while not stop.wait(self.retry_period):
                if not self._renew_until_deadline(stop):
                    log.error("%s lost lease %s/%s: stopping", self.identity, self.namespace, self.name)
                    return False
            return True
        finally:
            on_stopped_leading()
            self._on_change(False)
            if stop.is_set():
                self.release()

    def _renew_until_deadline(self, stop: threading.Event) -> bool:
        while True:
            if self.try_acquire_or_renew():
                return True
            if not self.is_leader():
                return False
            if stop.wait(min(self.retry_period / 2, 1.0)):
                return True  # shutting down: the caller releases

    def try_acquire_or_renew(self) -> bool:
        started = self._clock()
        try:
            lease = self.client.get_lease(self.namespace, self.name)
            if lease is None:
                written = self.client.create_lease(self.namespace, self._lease_body(None, started))
            else:
                spec = lease.get("spec") or {}
                self._observe(spec)
                holder = spec.get("holderIdentity")
                if holder and holder != self.identity and not self._expired(spec):
                    self._lease = lease
                    return False
                written = self.client.update_lease(self.namespace, self.name, self._lease_body(lease, started))
        except KubeAPIError as exc:
            if not exc.conflict:  # 409: another replica wrote first (or created it first): simply not ours
                log.warning("lease %s/%s: %s", self.namespace, self.name, exc)
            return False
        with self._lock:
            self._renewed_at = started
            self._lease = written
            self._observed = written.get("spec") or {}
            self._observed_at = self._clock()
        return True

    def _observe(self, spec: JSON) -> None:
        with self._lock:
            if spec != self._observed:
                self._observed = spec
                self._observed_at = self._clock()

    def _expired(self, spec: JSON) -> bool:
        duration = float(spec.get("leaseDurationSeconds") or self.lease_duration)
        with self._lock:
            return self._clock() >= self._observed_at + duration

    def _lease_body(self, current: JSON | None, now: float) -> JSON:
        spec = dict((current or {}).get("spec") or {})
        now_text = _micro_time()
        if spec.get("holderIdentity") != self.identity:
            spec["acquireTime"] = now_text
            if current is not None:
                spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
        spec.update(
            holderIdentity=self.identity,
            leaseDurationSeconds=max(1, round(self.lease_duration)),
            renewTime=now_text,
        )
        spec.setdefault("leaseTransitions", 0)
        metadata: JSON = {"name": self.name, "namespace": self.namespace}
        if current is not None:
            metadata["resourceVersion"] = (current.get("metadata") or {}).get("resourceVersion")
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata, "spec": spec}

    def release(self) -> bool:
        """Give the lease up if we hold it, so a standby need not wait for it to expire. True if released."""
        with self._lock:
            lease, held = self._lease, self._renewed_at is not None
            self._renewed_at = None
        if lease is None or not held or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
            return False
        spec = dict(lease.get("spec") or {})
        spec.update(holderIdentity=None, leaseDurationSeconds=1, renewTime=_micro_time(), acquireTime=None)
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace, **_rv(lease)},
            "spec": spec,
        }
        try:
            self.client.update_lease(self.namespace, self.name, body)
        except KubeAPIError as exc:
            log.warning("could not release lease %s/%s: %s", self.namespace, self.name, exc)
            return False
        log.info("%s released lease %s/%s", self.identity, self.namespace, self.name)
        return True


def _rv(obj: JSON) -> JSON:
    rv = (obj.get("metadata") or {}).get("resourceVersion")
    return {"resourceVersion": rv} if rv else {}
