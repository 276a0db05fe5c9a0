"""What TCP and UDP listeners share: binding, in-place reconfiguration, refusals, draining and shutdown.

Where this sits: ``Dataplane`` keeps one ``Listener`` per (address, port, protocol). Each owns a ``Pool`` (which
backend), a ``HealthChecker`` and its source ranges; ``tcp.py`` and ``udp.py`` add the relaying.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import socket

from cloudlb.model import Algorithm, ProxyProtocol

from .binding import bind_error_message, bind_socket
from .config import ListenerConfig, ListenerStatus
from .health import HealthChecker
from .pool import Connection, Pool
from .source_ranges import SourceRanges

__all__ = ["REFUSAL_REASONS", "Listener"]

log = logging.getLogger("cloudlb.dataplane")

REFUSAL_REASONS = ("source_range", "no_backend")
_SETTLE_AFTER_ABORT = 1.0  # how long to wait for aborted connections to report back before giving up on them


class Listener(abc.ABC):
    def __init__(self, config: ListenerConfig, loop: asyncio.AbstractEventLoop) -> None:
        self.config = config
        self.loop = loop
        self.error: str | None = "not bound yet"
        self.pool = Pool(
            name=config.name,
            algorithm=config.algorithm,
            affinity_timeout=config.affinity_timeout,
            ejection_time=config.ejection_time,
            loop=loop,
        )
        self.health = HealthChecker(self.pool)
        self.ranges = SourceRanges(config.source_ranges)
        self.refused = dict.fromkeys(REFUSAL_REASONS, 0)
        self.conns: set[Connection] = set()
        self.needs_peer = False
        self._drained: asyncio.Future[None] | None = None
        self._stopped = False
        self.pool.update(config.backends, drain_timeout=config.drain_timeout)
        self.health.configure(config.health_check)
        self._derive()
        self._maintenance = loop.create_task(self._maintain_forever())

    # -- lifecycle ----------------------------------------------------------------------------------------------

    @property
    @abc.abstractmethod
    def bound(self) -> bool: ...

    @abc.abstractmethod
    async def _serve(self, sock: socket.socket) -> None:
        """Start serving on the bound socket (the loop owns it from here on)."""

    @abc.abstractmethod
    def _stop_serving(self) -> None:
        """Stop taking new connections or datagrams; established TCP connections keep running."""

    async def bind(self) -> str | None:
        """Bind and serve. Returns None, or the one-line error also kept in ``self.error``."""
        cfg = self.config
        try:
            sock = bind_socket(cfg.address, cfg.port, cfg.protocol)
        except OSError as exc:
            self.error = bind_error_message(exc, cfg.address, cfg.port)
            log.warning("%s: %s", cfg.name, self.error)
            return self.error
        try:
            await self._serve(sock)
        except BaseException:
            sock.close()
            raise
        self.error = None
        log.info("serving %s for %s", cfg.name, cfg.lb_id)
        return None

    def reconfigure(self, config: ListenerConfig) -> None:
        """Apply a new config for the same key without touching established connections."""
        old, self.config = self.config, config
        pool = self.pool
        pool.algorithm = config.algorithm
        pool.affinity_timeout = config.affinity_timeout
        pool.ejection_time = config.ejection_time
        if config.source_ranges != old.source_ranges:
            self.ranges = SourceRanges(config.source_ranges)
            self._ranges_changed()
        pool.update(config.backends, drain_timeout=config.drain_timeout)
        self.health.configure(config.health_check)
        self._derive()
        if config != old:
            log.info("reconfigured %s for %s", config.name, config.lb_id)

    def _derive(self) -> None:
        cfg = self.config
        self.needs_peer = (
            not self.ranges.everyone
            or cfg.algorithm is Algorithm.SOURCE_IP
            or cfg.proxy_protocol is not ProxyProtocol.NONE
        )

    def _ranges_changed(self) -> None:
        """Hook: the source ranges changed. New TCP connections are checked anyway; UDP drops its flows."""
        return None

    async def drain(self, timeout: float) -> None:
        """Stop accepting, let connections finish for up to ``timeout`` seconds, then cut the rest and shut down.

        Safe to call again or concurrently (``Dataplane.close`` shortens a drain already under way)."""
        self.stop()
        if self.conns:
            if self._drained is None:
                self._drained = self.loop.create_future()
            try:
                await asyncio.wait_for(asyncio.shield(self._drained), timeout)
            except TimeoutError:
                log.info("%s: drain timeout, cutting %d connections", self.config.name, len(self.conns))
                for conn in list(self.conns):
                    conn.abort()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(self._drained), _SETTLE_AFTER_ABORT)
        await self.health.close()
        self._maintenance.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._maintenance
        self.pool.close()

    def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            self._stop_serving()
            if self.error is None:
                log.info("stopped %s (%d connections draining)", self.config.name, len(self.conns))

    # -- per connection -----------------------------------------------------------------------------------------

    def refuse(self, reason: str) -> None:
        self.refused[reason] += 1

    def track(self, conn: Connection) -> None:
        self.conns.add(conn)

    def untrack(self, conn: Connection) -> None:
        self.conns.discard(conn)
        if not self.conns and self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    # -- housekeeping -------------------------------------------------------------------------------------------

    def _tick(self) -> float:
        return 1.0

    def _maintain(self) -> None:
        self.pool.sweep_affinity()

    async def _maintain_forever(self) -> None:
        while True:
            await asyncio.sleep(self._tick())
            try:
                self._maintain()
            except Exception:  # housekeeping must never stop the listener
                log.exception("%s: housekeeping failed", self.config.name)

    def status(self) -> ListenerStatus:
        return ListenerStatus(
            error=self.error,
            backends={state.backend: state.health() for state in self.pool.states()},
            active_connections=len(self.conns),
            refused=dict(self.refused),
        )
