"""The work queue: keyed by Service, merging bursts, one worker per key, per-key backoff.

Where this sits: informer events become ``add(key)`` calls; N worker threads loop on ``get()`` / ``done()``.

- **Merging**: a key waiting in the queue is there once, whatever number of events added it. A key being worked
  on that is added again is marked and handed out again after ``done``, never to a second worker meanwhile.
- **Pacing**: a key is handed out at most once per ``min_interval`` (1 s by default). A quiet Service's first change
  starts at once; a burst then waits for the rest of the interval and is served by one more reconcile. So 1,000
  EndpointSlice events in one second cost at most 2 reconciles.
- **Backoff**: after a failure the key waits 5 s, doubling to at most 300 s, and at least the ``retry_after`` the
  cloud asked for. Endpoint and node events do not cut that wait short; a change to the Service itself
  (``urgent``) may, since the user may have just fixed the cause, but never ahead of a cloud's ``retry_after``.
- **Flags**: ``resync`` (a periodic full check of the cloud) sticks to the key until a worker takes it.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Item", "WorkQueue"]

Clock = Callable[[], float]


@dataclass(slots=True)
class _Pending:
    due: float
    resync: bool
    urgent: bool
    since: float  # when the key was first added since it was last handed out, for the queue-latency metric


@dataclass(frozen=True, slots=True)
class Item:
    key: str
    resync: bool
    waited: float  # seconds between the first add and the hand-out


class WorkQueue:
    def __init__(
        self,
        *,
        min_interval: float = 1.0,
        backoff_initial: float = 5.0,
        backoff_max: float = 300.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self.min_interval = min_interval
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self._clock = clock
        self._cond = threading.Condition()
        self._pending: dict[str, _Pending] = {}
        self._heap: list[tuple[float, int, str]] = []  # (due, seq, key); stale entries are skipped lazily
        self._seq = itertools.count()
        self._processing: set[str] = set()
        self._last_start: dict[str, float] = {}
        self._failures: dict[str, int] = {}
        self._backoff_until: dict[str, float] = {}
        self._retry_after_until: dict[str, float] = {}
        self._shutdown = False

    # -- producers

    def add(self, key: str, *, resync: bool = False, urgent: bool = False) -> None:
        with self._cond:
            if self._shutdown:
                return
            now = self._clock()
            entry = self._pending.get(key)
            if entry is None:
                entry = self._pending[key] = _Pending(float("inf"), resync, urgent, now)
            else:
                entry.resync |= resync
                entry.urgent |= urgent
            due = self._earliest(key, now, urgent=entry.urgent)
            if due < entry.due:
                entry.due = due
                if key not in self._processing:
                    heapq.heappush(self._heap, (due, next(self._seq), key))
                    self._cond.notify()

    def _earliest(self, key: str, now: float, *, urgent: bool) -> float:
        due = max(now, self._last_start.get(key, -self.min_interval) + self.min_interval)
        due = max(due, self._retry_after_until.get(key, 0.0))
        if not urgent:
            due = max(due, self._backoff_until.get(key, 0.0))
        return due

    # -- consumers

    def get(self, timeout: float | None = None) -> Item | None:
        """The next due key, marked as being processed; None after ``shut_down`` or when ``timeout`` passed."""
        deadline = None if timeout is None else self._clock() + timeout
        with self._cond:
            while not self._shutdown:
                now = self._clock()
                wait = self._pop_due(now)
                if isinstance(wait, Item):
                    return wait
                if deadline is not None:
                    if now >= deadline:
                        return None
                    wait = min(wait, deadline - now) if wait is not None else deadline - now
                self._cond.wait(wait)
            return None

    def _pop_due(self, now: float) -> Item | float | None:
        """An item if one is due, else the seconds until the next one (None: nothing queued)."""
        while self._heap:
            due, _seq, key = self._heap[0]
            entry = self._pending.get(key)
            if entry is None or entry.due != due or key in self._processing:
                heapq.heappop(self._heap)  # superseded, or re-pushed by done() when its worker finishes
                continue
            if due > now:
                return due - now
            heapq.heappop(self._heap)
            del self._pending[key]
            self._processing.add(key)
            self._last_start[key] = now
            return Item(key, entry.resync, now - entry.since)
        return None

    def done(self, item: Item, *, error: bool = False, retry: bool = True, retry_after: float | None = None) -> float:
        """Finish ``item``. After an ``error`` it comes back after its backoff (unless ``retry`` is False); the delay
        (0 on success) is returned."""
        with self._cond:
            key = item.key
            self._processing.discard(key)
            now = self._clock()
            delay = 0.0
            if not error:
                self._failures.pop(key, None)
                self._backoff_until.pop(key, None)
                self._retry_after_until.pop(key, None)
            elif retry:
                failures = self._failures[key] = self._failures.get(key, 0) + 1
                delay = min(self.backoff_max, self.backoff_initial * 2 ** (failures - 1))
                self._backoff_until[key] = now + delay
                if retry_after is not None and retry_after > 0:
                    self._retry_after_until[key] = now + retry_after
                    delay = max(delay, retry_after)
                retried = self._pending.setdefault(key, _Pending(float("inf"), False, False, now))
                retried.resync |= item.resync
            pending = self._pending.get(key)
            if pending is not None and not self._shutdown:
                pending.due = self._earliest(key, now, urgent=pending.urgent)
                heapq.heappush(self._heap, (pending.due, next(self._seq), key))
                self._cond.notify()
            return delay

    def forget(self, key: str) -> None:
        """Drop what the queue remembers of ``key`` (its Service is gone): pacing and failures."""
        with self._cond:
            if key not in self._pending and key not in self._processing:
                self._last_start.pop(key, None)
            self._failures.pop(key, None)
            self._backoff_until.pop(key, None)
            self._retry_after_until.pop(key, None)

    def shut_down(self) -> None:
        with self._cond:
            self._shutdown = True
            self._cond.notify_all()

    # -- introspection

    def __len__(self) -> int:
        """Keys waiting (due or not), not counting those being processed."""
        with self._cond:
            return len(self._pending)

    def failures(self, key: str) -> int:
        with self._cond:
            return self._failures.get(key, 0)

    def due_in(self, key: str) -> float | None:
        """Seconds until ``key`` is due (0 if due now), None if it is not waiting."""
        with self._cond:
            entry = self._pending.get(key)
            return None if entry is None else max(0.0, entry.due - self._clock())
