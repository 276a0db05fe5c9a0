"""The one backoff, retry loop, client-side rate limiter and ``wait_for`` of the whole project.

Where this sits: providers wrap cloud calls in ``retry_call`` (throttling, busy resources), keep a ``RateLimiter``
below a cloud's published API limits, and poll long-running operations with ``wait_for`` (Octavia ACTIVE, Azure
LROs). Everything is configured by arguments, never by environment variables, and time enters only through the
injectable ``clock`` and ``sleep`` so tests run on a fake clock. The CLI shows ``wait_for`` progress by setting
``progress_hook``.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from cloudlb.errors import PermanentError, TemporaryError

__all__ = [
    "Backoff",
    "RateLimiter",
    "progress_hook",
    "report_progress",
    "retry_call",
    "retrying",
    "wait_for",
]

log = logging.getLogger("cloudlb.retry")

T = TypeVar("T")
P = ParamSpec("P")

Sleep = Callable[[float], None]
Clock = Callable[[], float]
RetryOn = type[BaseException] | tuple[type[BaseException], ...]

progress_hook: ContextVar[Callable[[str], None] | None] = ContextVar("cloudlb_progress_hook", default=None)


def report_progress(message: str) -> None:
    """Pass a progress message to whoever set ``progress_hook`` in this context (the CLI's spinner), if anyone."""
    hook = progress_hook.get()
    if hook is not None:
        hook(message)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter.

    The n-th delay is ``min(max_delay, initial * factor**n)``, then reduced by a random fraction of up to
    ``jitter`` of itself: ``jitter=1`` is "full jitter" (uniform between 0 and the delay), which spreads out
    clients that were throttled together; ``jitter=0`` is exact. ``max_attempts`` counts calls, not retries, so
    it allows ``max_attempts - 1`` delays; ``deadline`` bounds the total time in seconds. ``None`` means no limit.
    """

    initial: float = 0.5
    factor: float = 2.0
    max_delay: float = 30.0
    jitter: float = 1.0
    max_attempts: int | None = 8
    deadline: float | None = None

    def __post_init__(self) -> None:
        if self.initial < 0 or self.max_delay < 0:
            raise ValueError("initial and max_delay must not be negative")
        if self.factor < 1:
            raise ValueError(f"factor must be at least 1, got {self.factor}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter is a fraction between 0 and 1, got {self.jitter}")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.deadline is not None and self.deadline < 0:
            raise ValueError(f"deadline must not be negative, got {self.deadline}")

    def delays(self, rand: Callable[[], float] = random.random) -> Iterator[float]:
        """The waits between attempts; ``rand`` returns a float in [0, 1) and is injectable for tests."""
        base = min(self.initial, self.max_delay)
        count = 0
        while self.max_attempts is None or count < self.max_attempts - 1:
            yield base * (1.0 - self.jitter * rand())
            base = min(base * self.factor, self.max_delay)  # capped each step, so it never overflows
            count += 1


def retry_call(
    fn: Callable[..., T],
    *args: Any,
    backoff: Backoff = Backoff(),
    retry_on: RetryOn = (TemporaryError,),
    sleep: Sleep = time.sleep,
    clock: Clock = time.monotonic,
    on_retry: Callable[[BaseException, float], None] | None = None,
    **kwargs: Any,
) -> T:
    """Call ``fn(*args, **kwargs)``, retrying on ``retry_on`` errors with ``backoff``.

    An error with a ``retry_after`` attribute (``TemporaryError(retry_after=...)``, an HTTP Retry-After) makes the
    next wait at least that long, even past ``max_delay``: the cloud said when it will answer. The deadline still
    caps it. When attempts or the deadline run out, the last error is re-raised unchanged. Other errors pass through
    at once. ``on_retry(error, delay)`` is called before each wait.
    """
    start = clock()
    delays = backoff.delays()
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn(*args, **kwargs)
        except retry_on as exc:
            delay = next(delays, None)
            if delay is None:
                raise
            retry_after = getattr(exc, "retry_after", None)
            if isinstance(retry_after, int | float) and retry_after > delay:
                delay = float(retry_after)
            if backoff.deadline is not None:
                remaining = backoff.deadline - (clock() - start)
                if remaining <= 0:
                    raise
                delay = min(delay, remaining)
            log.debug("retrying %s in %.2fs after attempt %d failed: %s", _name(fn), delay, attempt, exc)
            if on_retry is not None:
                on_retry(exc, delay)
            sleep(delay)


def retrying(
    *,
    backoff: Backoff = Backoff(),
    retry_on: RetryOn = (TemporaryError,),
    sleep: Sleep = time.sleep,
    clock: Clock = time.monotonic,
    on_retry: Callable[[BaseException, float], None] | None = None,
) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Decorator form of ``retry_call``."""

    def decorate(fn: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            call = functools.partial(fn, *args, **kwargs)
            return retry_call(call, backoff=backoff, retry_on=retry_on, sleep=sleep, clock=clock, on_retry=on_retry)

        return wrapper

    return decorate


class RateLimiter:
    """A thread-safe token bucket: ``rate`` tokens a second, at most ``burst`` saved up.

    ``acquire`` reserves its tokens under the lock, letting the balance go negative, and sleeps outside it for the
    time the deficit takes to refill. Each caller thus gets its own slot in line and no thread spins or holds the
    lock while it waits.
    """

    def __init__(
        self, rate: float, burst: float | None = None, *, clock: Clock = time.monotonic, sleep: Sleep = time.sleep
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.rate = float(rate)
        self.burst = float(burst) if burst is not None else max(1.0, self.rate)
        if self.burst <= 0:
            raise ValueError(f"burst must be positive, got {burst}")
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.burst
        self._last = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now

    def _check(self, tokens: float) -> None:
        if not 0 < tokens <= self.burst:
            raise ValueError(f"cannot take {tokens} tokens from a bucket of burst {self.burst}")

    def acquire(self, tokens: float = 1) -> float:
        """Take ``tokens``, sleeping until they are available. Returns the seconds waited."""
        self._check(tokens)
        with self._lock:
            self._refill()
            self._tokens -= tokens
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait

    def try_acquire(self, tokens: float = 1) -> bool:
        """Take ``tokens`` if they are available now; never waits."""
        self._check(tokens)
        with self._lock:
            self._refill()
            if self._tokens < tokens:
                return False
            self._tokens -= tokens
            return True


def wait_for(
    predicate: Callable[[], T | None],
    *,
    timeout: float,
    description: str,
    backoff: Backoff = Backoff(initial=0.2, factor=1.5, max_delay=5.0, jitter=0.2, max_attempts=None),
    sleep: Sleep = time.sleep,
    clock: Clock = time.monotonic,
    fail: Callable[[T], bool] | None = None,
) -> T:
    """Poll ``predicate`` until it returns a truthy value, and return that value.

    ``fail`` sees every non-None result first; when it says so, a ``PermanentError`` ends the wait at once (fail fast
    on Octavia's ERROR). The usual shape is a predicate that returns the observed object once it settled, ACTIVE or
    ERROR, and None while it is pending, with ``fail=lambda lb: lb.status == "ERROR"``. Raises ``TemporaryError``
    after ``timeout`` seconds, or when ``backoff`` runs out of attempts first.
    """
    start = clock()
    delays = backoff.delays()
    polls = 0
    while True:
        result = predicate()
        if fail is not None and result is not None and fail(result):
            raise PermanentError(f"{description} failed: {result!r}")
        if result:
            return result
        polls += 1
        elapsed = clock() - start
        remaining = timeout - elapsed
        if remaining <= 0:
            raise TemporaryError(f"timed out after {timeout:g}s waiting for {description}")
        delay = next(delays, None)
        if delay is None:
            raise TemporaryError(f"gave up after {polls} checks ({elapsed:.0f}s) waiting for {description}")
        report_progress(f"waiting for {description} ({elapsed:.0f}s)")
        sleep(min(delay, remaining))


def _name(fn: Callable[..., Any]) -> str:
    target = fn.func if isinstance(fn, functools.partial) else fn
    return getattr(target, "__qualname__", repr(target))
