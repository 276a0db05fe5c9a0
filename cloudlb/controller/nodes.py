"""The node set: which node changes make load balancers change, following Kubernetes' service controller.

Where this sits: the node informer's store reports every change to a slim node record (``records.slim_node``,
which already leaves out readiness and heartbeats); ``NodeSet.refresh`` then decides whether the set of target
nodes changed. Only then are Services requeued, and then for ``update_targets``, not a full ensure.

What counts, as in Kubernetes: a node added or removed; the exclude label
``node.kubernetes.io/exclude-from-external-load-balancers``; ``spec.providerID``; the cluster autoscaler's
``ToBeDeletedByClusterAutoscaler`` taint; a deletion mark. cloudlb also counts a changed InternalIP or zone, since
both are part of each target. Node readiness never counts: the balancer's health check decides.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from cloudlb.errors import InvalidSpecError
from cloudlb.targets import NodePool

__all__ = ["NodeSet"]

_FAMILIES = ("IPv4", "IPv6")


class NodeSet:
    """The current nodes as one shared, parsed ``NodePool``, and a signature of who is a target."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool = NodePool.of(())
        self._signature: object = self._sign(self._pool)
        self.version = 0  # grows by one with every change to the node set

    def pool(self) -> NodePool:
        """The pool every reconcile builds its targets from: nodes are parsed once per family, not per Service."""
        with self._lock:
            return self._pool

    def refresh(self, nodes: Iterable[Any]) -> bool:
        """Adopt ``nodes`` (slim records). True when the set of targets changed and Services need new targets."""
        pool = NodePool.of(nodes)
        signature = self._sign(pool)
        with self._lock:
            self._pool = pool
            if signature == self._signature:
                return False
            self._signature = signature
            self.version += 1
            return True

    @staticmethod
    def _sign(pool: NodePool) -> object:
        try:
            return tuple(frozenset(pool.eligible(family)) for family in _FAMILIES)
        except InvalidSpecError as exc:
            # A malformed node fails every node-mode Service's build; the error itself is the signature, so that
            # fixing the node counts as a change.
            return ("invalid", str(exc))
