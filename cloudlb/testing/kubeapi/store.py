"""The fake API server's etcd: objects, one global resourceVersion counter, and a bounded history of changes.

Where this sits: ``registry.py`` decides what a request means and calls ``put``/``remove`` here under ``lock``;
``watch.py`` reads ``changes_after`` and sleeps on ``changed``. Like etcd, every write takes the next revision,
so resourceVersions are comparable integers (clients must still treat them as opaque strings).

The history is bounded like an etcd compaction window: a watch, an exact list or a list continuation that needs a
change older than the window gets 410 Expired, which is how tests make an informer re-list. Stored objects are
never mutated after ``put`` (each write stores a new dict), so a reader may hold one without copying.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from cloudlb.testing.kubeapi.errors import KubeError

__all__ = ["FIRST_REVISION", "Change", "Key", "Store"]

Key = tuple[str, str]  # (namespace, name); the namespace is "" for cluster-scoped kinds

# A real cluster never answers resourceVersion "0" (it means "any version" in a request), so neither does the fake.
FIRST_REVISION = 100


@dataclass(frozen=True)
class Change:
    """One write. ``obj`` is the state after it; a DELETED change carries the last state at the deletion's rv."""

    rv: int
    storage: str
    type: str  # ADDED, MODIFIED or DELETED
    obj: dict[str, Any]
    prev: dict[str, Any] | None


def key_of(obj: dict[str, Any]) -> Key:
    meta = obj["metadata"]
    return (meta.get("namespace") or "", meta["name"])


def _stamped(obj: dict[str, Any], rv: int) -> dict[str, Any]:
    return {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(rv)}}


class Store:
    def __init__(self, history: int = 10_000) -> None:
        if history < 1:
            raise ValueError("history must keep at least one change")
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.closed = False
        self._objects: dict[str, dict[Key, dict[str, Any]]] = defaultdict(dict)
        self._revision = FIRST_REVISION
        self._changes: list[Change] = []
        self._compacted = FIRST_REVISION  # every change at or below this revision is gone
        self._history = history

    @property
    def revision(self) -> int:
        return self._revision

    def get(self, storage: str, key: Key) -> dict[str, Any] | None:
        return self._objects[storage].get(key)

    def current(self, storage: str) -> dict[Key, dict[str, Any]]:
        """The live mapping; read it under ``lock`` and do not change it."""
        return self._objects[storage]

    def put(self, storage: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Store ``obj`` (which the caller must not touch again) at the next revision; ADDED or MODIFIED."""
        with self.lock:
            key = key_of(obj)
            prev = self._objects[storage].get(key)
            self._revision += 1
            stored = _stamped(obj, self._revision)
            self._objects[storage][key] = stored
            self._record(Change(self._revision, storage, "MODIFIED" if prev else "ADDED", stored, prev))
            return stored

    def remove(self, storage: str, last: dict[str, Any]) -> dict[str, Any]:
        """Delete the object ``last`` describes; the DELETED change carries ``last`` at the deletion's revision."""
        with self.lock:
            prev = self._objects[storage].pop(key_of(last))
            self._revision += 1
            gone = _stamped(last, self._revision)
            self._record(Change(self._revision, storage, "DELETED", gone, prev))
            return gone

    def _record(self, change: Change) -> None:
        self._changes.append(change)
        excess = len(self._changes) - self._history
        if excess > 0:
            self._compacted = self._changes[excess - 1].rv
            del self._changes[:excess]
        self.changed.notify_all()

    def compact(self) -> None:
        """Forget the whole history, as an etcd compaction at the current revision would."""
        with self.lock:
            self._compacted = self._revision
            self._changes.clear()

    def changes_after(self, rv: int, *, what: str = "resource version") -> list[Change]:
        """Every change with a revision above ``rv`` (all storages), or 410 Expired if some are compacted away."""
        with self.lock:
            if rv < self._compacted:
                raise KubeError.expired(f"too old {what}: {rv} ({self._compacted + 1})")
            # Revisions are contiguous, one per change, so the position is arithmetic.
            first = self._changes[0].rv if self._changes else self._revision + 1
            return self._changes[max(0, rv + 1 - first) :]

    def state_at(self, storage: str, rv: int) -> dict[Key, dict[str, Any]]:
        """The objects of ``storage`` as they were at revision ``rv``, rebuilt by undoing the later changes."""
        with self.lock:
            if rv > self._revision:
                raise KubeError(504, "Timeout", f"Too large resource version: {rv}, current: {self._revision}")
            state = dict(self._objects[storage])
            for change in reversed(self.changes_after(rv)):
                if change.storage != storage:
                    continue
                key = key_of(change.obj)
                if change.prev is None:
                    state.pop(key, None)
                else:
                    state[key] = change.prev
            return state

    def close(self) -> None:
        """Wake every watcher so it can finish; the server is going away."""
        with self.lock:
            self.closed = True
            self.changed.notify_all()
