"""Informers: list, then watch from the list's resourceVersion, into a ``Store``; re-list when history is gone.

Where this sits: the controller runs one ``Informer`` thread per resource (Services, EndpointSlices, Nodes). The
protocol is the one every Kubernetes client follows:

- **list** in pages (``limit`` + ``continue``) so a large cluster never sits in memory as one response; the last
  page's resourceVersion is where the watch starts;
- **watch** from that resourceVersion with ``allowWatchBookmarks``; every event and every BOOKMARK moves the
  resourceVersion on, so a watch that ends (the server's timeout, a dropped connection) resumes where it was and
  a quiet resource does not fall out of the server's history;
- **410 Gone** (a resourceVersion older than the server's history, as an HTTP status or as an ERROR event inside the
  stream) means events were missed: re-list, and the store reports what vanished meanwhile as deleted;
- other failures back off (1 s doubling to 30 s) and retry, keeping the cache: stale data beats none.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from typing import Any

from cloudlb.controller.cache import Store
from cloudlb.controller.kubeclient import KubeAPIError, KubeClient, WatchStream

__all__ = ["Informer"]

log = logging.getLogger("cloudlb.controller.informers")

RETRY_INITIAL = 1.0
RETRY_MAX = 30.0


class Informer:
    """Keeps ``store`` equal to ``resource`` on the API server. ``synced`` is set once the first list is in."""

    def __init__(
        self,
        client: KubeClient,
        store: Store[Any],
        *,
        page_size: int = 500,
        watch_timeout: tuple[int, int] = (300, 600),
        on_restart: Callable[[str, str], None] = lambda resource, reason: None,
    ) -> None:
        self.client = client
        self.store = store
        self.resource = store.resource
        self.page_size = page_size
        self.watch_timeout = watch_timeout  # a random timeout in this range spreads the re-watches of replicas
        self.on_restart = on_restart
        self.synced = threading.Event()
        self.resource_version: str | None = None
        self._stop = threading.Event()
        self._stream: WatchStream | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # -- lifecycle

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name=f"informer-{self.resource}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            stream = self._stream
        if stream is not None:
            stream.close()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- the loop

    def run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                if self.resource_version is None:
                    self.resource_version = self._list()
                    self.synced.set()
                self._watch()
                failures = 0
            except KubeAPIError as exc:
                if self._stop.is_set():
                    return
                if exc.gone:
                    log.info("%s: resourceVersion %s is too old (410 Gone): re-listing", self.resource, exc)
                    self.resource_version = None
                    self.on_restart(self.resource, "gone")
                    continue
                failures += 1
                delay = min(RETRY_MAX, RETRY_INITIAL * 2 ** (failures - 1)) * random.uniform(0.8, 1.0)
                log.warning("%s: %s; retrying in %.1fs", self.resource, exc, delay)
                self.on_restart(self.resource, "error")
                self._stop.wait(delay)
            except Exception:  # a bug must not silently end the informer: log it, back off, go on
                log.exception("%s: informer failed", self.resource)
                self.on_restart(self.resource, "error")
                self._stop.wait(RETRY_MAX)

    def _list(self) -> str:
        self.store.begin_relist()
        complete = False
        try:
            token: str | None = None
            while True:
                page = self.client.list(self.resource, limit=self.page_size, continue_token=token)
                for item in page.get("items") or ():
                    self.store.upsert(item)
                meta = page.get("metadata") or {}
                token = meta.get("continue") or None
                if token is None:
                    complete = True
                    return str(meta.get("resourceVersion") or "")
        finally:
            self.store.end_relist(complete=complete)

    def _watch(self) -> None:
        assert self.resource_version is not None
        stream = self.client.watch(
            self.resource, resource_version=self.resource_version, timeout_seconds=random.randint(*self.watch_timeout)
        )
        with self._lock:
            self._stream = stream
        if self._stop.is_set():
            stream.close()
        try:
            for event in stream:
                if self._stop.is_set():
                    return
                self._handle(event)
        finally:
            with self._lock:
                self._stream = None

    def _handle(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        obj = event.get("object")
        if not isinstance(obj, dict):
            return
        if kind == "ERROR":
            code = int(obj.get("code") or 0)
            raise KubeAPIError(code, str(obj.get("reason") or "WatchError"), str(obj.get("message") or ""))
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if kind in ("ADDED", "MODIFIED"):
            self.store.upsert(obj)
        elif kind == "DELETED":
            self.store.remove(obj)
        elif kind != "BOOKMARK":
            log.warning("%s: ignoring a watch event of type %r", self.resource, kind)
        if rv:
            self.resource_version = str(rv)
