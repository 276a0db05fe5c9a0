"""wait_for and the progress hook, on a fake clock."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator

import pytest

from cloudlb.errors import PermanentError, TemporaryError
from cloudlb.retry import Backoff, progress_hook, report_progress, wait_for
from tests.retry.fakes import FakeClock

STEADY = Backoff(initial=1.0, factor=1.0, jitter=0.0, max_attempts=None)


@pytest.fixture
def progress() -> Iterator[list[str]]:
    messages: list[str] = []
    token = progress_hook.set(messages.append)
    try:
        yield messages
    finally:
        progress_hook.reset(token)


def statuses(*values: str | None) -> Iterator[str | None]:
    yield from values


def test_returns_the_first_truthy_value() -> None:
    clock = FakeClock()
    results = statuses(None, None, "ACTIVE")
    got = wait_for(lambda: next(results), timeout=30, description="lb", backoff=STEADY, sleep=clock.sleep, clock=clock)
    assert got == "ACTIVE"
    assert clock.sleeps == [1.0, 1.0]


def test_falsy_values_keep_polling() -> None:
    clock = FakeClock()
    results = iter([False, 0, "", True])
    assert wait_for(lambda: next(results), timeout=30, description="x", backoff=STEADY, sleep=clock.sleep, clock=clock)
    assert len(clock.sleeps) == 3


def test_times_out_with_a_clear_message() -> None:
    clock = FakeClock()
    polls = 0

    def never() -> None:
        nonlocal polls
        polls += 1

    backoff = Backoff(initial=4.0, factor=1.0, jitter=0.0, max_attempts=None)
    with pytest.raises(TemporaryError, match=r"^timed out after 10s waiting for load balancer ACTIVE$"):
        wait_for(never, timeout=10, description="load balancer ACTIVE", backoff=backoff, sleep=clock.sleep, clock=clock)
    assert clock.sleeps == [4.0, 4.0, 2.0]  # the last sleep ends at the timeout, then one final poll
    assert polls == 4


def test_gives_up_when_backoff_runs_out_of_attempts() -> None:
    clock = FakeClock()
    backoff = Backoff(initial=1.0, factor=1.0, jitter=0.0, max_attempts=3)
    with pytest.raises(TemporaryError, match="gave up after 3 checks"):
        wait_for(lambda: None, timeout=100, description="x", backoff=backoff, sleep=clock.sleep, clock=clock)


def test_fail_ends_the_wait_at_once() -> None:
    clock = FakeClock()
    results = statuses(None, "ERROR", "ACTIVE")
    with pytest.raises(PermanentError, match="lb failed: 'ERROR'"):
        wait_for(
            lambda: next(results),
            timeout=30,
            description="lb",
            backoff=STEADY,
            sleep=clock.sleep,
            clock=clock,
            fail=lambda status: status == "ERROR",
        )
    assert clock.sleeps == [1.0]


def test_progress_is_reported_each_poll(progress: list[str]) -> None:
    clock = FakeClock()
    results = statuses(None, None, None, "ok")
    backoff = Backoff(initial=2.0, factor=1.0, jitter=0.0, max_attempts=None)
    wait_for(lambda: next(results), timeout=30, description="listener", backoff=backoff, sleep=clock.sleep, clock=clock)
    assert progress == ["waiting for listener (0s)", "waiting for listener (2s)", "waiting for listener (4s)"]


def test_report_progress_without_a_hook_is_silent() -> None:
    ctx = contextvars.Context()  # a fresh context: no hook set, whatever other tests did
    assert ctx.run(progress_hook.get) is None
    ctx.run(report_progress, "nobody listens")


def test_hook_is_per_context(progress: list[str]) -> None:
    other: list[str] = []

    def elsewhere() -> None:
        progress_hook.set(other.append)
        report_progress("inner")

    contextvars.copy_context().run(elsewhere)
    report_progress("outer")
    assert (progress, other) == (["outer"], ["inner"])


def test_default_backoff_polls_gently() -> None:
    clock = FakeClock()
    with pytest.raises(TemporaryError):
        wait_for(lambda: None, timeout=60, description="x", sleep=clock.sleep, clock=clock)
    assert max(clock.sleeps) <= 5.0
    assert clock.now - 1000.0 == pytest.approx(60.0)
