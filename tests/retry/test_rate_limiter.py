"""RateLimiter: a token bucket on a fake clock."""

from __future__ import annotations

import threading

import pytest

from cloudlb.retry import RateLimiter
from tests.retry.fakes import FakeClock


def test_burst_is_free_then_callers_wait_for_refill() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=2.0, burst=3, clock=clock, sleep=clock.sleep)
    waits = [limiter.acquire() for _ in range(5)]
    assert waits == [0.0, 0.0, 0.0, pytest.approx(0.5), pytest.approx(0.5)]
    assert clock.sleeps == [pytest.approx(0.5), pytest.approx(0.5)]


def test_idle_time_refills_up_to_burst_only() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=1.0, burst=2, clock=clock, sleep=clock.sleep)
    limiter.acquire(2)
    clock.advance(100.0)  # far longer than needed to refill: the bucket still holds only `burst`
    assert [limiter.try_acquire() for _ in range(3)] == [True, True, False]


def test_try_acquire_never_waits() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=10.0, burst=1, clock=clock, sleep=clock.sleep)
    assert limiter.try_acquire() is True
    assert limiter.try_acquire() is False
    clock.advance(0.1)
    assert limiter.try_acquire() is True
    assert clock.sleeps == []


def test_acquire_several_tokens() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=4.0, burst=4, clock=clock, sleep=clock.sleep)
    assert limiter.acquire(3) == 0.0
    assert limiter.acquire(3) == pytest.approx(0.5)  # 1 left, 2 missing at 4/s


def test_waiters_reserve_their_slot() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=1.0, burst=1, clock=clock, sleep=lambda _: None)  # the clock does not move
    assert [limiter.acquire() for _ in range(4)] == [0.0, 1.0, 2.0, 3.0]
    assert limiter.try_acquire() is False


@pytest.mark.parametrize(
    ("rate", "burst", "tokens"),
    [
        pytest.param(0.0, 1.0, 1.0, id="zero-rate"),
        pytest.param(1.0, 0.0, 1.0, id="zero-burst"),
        pytest.param(1.0, 2.0, 3.0, id="more-than-burst"),
        pytest.param(1.0, 2.0, 0.0, id="zero-tokens"),
    ],
)
def test_rejects_impossible_requests(rate: float, burst: float, tokens: float) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate, burst, clock=FakeClock()).acquire(tokens)


def test_default_burst_is_one_second_of_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=5.0, clock=clock, sleep=clock.sleep)
    assert sum(limiter.try_acquire() for _ in range(10)) == 5


def test_threads_get_distinct_slots() -> None:
    """With the clock frozen, every acquisition past the burst must get its own slot in line: no lost updates."""
    clock = FakeClock()
    limiter = RateLimiter(rate=10.0, burst=5, clock=clock, sleep=lambda _: None)
    waits: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(4)

    def worker() -> None:
        start.wait()
        for _ in range(25):
            wait = limiter.acquire()
            with lock:
                waits.append(wait)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(waits) == pytest.approx([0.0] * 5 + [i / 10 for i in range(1, 96)])
