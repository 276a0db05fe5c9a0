"""The data plane's front door: make the running listeners equal to a desired set, report status, shut down.

Where this sits: the local provider's daemon calls ``apply`` with every listener of every load balancer it holds
(the full desired set, each time), shows ``status`` in the API and the LB status, and serves the metrics
registry. Everything below (``tcp.py``, ``udp.py``, ``pool.py``, ``health.py``) is driven from here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry

from cloudlb.model import Protocol

from .config import ListenerConfig, ListenerKey, ListenerStatus
from .listener import Listener
from .metrics import DataplaneCollector
from .tcp import TcpListener
from .udp import UdpListener

__all__ = ["Dataplane"]

log = logging.getLogger("cloudlb.dataplane")


def _new_listener(config: ListenerConfig, loop: asyncio.AbstractEventLoop) -> Listener:
    if config.protocol is Protocol.TCP:
        return TcpListener(config, loop)
    return UdpListener(config, loop)


class Dataplane:
    """Serves a set of TCP and UDP listeners on the running event loop."""

    def __init__(self, *, metrics_registry: CollectorRegistry | None = None) -> None:
        self.registry = metrics_registry if metrics_registry is not None else CollectorRegistry()
        self._listeners: dict[ListenerKey, Listener] = {}
        self._retiring: dict[Listener, asyncio.Task[None]] = {}  # removed, draining their connections
        self._lock = asyncio.Lock()
        self._closed = False
        self._collector = DataplaneCollector(self._all_listeners)
        self.registry.register(self._collector)

    def _all_listeners(self) -> Iterator[Listener]:
        yield from list(self._listeners.values())
        yield from list(self._retiring)

    async def apply(self, listeners: Iterable[ListenerConfig]) -> dict[ListenerKey, str | None]:
        """Make the served listeners exactly ``listeners``; returns each one's bind error, or None if serving.

        New keys are bound, missing keys stop accepting and drain, kept keys are reconfigured in place. A failed
        bind leaves the other listeners alone and is retried by the next ``apply``."""
        desired: dict[ListenerKey, ListenerConfig] = {}
        for config in listeners:
            if desired.get(config.key, config) != config:
                raise ValueError(f"two different configs for listener {config.name}")
            desired[config.key] = config
        async with self._lock:
            if self._closed:
                raise RuntimeError("the data plane is closed")
            loop = asyncio.get_running_loop()
            for key in [k for k in self._listeners if k not in desired]:
                self._retire(self._listeners.pop(key), loop)
            result: dict[ListenerKey, str | None] = {}
            for key, config in desired.items():
                listener = self._listeners.get(key)
                if listener is None:
                    listener = self._listeners[key] = _new_listener(config, loop)
                else:
                    listener.reconfigure(config)
                if not listener.bound:
                    await listener.bind()
                result[key] = listener.error
            return result

    def _retire(self, listener: Listener, loop: asyncio.AbstractEventLoop) -> None:
        listener.stop()  # frees the port at once, so the same key can be bound again by a later apply
        task = loop.create_task(listener.drain(listener.config.drain_timeout))
        self._retiring[listener] = task
        task.add_done_callback(lambda _: self._retiring.pop(listener, None))

    def status(self) -> dict[ListenerKey, ListenerStatus]:
        """Every desired listener: its bind error (or None) and each backend's health and connection counts."""
        return {key: listener.status() for key, listener in self._listeners.items()}

    async def close(self, *, drain_timeout: float = 5.0) -> None:
        """Stop accepting everywhere, let established connections finish for up to ``drain_timeout`` seconds."""
        async with self._lock:
            if self._closed:
                return
            self._closed = True
            listeners = list(self._all_listeners())
            self._listeners.clear()
            for listener in listeners:
                listener.stop()
            await asyncio.gather(*(listener.drain(drain_timeout) for listener in listeners))
            # Earlier removals had longer drains of their own; the drains above already cut them short.
            retiring = list(self._retiring.values())
            for task in retiring:
                task.cancel()
            await asyncio.gather(*retiring, return_exceptions=True)
            self.registry.unregister(self._collector)
            log.info("data plane closed")
