"""One reconcile: bring one Service's load balancer, finalizer and status in line with the cluster.

Where this sits: a worker takes a key from the queue and calls ``Reconciler.reconcile(key)``. It reads the caches,
builds the spec with ``cloudlb.spec_from_manifests`` and calls the provider; the rules are those of Kubernetes'
service controller:

- The finalizer ``service.kubernetes.io/load-balancer-cleanup`` is on the Service before any cloud call that may
  create something, so a Service can never be deleted while its load balancer lives on unseen.
- A Service being deleted, or no longer ours (its type changed away from LoadBalancer), gets ``delete``; its
  status is cleared, and only after ``delete`` succeeded is the finalizer removed.
- What to call is decided against what this replica last applied (two hashes per Service, not the spec: a node
  mode spec holds every node): a new or changed Service costs ``ensure``; a change of targets only (endpoints,
  the node set) costs ``update_targets``; nothing changed costs nothing, unless a periodic resync asks for an
  ``ensure`` to catch drift in the cloud. A new leader has applied nothing yet, so it ensures every Service once.
- ``status.loadBalancer`` is patched only when it differs from what the cloud reported.

Every cloud call and API write is fenced by ``fence()``, which raises ``LeadershipLost`` once this replica may no
longer act.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cloudlb.controller import events
from cloudlb.controller.cache import ClusterCache
from cloudlb.controller.events import EventRecorder
from cloudlb.controller.kubeclient import KubeAPIError, KubeClient
from cloudlb.controller.records import FINALIZER, has_finalizer
from cloudlb.errors import CloudLBError, InvalidSpecError, NotFoundError, UnsupportedFeatureError
from cloudlb.kube import is_managed, spec_from_manifests
from cloudlb.model import LoadBalancerSpec, LoadBalancerStatus, TargetMode
from cloudlb.provider import Provider

__all__ = ["Applied", "InvalidService", "Outcome", "Reconciler", "status_key"]

log = logging.getLogger("cloudlb.controller.reconcile")

JSON = dict[str, Any]


class Outcome(enum.StrEnum):
    ENSURED = "ensured"
    UPDATED = "updated"  # update_targets
    UNCHANGED = "unchanged"  # no cloud call was needed
    DELETED = "deleted"
    SKIPPED = "skipped"  # not ours and nothing of ours on it


class InvalidService(CloudLBError):
    """The Service (or its slices or nodes) cannot be built into a spec: retrying unchanged cannot help."""


@dataclass(frozen=True, slots=True)
class Applied:
    """What this replica last applied for a Service: enough to tell what the next change needs."""

    uid: str
    spec_hash: int  # hash of the whole spec (Python's salted hash: collisions are 2**-64 unlikely)
    shape_hash: int  # hash of the spec without its targets
    status: tuple[Any, ...]  # status_key of the status it reported


def status_key(load_balancer: Mapping[str, Any] | None) -> tuple[Any, ...]:
    """The parts of ``status.loadBalancer`` cloudlb sets, comparable; fields the API server adds (ipMode) do not
    count, so they never make a status look changed."""
    out = []
    for ingress in (load_balancer or {}).get("ingress") or ():
        ports = tuple((p.get("port"), p.get("protocol"), p.get("error") or None) for p in ingress.get("ports") or ())
        out.append((ingress.get("ip") or None, ingress.get("hostname") or None, ports))
    return tuple(out)


def _hashes(spec: LoadBalancerSpec) -> tuple[int, int]:
    shape = dataclasses.replace(
        spec, listeners=tuple(dataclasses.replace(lst, targets=frozenset()) for lst in spec.listeners)
    )
    return hash(spec), hash(shape)


def _meta(service: Mapping[str, Any]) -> JSON:
    meta: JSON = service.get("metadata") or {}
    return meta


def _finalizers(service: Mapping[str, Any]) -> list[str]:
    found = _meta(service).get("finalizers")
    return [f for f in found if isinstance(f, str)] if isinstance(found, list) else []


class Reconciler:
    def __init__(
        self,
        *,
        cache: ClusterCache,
        provider: Provider,
        client: KubeClient,
        recorder: EventRecorder,
        cluster: str,
        load_balancer_class: str,
        default_class: bool = False,
        fence: Callable[[], None] = lambda: None,
    ) -> None:
        self.cache = cache
        self.provider = provider
        self.client = client
        self.recorder = recorder
        self.cluster = cluster
        self.load_balancer_class = load_balancer_class
        self.default_class = default_class
        self.fence = fence
        self.applied: dict[str, Applied] = {}

    def wants(self, service: Mapping[str, Any]) -> bool:
        """A LoadBalancer Service of our class, or with no class when we are the default."""
        if not is_managed(service, load_balancer_class=self.load_balancer_class):
            return False
        return bool((service.get("spec") or {}).get("loadBalancerClass")) or self.default_class

    def owns(self, service: Mapping[str, Any]) -> bool:
        """Whether a Service is any business of ours: wanted, or carrying our finalizer."""
        return self.wants(service) or has_finalizer(service)

    def reconcile(self, key: str, *, resync: bool = False) -> Outcome:
        self.fence()  # a replica that no longer leads does nothing at all, not even an Event
        service = self.cache.services.get(key)
        if service is None:
            return self._gone(key)
        meta = _meta(service)
        if meta.get("deletionTimestamp") or not self.wants(service):
            if not has_finalizer(service):
                self.applied.pop(key, None)
                return Outcome.SKIPPED
            return self._clean_up(key, service)
        return self._sync(key, service, resync=resync)

    # -- a Service that wants a load balancer

    def _sync(self, key: str, service: JSON, *, resync: bool) -> Outcome:
        spec = self._build(key, service)
        uid = str(_meta(service).get("uid") or "")
        spec_hash, shape_hash = _hashes(spec)
        applied = self.applied.get(key)
        if not has_finalizer(service):
            service = self._add_finalizer(service)
        if spec.target_mode is TargetMode.NODE and not spec.targets:
            self.recorder.event(service, events.NO_NODES, "There are no available nodes for LoadBalancer")
        if resync or applied is None or applied.uid != uid or applied.shape_hash != shape_hash:
            outcome, reported = Outcome.ENSURED, self._ensure_and_report(service, spec)
        elif applied.spec_hash != spec_hash:
            outcome, reported = self._update_targets(service, spec, applied.status)
        else:
            outcome, reported = Outcome.UNCHANGED, applied.status
            # Someone else changed the status we set: put it back, no cloud call needed.
            if reported != status_key((service.get("status") or {}).get("loadBalancer")):
                self._patch_status(service, _status_from_key(reported), reported)
        self.applied[key] = Applied(uid, spec_hash, shape_hash, reported)
        return outcome

    def _build(self, key: str, service: JSON) -> LoadBalancerSpec:
        try:
            return spec_from_manifests(
                service, self.cache.slices_for(key), self.cache.node_pool(), cluster=self.cluster
            )
        except InvalidSpecError as exc:
            self.recorder.event(service, events.SYNC_FAILED, f"Error syncing load balancer: {exc}")
            raise InvalidService(str(exc)) from exc

    def _ensure(self, service: JSON, spec: LoadBalancerSpec) -> LoadBalancerStatus:
        self.recorder.event(service, events.ENSURING, "Ensuring load balancer")
        self.fence()
        try:
            status = self.provider.ensure(spec)
        except UnsupportedFeatureError as exc:
            self.recorder.event(service, events.SYNC_FAILED, f"Error syncing load balancer: {exc}")
            raise InvalidService(str(exc)) from exc
        except CloudLBError as exc:
            self.recorder.event(
                service, events.SYNC_FAILED, f"Error syncing load balancer: failed to ensure load balancer: {exc}"
            )
            raise
        self.recorder.event(service, events.ENSURED, "Ensured load balancer")
        return status

    def _ensure_and_report(self, service: JSON, spec: LoadBalancerSpec) -> tuple[Any, ...]:
        """``ensure``, then the status patched if it differs; the status reported."""
        load_balancer = self._ensure(service, spec).to_kube()
        reported = status_key(load_balancer)
        self._patch_status(service, load_balancer, reported)
        return reported

    def _update_targets(
        self, service: JSON, spec: LoadBalancerSpec, reported: tuple[Any, ...]
    ) -> tuple[Outcome, tuple[Any, ...]]:
        self.fence()
        try:
            self.provider.update_targets(spec)
        except NotFoundError:
            # The load balancer went missing behind our back: create it again.
            return Outcome.ENSURED, self._ensure_and_report(service, spec)
        except CloudLBError as exc:
            self.recorder.event(service, events.UPDATE_FAILED, f"Error updating load balancer with new hosts: {exc}")
            raise
        self.recorder.event(service, events.UPDATED, "Updated load balancer with new hosts")
        return Outcome.UPDATED, reported

    # -- a Service that no longer wants one (deleted, or type changed)

    def _clean_up(self, key: str, service: JSON) -> Outcome:
        meta = _meta(service)
        deleting = bool(meta.get("deletionTimestamp"))
        if not deleting:
            kind = (service.get("spec") or {}).get("type") or "ClusterIP"
            self.recorder.event(service, events.TYPE_CHANGED, f"LoadBalancer -> {kind}")
        self.recorder.event(service, events.DELETING, "Deleting load balancer")
        identity = LoadBalancerSpec(
            self.cluster, meta.get("namespace") or "default", str(meta.get("name")), str(meta.get("uid") or "")
        )
        self.fence()
        try:
            self.provider.delete(identity)
        except CloudLBError as exc:
            self.recorder.event(service, events.DELETE_FAILED, f"Error deleting load balancer: {exc}")
            raise
        self.recorder.event(service, events.DELETED, "Deleted load balancer")
        self.applied.pop(key, None)
        if not deleting and status_key((service.get("status") or {}).get("loadBalancer")):
            service = self._patch_status(service, {}, ())
        self._remove_finalizer(service)
        return Outcome.DELETED

    def _gone(self, key: str) -> Outcome:
        """The Service vanished from the cache without our clean-up (its finalizer was forced off): delete what we
        applied for it, by identity. A Service we never applied is left to gc."""
        applied = self.applied.get(key)
        if applied is None:
            return Outcome.SKIPPED
        namespace, _, name = key.partition("/")
        self.fence()
        self.provider.delete(LoadBalancerSpec(self.cluster, namespace, name, applied.uid))
        del self.applied[key]
        return Outcome.DELETED

    # -- writes to the API server

    def _patch_status(self, service: JSON, load_balancer: JSON, reported: tuple[Any, ...]) -> JSON:
        current = (service.get("status") or {}).get("loadBalancer")
        if status_key(current) == reported:
            return service
        meta = _meta(service)
        body = {"status": {"loadBalancer": load_balancer if load_balancer.get("ingress") else {"ingress": None}}}
        self.fence()
        return self.client.patch_service_status(meta.get("namespace") or "default", str(meta.get("name")), body)

    def _add_finalizer(self, service: JSON) -> JSON:
        return self._edit_finalizers(service, add=True)

    def _remove_finalizer(self, service: JSON) -> None:
        try:
            self._edit_finalizers(service, add=False)
        except KubeAPIError as exc:
            if not exc.not_found:  # gone already: nothing left to hold
                raise

    def _edit_finalizers(self, service: JSON, *, add: bool) -> JSON:
        """Add or remove our finalizer with a patch conditional on the resourceVersion; after a 409, read the
        Service afresh and try once more."""
        meta = _meta(service)
        namespace, name = meta.get("namespace") or "default", str(meta.get("name"))
        for attempt in range(2):
            current = _finalizers(service)
            if (FINALIZER in current) == add:
                return service
            wanted = [*current, FINALIZER] if add else [f for f in current if f != FINALIZER]
            patch = {
                "metadata": {"finalizers": wanted or None, "resourceVersion": _meta(service).get("resourceVersion")}
            }
            self.fence()
            try:
                return self.client.patch_service(namespace, name, patch)
            except KubeAPIError as exc:
                if not exc.conflict or attempt:
                    raise
            service = self.client.get_service(namespace, name)
        raise AssertionError("unreachable")  # pragma: no cover


def _status_from_key(key: tuple[Any, ...]) -> JSON:
    ingress = []
    for ip, hostname, ports in key:
        entry: JSON = {}
        if ip:
            entry["ip"] = ip
        if hostname:
            entry["hostname"] = hostname
        if ports:
            entry["ports"] = [
                {"port": port, "protocol": protocol, **({"error": error} if error else {})}
                for port, protocol, error in ports
            ]
        ingress.append(entry)
    return {"ingress": ingress}
