"""The controller for one term of leadership: informers, caches, the work queue, workers, resync and gc.

Where this sits: ``runner.py`` starts a ``Controller`` when its replica becomes leader and stops it when the
replica stops leading; tests start one directly. Store changes become queue keys here:

- a Service whose relevant fields changed (``records.service_relevant``): its key, ``urgent`` (it may cut a backoff);
- an EndpointSlice change: the key of the Service it belongs to (before and after, if its label moved);
- a Node change: when the node set changed (``nodes.py``), the key of every Service we own, for new targets.

Workers start only once all three caches are synced, so no Service is ever built from half a cluster.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cloudlb.controller.cache import Change, ClusterCache
from cloudlb.controller.events import EventRecorder
from cloudlb.controller.gc import collect_garbage
from cloudlb.controller.informers import Informer
from cloudlb.controller.kubeclient import KubeAPIError, KubeClient
from cloudlb.controller.leader import LeadershipLost
from cloudlb.controller.metrics import CountingProvider, Metrics
from cloudlb.controller.queue import Item, WorkQueue
from cloudlb.controller.reconcile import InvalidService, Reconciler
from cloudlb.controller.records import has_finalizer, service_relevant, user_changed
from cloudlb.errors import CloudLBError
from cloudlb.provider import Provider

__all__ = ["Controller", "Settings"]

log = logging.getLogger("cloudlb.controller")


@dataclass(frozen=True, slots=True)
class Settings:
    cluster: str = "default"
    load_balancer_class: str = "cloudlb.io/local"
    default_class: bool = False
    workers: int = 4
    resync_period: float = 600.0
    min_sync_interval: float = 1.0
    backoff_initial: float = 5.0
    backoff_max: float = 300.0
    page_size: int = 500
    watch_timeout: tuple[int, int] = (300, 600)


class Controller:
    def __init__(
        self,
        client: KubeClient,
        provider: Provider,
        settings: Settings = Settings(),
        *,
        identity: str = "cloudlb-controller",
        metrics: Metrics | None = None,
        fence: Callable[[], None] = lambda: None,
    ) -> None:
        self.client = client
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.provider = CountingProvider(provider, self.metrics)
        self.fence = fence
        self.cache = ClusterCache()
        self.queue = WorkQueue(
            min_interval=settings.min_sync_interval,
            backoff_initial=settings.backoff_initial,
            backoff_max=settings.backoff_max,
        )
        self.recorder = EventRecorder(
            client, identity=identity, on_result=lambda reason, result: self.metrics.events.labels(reason, result).inc()
        )
        self.reconciler = Reconciler(
            cache=self.cache,
            provider=self.provider,
            client=client,
            recorder=self.recorder,
            cluster=settings.cluster,
            load_balancer_class=settings.load_balancer_class,
            default_class=settings.default_class,
            fence=fence,
        )
        self.informers = [
            Informer(
                client,
                store,
                page_size=settings.page_size,
                watch_timeout=settings.watch_timeout,
                on_restart=lambda resource, reason: self.metrics.watch_restarts.labels(resource, reason).inc(),
            )
            for store in self.cache.stores()
        ]
        self.cache.services.on_changes = self._on_services
        self.cache.slices.on_changes = self._on_slices
        self.cache.nodes.on_changes = self._on_nodes
        self.metrics.queue_depth.set_function(lambda: len(self.queue))
        for store in self.cache.stores():
            self.metrics.cached_objects.labels(store.resource).set_function(store.__len__)
        self.synced = threading.Event()
        self.workers_started = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- lifecycle

    def start(self) -> Controller:
        for informer in self.informers:
            informer.start()
        self._spawn(self._main, "controller")
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop taking work, let running reconciles finish (up to ``timeout``), stop the informers."""
        self._stop.set()
        self.queue.shut_down()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        for informer in self.informers:
            informer.stop()
        for informer in self.informers:
            informer.join(max(0.0, deadline - time.monotonic()))
        self.recorder.close()

    def wait_until_synced(self, timeout: float) -> bool:
        return self.workers_started.wait(timeout)

    def healthy(self) -> tuple[bool, str]:
        dead = [i.resource for i in self.informers if not i.alive()]
        if self._stop.is_set():
            return True, "stopped"
        return (not dead, f"informers stopped: {', '.join(dead)}" if dead else "informers running")

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _main(self) -> None:
        for informer in self.informers:
            while not informer.synced.wait(0.2):
                if self._stop.is_set():
                    return
        self.synced.set()  # before the first refresh, so that no node change can fall between the two
        self.cache.refresh_nodes()
        log.info(
            "caches synced: %d services, %d endpointslices, %d nodes",
            len(self.cache.services),
            len(self.cache.slices),
            len(self.cache.nodes),
        )
        self.gc()
        for i in range(self.settings.workers):
            self._spawn(self._work, f"worker-{i}")
        self.workers_started.set()
        while not self._stop.wait(self.settings.resync_period):
            self.resync()
            self.gc()

    # -- events -> keys

    def _on_services(self, changes: list[Change]) -> None:
        for key, old, new in changes:
            if new is None:
                if self.reconciler.owns(old) or key in self.reconciler.applied:  # a removal always has its old record
                    self.queue.add(key, urgent=True)
                else:
                    self.queue.forget(key)
            elif old is None or user_changed(old, new):
                if self.reconciler.owns(new) or (old is not None and self.reconciler.owns(old)):
                    self.queue.add(key, urgent=True)
            elif (
                service_relevant(old) != service_relevant(new) and not has_finalizer(new) and self.reconciler.owns(new)
            ):
                # Only our finalizer changed. Its appearing is our own write; its going matters only for a Service
                # that still wants a load balancer (someone removed it: put it back).
                self.queue.add(key)

    def _on_slices(self, changes: list[Change]) -> None:
        for key in self.cache.index_slices(changes):
            service = self.cache.services.get(key)
            if service is not None and self.reconciler.owns(service):
                self.queue.add(key)

    def _on_nodes(self, changes: list[Change]) -> None:
        if self.synced.is_set() and self.cache.refresh_nodes():
            self._enqueue_owned()

    def _enqueue_owned(self, *, resync: bool = False) -> None:
        for key in self.cache.services.key_list():
            service = self.cache.services.get(key)
            if service is not None and self.reconciler.owns(service):
                self.queue.add(key, resync=resync)

    def resync(self) -> None:
        """Queue every Service we own for a full ensure, to catch drift in the cloud."""
        self._enqueue_owned(resync=True)

    def gc(self) -> None:
        def services() -> Mapping[str, Mapping[str, Any]]:
            return {key: svc for key in self.cache.services.key_list() if (svc := self.cache.services.get(key))}

        try:
            deleted = collect_garbage(self.provider, self.settings.cluster, services, fence=self.fence)
        except LeadershipLost:
            return
        except CloudLBError as exc:
            log.warning("gc: could not list owned load balancers: %s", exc)
            return
        self.metrics.gc_deleted.inc(len(deleted))

    # -- workers

    def _work(self) -> None:
        while not self._stop.is_set():
            item = self.queue.get()
            if item is None:
                return
            if not self._process(item):
                return

    def _process(self, item: Item) -> bool:
        """Reconcile one key; False when this replica must stop working."""
        self.metrics.queue_wait_seconds.observe(item.waited)
        start = time.monotonic()
        try:
            outcome = self.reconciler.reconcile(item.key, resync=item.resync)
        except LeadershipLost:
            self.queue.done(item, error=True, retry=False)
            self.metrics.reconciles.labels("lost-leadership").inc()
            return False
        except InvalidService as exc:
            log.warning("%s: %s", item.key, exc)
            self.queue.done(item, error=True, retry=False)
            self.metrics.reconciles.labels("invalid").inc()
            self.metrics.reconcile_errors.labels("InvalidService").inc()
        except Exception as exc:
            retry_after = getattr(exc, "retry_after", None)
            delay = self.queue.done(
                item, error=True, retry_after=retry_after if isinstance(retry_after, int | float) else None
            )
            if not isinstance(exc, CloudLBError | KubeAPIError):
                log.exception("%s: reconcile failed; retrying in %.1fs", item.key, delay)
            else:
                log.warning("%s: %s; retrying in %.1fs", item.key, exc, delay)
            self.metrics.reconciles.labels("error").inc()
            self.metrics.reconcile_errors.labels(type(exc).__name__).inc()
        else:
            self.queue.done(item)
            self.metrics.reconciles.labels(str(outcome)).inc()
            if outcome == "skipped" and self.cache.services.get(item.key) is None:
                self.queue.forget(item.key)
        finally:
            self.metrics.reconcile_seconds.observe(time.monotonic() - start)
        return True
