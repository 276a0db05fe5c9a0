"""Watch streams: the events of one resource after a resourceVersion, as the real watch cache serves them.

Where this sits: ``server.py`` turns a ``GET ...?watch=true`` into ``watch_events(...)`` and writes each event it
yields as one JSON line in a chunked response; the events come from ``store.py``'s change history.

The semantics follow the real server, because informers depend on each of them:
- no resourceVersion, or "0": synthetic ADDED events for what exists now, then the changes after it;
- resourceVersion N: exactly the changes after N; if N has been compacted away, a single ERROR event carrying a
  410 Expired Status (HTTP 200, as the real server answers), which makes a client re-list;
- a selector turns an update that moves an object into (out of) the selection into ADDED (DELETED);
- ``allowWatchBookmarks=true``: a BOOKMARK carrying only a resourceVersion every ``bookmark_interval`` seconds;
  ``sendInitialEvents=true`` ends the initial ADDED events with a bookmark annotated ``k8s.io/initial-events-end``;
- ``timeoutSeconds`` ends the stream cleanly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from cloudlb.testing.kubeapi.errors import KubeError
from cloudlb.testing.kubeapi.resources import ResourceType
from cloudlb.testing.kubeapi.selectors import field_selector, label_selector
from cloudlb.testing.kubeapi.store import Change, Store

__all__ = ["watch_events"]

# How often a quiet watch wakes to notice a client that went away; it does not affect what is delivered.
_POLL_SECONDS = 0.5


def _event(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "object": obj}


def _bookmark(rt: ResourceType, rv: int, *, initial_end: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"resourceVersion": str(rv)}
    if initial_end:
        meta["annotations"] = {"k8s.io/initial-events-end": "true"}
    return _event("BOOKMARK", {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": meta})


def _as_seen(change: Change, selected: Callable[[dict[str, Any]], bool]) -> str | None:
    """The event type this watcher sees for ``change``, or None when the change is outside its selection."""
    if change.type == "DELETED":
        return "DELETED" if selected(change.obj) else None
    now_in = selected(change.obj)
    was_in = change.prev is not None and selected(change.prev)
    if now_in:
        return "MODIFIED" if was_in else "ADDED"
    return "DELETED" if was_in else None


def watch_events(
    store: Store,
    rt: ResourceType,
    namespace: str | None,
    query: dict[str, str],
    *,
    bookmark_interval: float,
    max_seconds: float,
    client_gone: Callable[[], bool] = lambda: False,
) -> Iterator[dict[str, Any]]:
    """The stream of watch events for one request.

    Bad parameters raise ``KubeError`` here, before the caller commits to a 200 streaming answer; the returned
    iterator then ends at the timeout, when the client leaves, when the server stops, or after an ERROR event.
    """
    labels = label_selector(query.get("labelSelector"))
    fields = field_selector(query.get("fieldSelector"), rt.field_labels)

    def selected(obj: dict[str, Any]) -> bool:
        if namespace is not None and obj["metadata"].get("namespace") != namespace:
            return False
        return labels(obj) and fields(obj)

    timeout = float(query["timeoutSeconds"]) if query.get("timeoutSeconds", "").isdigit() else max_seconds
    asked = query.get("resourceVersion") or "0"
    if not asked.isdigit():
        raise KubeError.bad_request(f"invalid resource version: {asked!r}")
    send_initial = query.get("sendInitialEvents") == "true"
    initial: list[dict[str, Any]] = []
    with store.lock:
        if asked == "0" or send_initial:
            current = store.current(rt.storage)
            initial = [current[key] for key in sorted(current) if selected(current[key])]
            position = store.revision
        else:
            position = int(asked)
    stream = _Stream(store, rt, selected, bookmark_interval, query.get("allowWatchBookmarks") in ("true", "1"))
    return stream.run(initial, position, send_initial, time.monotonic() + min(timeout, max_seconds), client_gone)


class _Stream:
    def __init__(
        self,
        store: Store,
        rt: ResourceType,
        selected: Callable[[dict[str, Any]], bool],
        bookmark_interval: float,
        bookmarks: bool,
    ) -> None:
        self.store, self.rt, self.selected = store, rt, selected
        self.bookmark_interval, self.bookmarks = bookmark_interval, bookmarks

    def run(
        self,
        initial: list[dict[str, Any]],
        position: int,
        send_initial: bool,
        deadline: float,
        client_gone: Callable[[], bool],
    ) -> Iterator[dict[str, Any]]:
        store, rt = self.store, self.rt
        for obj in initial:
            yield _event("ADDED", rt.wire(obj))
        if send_initial and self.bookmarks:
            yield _bookmark(rt, position, initial_end=True)
        next_bookmark = time.monotonic() + self.bookmark_interval
        while True:
            expired: KubeError | None = None
            with store.lock:
                if store.closed:
                    return
                try:
                    changes = store.changes_after(position)
                except KubeError as exc:
                    changes, expired = [], exc
                scanned = store.revision
                if not changes and expired is None:
                    wake = min(
                        deadline, next_bookmark if self.bookmarks else deadline, time.monotonic() + _POLL_SECONDS
                    )
                    store.changed.wait(max(0.0, wake - time.monotonic()))
            if expired is not None:
                # A watcher that fell behind the history window is told the same way as one that asked too late.
                yield _event("ERROR", expired.status())
                return
            for change in changes:
                if change.storage == rt.storage and (seen := _as_seen(change, self.selected)):
                    yield _event(seen, rt.wire(change.obj))
            if changes:
                position = scanned
            now = time.monotonic()
            if now >= deadline or client_gone():
                return
            if self.bookmarks and now >= next_bookmark:
                yield _bookmark(rt, position)
                next_bookmark = now + self.bookmark_interval
