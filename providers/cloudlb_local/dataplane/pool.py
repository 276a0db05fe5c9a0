"""A listener's backend pool: membership, health, draining, and the choice of a backend per connection.

Where this sits: each TCP or UDP listener owns one ``Pool``. The relays ask ``pick`` for a backend and report
connect failures (passive ejection); the health checker reports probe results; ``update`` applies a new backend
set in place, moving removed backends to draining so their established connections can finish.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Collection, Iterator
from typing import Protocol

from cloudlb.model import Algorithm

from .config import Backend, BackendHealth, HealthCheckConfig

__all__ = ["BackendState", "Connection", "Pool"]

log = logging.getLogger("cloudlb.dataplane")


class Connection(Protocol):
    """What a pool needs of a live TCP connection or UDP flow: its byte counts and a way to cut it."""

    rx: int
    tx: int

    def abort(self) -> None: ...


class BackendState:
    """Mutable bookkeeping for one backend of one listener. Only the event loop thread touches it."""

    __slots__ = (
        "_timer",
        "active",
        "backend",
        "bytes_in",
        "bytes_out",
        "connect_errors",
        "conns",
        "draining",
        "failures",
        "healthy",
        "last_error",
        "successes",
        "target",
        "total",
    )

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.target = str(backend)
        # A new backend starts healthy: a fresh pool must serve at once rather than wait thresholds x interval,
        # and a backend that is in fact down is caught by the first failed connect (passive ejection).
        self.healthy = True
        self.draining = False
        self.active = 0  # connections being set up or relaying (UDP: live flows)
        self.total = 0
        self.connect_errors = 0
        self.bytes_in = 0  # of connections already closed; live ones are summed from ``conns``
        self.bytes_out = 0
        self.conns: set[Connection] = set()
        self.successes = 0
        self.failures = 0
        self.last_error: str | None = None
        self._timer: asyncio.TimerHandle | None = None

    def cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def health(self) -> BackendHealth:
        conns = list(self.conns)  # a copy: a metrics scrape may run in another thread
        return BackendHealth(
            healthy=self.healthy,
            active_connections=self.active,
            draining=self.draining,
            total_connections=self.total,
            connect_errors=self.connect_errors,
            bytes_in=self.bytes_in + sum(c.rx for c in conns),
            bytes_out=self.bytes_out + sum(c.tx for c in conns),
            last_error=self.last_error,
        )


class Pool:
    def __init__(
        self,
        *,
        name: str,
        algorithm: Algorithm,
        affinity_timeout: float,
        ejection_time: float,
        loop: asyncio.AbstractEventLoop,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.name = name  # the listener's, for log lines
        self.algorithm = algorithm
        self.affinity_timeout = affinity_timeout
        self.ejection_time = ejection_time
        self.active_checks = False  # with active checks, those restore an ejected backend; without, a timer does
        self._loop = loop
        self._clock = clock or loop.time
        self.members: dict[Backend, BackendState] = {}
        self.draining: dict[Backend, BackendState] = {}
        self._ordered: tuple[BackendState, ...] = ()
        self._candidates: tuple[BackendState, ...] = ()
        self._candidate_set: frozenset[BackendState] = frozenset()
        self._next = 0  # the round-robin cursor, shared by the tie-breaks
        self._affinity: dict[str, tuple[BackendState, float]] = {}

    # -- membership ---------------------------------------------------------------------------------------------

    def update(self, backends: frozenset[Backend], *, drain_timeout: float) -> list[BackendState]:
        """Make ``backends`` the members. Returns the states that were added (the health checker probes them)."""
        added: list[BackendState] = []
        for backend in backends - self.members.keys():
            state = self.draining.pop(backend, None)
            if state is None:
                state = BackendState(backend)
            else:  # back before its drain finished: keep its connections and counters, start healthy like a new one
                state.draining = False
                state.healthy = True
                state.cancel_timer()
            self.members[backend] = state
            added.append(state)
        for backend in self.members.keys() - backends:
            self._retire(self.members.pop(backend), drain_timeout)
        self._reorder()
        return added

    def _retire(self, state: BackendState, drain_timeout: float) -> None:
        state.cancel_timer()
        state.draining = True
        if state.active == 0:
            return
        self.draining[state.backend] = state
        state._timer = self._loop.call_later(drain_timeout, self._drain_expired, state)
        log.info("draining %s of %s (%d connections, up to %gs)", state.target, self.name, state.active, drain_timeout)

    def _drain_expired(self, state: BackendState) -> None:
        state._timer = None
        if state.conns:
            log.info("drain timeout: cutting %d connections to %s of %s", len(state.conns), state.target, self.name)
        for conn in list(state.conns):
            conn.abort()

    def released(self, state: BackendState) -> None:
        """A connection of ``state`` ended; forget a draining backend once its last one is gone."""
        if state.draining and state.active == 0 and self.draining.get(state.backend) is state:
            state.cancel_timer()
            del self.draining[state.backend]

    def states(self) -> Iterator[BackendState]:
        yield from list(self.members.values())
        yield from list(self.draining.values())

    def close(self) -> None:
        for state in self.states():
            state.cancel_timer()

    def _reorder(self) -> None:
        self._ordered = tuple(self.members[b] for b in sorted(self.members))
        healthy = tuple(s for s in self._ordered if s.healthy)
        # Fail open: when every member is unhealthy, try them all, as cloud load balancers do.
        self._candidates = healthy or self._ordered
        self._candidate_set = frozenset(self._candidates)

    # -- choosing -----------------------------------------------------------------------------------------------

    @property
    def empty(self) -> bool:
        return not self._ordered

    def usable(self, state: BackendState) -> bool:
        return state in self._candidate_set

    def pick(self, client_ip: str | None, exclude: Collection[BackendState] = ()) -> BackendState | None:
        """The backend for a new connection from ``client_ip``, or None when no (untried) backend is left."""
        candidates = self._candidates
        if exclude:
            candidates = tuple(s for s in candidates if s not in exclude)
        if not candidates:
            return None
        algorithm = self.algorithm
        if algorithm is Algorithm.ROUND_ROBIN:
            return self._rotate(candidates)
        if algorithm is Algorithm.RANDOM:
            return random.choice(candidates)
        if algorithm is Algorithm.LEAST_CONNECTIONS:
            fewest = min(s.active for s in candidates)
            return self._rotate(tuple(s for s in candidates if s.active == fewest))
        return self._sticky(client_ip, candidates)

    def _rotate(self, candidates: tuple[BackendState, ...]) -> BackendState:
        state = candidates[self._next % len(candidates)]
        self._next += 1
        return state

    def _sticky(self, client_ip: str | None, candidates: tuple[BackendState, ...]) -> BackendState:
        if client_ip is None:
            return self._rotate(candidates)
        now = self._clock()
        entry = self._affinity.get(client_ip)
        if entry is not None:
            state, last = entry
            if now - last <= self.affinity_timeout and state in candidates:
                self._affinity[client_ip] = (state, now)
                return state
        state = self._rotate(candidates)
        self._affinity[client_ip] = (state, now)
        return state

    def sweep_affinity(self) -> None:
        """Forget clients idle past the affinity timeout, so the table does not grow without bound."""
        cutoff = self._clock() - self.affinity_timeout
        stale = [ip for ip, (_, last) in self._affinity.items() if last < cutoff]
        for ip in stale:
            del self._affinity[ip]

    # -- health -------------------------------------------------------------------------------------------------

    def _set_healthy(self, state: BackendState, healthy: bool, why: str) -> None:
        if state.healthy == healthy:
            return
        state.healthy = healthy
        state.successes = state.failures = 0
        log.warning("%s of %s is %s: %s", state.target, self.name, "healthy" if healthy else "unhealthy", why)
        self._reorder()

    def eject(self, state: BackendState, error: str) -> None:
        """Passive ejection: a connect failed, so take the backend out now rather than after the thresholds."""
        state.last_error = error
        self._set_healthy(state, False, error)
        state.successes = 0
        if not self.active_checks and not state.draining:
            state.cancel_timer()
            state._timer = self._loop.call_later(self.ejection_time, self._restore, state)

    def _restore(self, state: BackendState) -> None:
        state._timer = None
        self._set_healthy(state, True, f"ejection time of {self.ejection_time:g}s over")

    def record_check(self, state: BackendState, ok: bool, error: str | None, check: HealthCheckConfig) -> None:
        if ok:
            state.successes += 1
            state.failures = 0
            if not state.healthy and state.successes >= check.healthy_threshold:
                self._set_healthy(state, True, f"{state.successes} checks passed")
        else:
            state.failures += 1
            state.successes = 0
            state.last_error = error
            if state.healthy and state.failures >= check.unhealthy_threshold:
                self._set_healthy(state, False, f"{state.failures} checks failed, last: {error}")

    def reset_health(self) -> None:
        """Active checks were turned off: every member serves again."""
        for state in self.members.values():
            state.cancel_timer()
            state.successes = state.failures = 0
            state.healthy = True
        self._reorder()
