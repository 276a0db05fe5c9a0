"""The controller's local caches: one ``Store`` of slim records per watched resource, plus the indexes reconciles use.

Where this sits: each informer (``informers.py``) writes into one ``Store``; a store keeps only the slim record of
each object (``records.py``) and reports the records that really changed, in batches (a whole re-list is one
batch), to the controller, which turns them into work-queue keys. Workers read the stores when they reconcile.

Only the informer thread writes a store; workers read it concurrently, so every access takes the store's lock and
readers get their own copies of anything they iterate.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from cloudlb.controller.nodes import NodeSet
from cloudlb.controller.records import SlimSlice, object_key, slim_node, slim_service, slim_slice
from cloudlb.targets import NodePool

__all__ = ["Change", "ClusterCache", "Store"]

R = TypeVar("R")
JSON = dict[str, Any]
# (key, old record or None, new record or None)
Change = tuple[str, Any, Any]


class Store(Generic[R]):
    """Slim records of one resource by ``namespace/name``. ``on_changes`` hears each batch of real changes."""

    def __init__(self, resource: str, slim: Callable[[Mapping[str, Any]], R]) -> None:
        self.resource = resource
        self._slim = slim
        self._lock = threading.Lock()
        self._records: dict[str, R] = {}
        self._relisting: set[str] | None = None  # keys seen so far in the re-list under way
        self._batch: list[Change] = []
        self.on_changes: Callable[[list[Change]], None] = lambda changes: None

    def __len__(self) -> int:
        return len(self._records)

    def get(self, key: str) -> R | None:
        with self._lock:
            return self._records.get(key)

    def values(self) -> list[R]:
        with self._lock:
            return list(self._records.values())

    def key_list(self) -> list[str]:
        with self._lock:
            return list(self._records)

    def upsert(self, obj: Mapping[str, Any]) -> None:
        key = object_key(obj)
        record = self._slim(obj)
        with self._lock:
            old = self._records.get(key)
            self._records[key] = record
            if self._relisting is not None:
                self._relisting.add(key)
        if old != record:
            self._emit((key, old, record))

    def remove(self, obj: Mapping[str, Any]) -> None:
        key = object_key(obj)
        with self._lock:
            old = self._records.pop(key, None)
        if old is not None:
            self._emit((key, old, None))

    def begin_relist(self) -> None:
        """Start replacing the whole content: changes are held back until ``end_relist`` reports them together."""
        with self._lock:
            self._relisting = set()

    def end_relist(self, *, complete: bool = True) -> None:
        """Report the re-list's changes. When it ``complete``d, objects it did not return were deleted while no watch
        was open: they go too. A re-list that failed half-way removes nothing; the next one will."""
        with self._lock:
            seen, self._relisting = self._relisting or set(), None
            gone = [(key, self._records.pop(key), None) for key in list(self._records) if complete and key not in seen]
            batch, self._batch = self._batch + gone, []
        if batch:
            self.on_changes(batch)

    def _emit(self, change: Change) -> None:
        with self._lock:
            if self._relisting is not None:
                self._batch.append(change)
                return
        self.on_changes([change])


class ClusterCache:
    """Services, EndpointSlices (indexed by their Service) and Nodes (as a ``NodeSet``)."""

    def __init__(self) -> None:
        self.services: Store[JSON] = Store("services", slim_service)
        self.slices: Store[SlimSlice] = Store("endpointslices", slim_slice)
        self.nodes: Store[JSON] = Store("nodes", slim_node)
        self.node_set = NodeSet()
        self._index_lock = threading.Lock()
        self._nodes_lock = threading.Lock()
        self._slices_of: dict[str, set[str]] = {}  # service key -> slice keys

    def stores(self) -> tuple[Store[Any], ...]:
        return (self.services, self.slices, self.nodes)

    def index_slices(self, changes: list[Change]) -> set[str]:
        """Keep the slice index current; the keys of the Services whose slices changed."""
        touched: set[str] = set()
        with self._index_lock:
            for key, old, new in changes:
                for record, present in ((old, False), (new, True)):
                    service = record.service_key if record is not None else None
                    if service is None:
                        continue
                    touched.add(service)
                    keys = self._slices_of.setdefault(service, set())
                    if present:
                        keys.add(key)
                    else:
                        keys.discard(key)
                        if not keys:
                            del self._slices_of[service]
        return touched

    def slices_for(self, service_key: str) -> list[JSON]:
        """The EndpointSlices of one Service, as manifests."""
        with self._index_lock:
            keys = sorted(self._slices_of.get(service_key, ()))
        records = (self.slices.get(key) for key in keys)
        return [record.manifest() for record in records if record is not None]

    def node_pool(self) -> NodePool:
        return self.node_set.pool()

    def refresh_nodes(self) -> bool:
        """Recompute the node set after node changes; True when the targets of node-mode Services change.

        Serialised, and reading the store inside the lock, so that of two refreshes racing the last one to run
        also saw the latest nodes."""
        with self._nodes_lock:
            return self.node_set.refresh(self.nodes.values())
