"""Garbage collection: delete load balancers whose Service is gone, found through ``provider.list_owned``.

Where this sits: the finalizer covers every deletion the controller sees. This covers the rest: a Service deleted
while no controller ran and whose finalizer was forced off, or a cluster restored without its Services. The
controller runs it once its caches are synced after it became leader, and after every periodic resync.

The order matters: the load balancers are listed first and the Services read from the cache after, so a load
balancer a worker has just created for a new Service is never mistaken for an orphan; its Service was in the cache
before the load balancer existed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from cloudlb.controller.records import FINALIZER
from cloudlb.errors import CloudLBError
from cloudlb.model import OwnedLoadBalancer
from cloudlb.provider import Provider

__all__ = ["collect_garbage", "orphaned"]

log = logging.getLogger("cloudlb.controller.gc")


def orphaned(owned: OwnedLoadBalancer, service: Mapping[str, Any] | None) -> str | None:
    """Why ``owned`` is an orphan, or None when its Service may still need it."""
    if service is None:
        return "its Service no longer exists"
    meta = service.get("metadata") or {}
    uid = meta.get("uid") or ""
    if owned.uid and uid and owned.uid != uid:
        return f"its Service was recreated (uid {owned.uid} is now {uid})"
    spec = service.get("spec") or {}
    finalizers = meta.get("finalizers") or []
    if spec.get("type") != "LoadBalancer" and FINALIZER not in finalizers:
        return f"its Service is of type {spec.get('type') or 'ClusterIP'} and has no clean-up finalizer"
    return None


def collect_garbage(
    provider: Provider,
    cluster: str,
    services: Callable[[], Mapping[str, Mapping[str, Any]]],
    *,
    fence: Callable[[], None] = lambda: None,
) -> list[OwnedLoadBalancer]:
    """Delete every load balancer of ``cluster`` that ``orphaned`` condemns; the ones deleted.

    ``services`` returns the cached Services by ``namespace/name``; it is called after the listing (see above).
    A failed delete is logged and left for the next run.
    """
    owned = provider.list_owned(cluster)
    current = services()
    deleted = []
    for lb in owned:
        reason = orphaned(lb, current.get(f"{lb.namespace}/{lb.name}"))
        if reason is None:
            continue
        log.info("gc: deleting %s (%s) of %s/%s: %s", lb.cloud_name, lb.cloud_id, lb.namespace, lb.name, reason)
        fence()
        try:
            if provider.delete(lb):
                deleted.append(lb)
        except CloudLBError as exc:
            log.warning("gc: could not delete %s (%s): %s", lb.cloud_name, lb.cloud_id, exc)
    return deleted
