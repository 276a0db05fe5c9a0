"""Backoff delays and retry_call / retrying, on a fake clock."""

from __future__ import annotations

import itertools
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloudlb.errors import ConflictError, PermanentError, TemporaryError
from cloudlb.retry import Backoff, retry_call, retrying
from tests.retry.fakes import FakeClock, Flaky


def busy(retry_after: float | None = None) -> TemporaryError:
    return TemporaryError("busy", retry_after=retry_after)


# --- Backoff ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("backoff", "want"),
    [
        pytest.param(
            Backoff(initial=0.5, factor=2.0, max_delay=30.0, jitter=0.0, max_attempts=5),
            [0.5, 1.0, 2.0, 4.0],
            id="doubles-and-counts-attempts",
        ),
        pytest.param(
            Backoff(initial=1.0, factor=3.0, max_delay=10.0, jitter=0.0, max_attempts=6),
            [1.0, 3.0, 9.0, 10.0, 10.0],
            id="capped-at-max-delay",
        ),
        pytest.param(Backoff(initial=2.0, factor=1.0, jitter=0.0, max_attempts=4), [2.0, 2.0, 2.0], id="constant"),
        pytest.param(Backoff(initial=50.0, max_delay=5.0, jitter=0.0, max_attempts=3), [5.0, 5.0], id="initial-capped"),
        pytest.param(Backoff(jitter=0.0, max_attempts=1), [], id="one-attempt-no-delay"),
    ],
)
def test_delays_without_jitter(backoff: Backoff, want: list[float]) -> None:
    assert list(backoff.delays()) == want


def test_delays_are_unbounded_without_max_attempts() -> None:
    backoff = Backoff(initial=1.0, factor=10.0, max_delay=60.0, jitter=0.0, max_attempts=None)
    assert list(itertools.islice(backoff.delays(), 2000))[-1] == 60.0


@pytest.mark.parametrize(
    ("jitter", "rand", "want"),
    [
        pytest.param(1.0, 0.0, 4.0, id="full-jitter-top"),
        pytest.param(1.0, 0.75, 1.0, id="full-jitter-low"),
        pytest.param(0.5, 0.999999, 2.000002, id="half-jitter-floor"),
        pytest.param(0.0, 0.9, 4.0, id="no-jitter"),
    ],
)
def test_jitter_takes_a_fraction_off(jitter: float, rand: float, want: float) -> None:
    backoff = Backoff(initial=4.0, jitter=jitter, max_attempts=2)
    assert list(backoff.delays(lambda: rand)) == [pytest.approx(want)]


@given(
    jitter=st.floats(0.0, 1.0),
    seeds=st.lists(st.floats(0.0, 1.0, exclude_max=True), min_size=7, max_size=7),
)
def test_jittered_delays_stay_within_bounds(jitter: float, seeds: list[float]) -> None:
    backoff = Backoff(initial=0.5, factor=2.0, max_delay=8.0, jitter=jitter, max_attempts=8)
    exact = list(Backoff(initial=0.5, factor=2.0, max_delay=8.0, jitter=0.0, max_attempts=8).delays())
    rand = iter(seeds)
    for got, top in zip(backoff.delays(lambda: next(rand)), exact, strict=True):
        assert top * (1 - jitter) - 1e-9 <= got <= top


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"jitter": 1.5}, id="jitter-above-one"),
        pytest.param({"factor": 0.5}, id="shrinking-factor"),
        pytest.param({"max_attempts": 0}, id="zero-attempts"),
        pytest.param({"initial": -1.0}, id="negative-initial"),
        pytest.param({"deadline": -1.0}, id="negative-deadline"),
    ],
)
def test_backoff_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)  # type: ignore[arg-type]


# --- retry_call -------------------------------------------------------------------------------------------------

EXACT = Backoff(initial=1.0, factor=2.0, max_delay=30.0, jitter=0.0, max_attempts=5)


def test_retries_temporary_errors_then_returns() -> None:
    clock = FakeClock()
    fn = Flaky([busy(), busy()])
    assert retry_call(fn, 1, backoff=EXACT, sleep=clock.sleep, clock=clock, key="v") == "ok"
    assert fn.calls == 3
    assert fn.last_args == ((1,), {"key": "v"})
    assert clock.sleeps == [1.0, 2.0]


def test_reraises_the_last_error_when_attempts_run_out() -> None:
    clock = FakeClock()
    errors = [busy() for _ in range(5)]
    fn = Flaky(list(errors))
    with pytest.raises(TemporaryError) as caught:
        retry_call(fn, backoff=EXACT, sleep=clock.sleep, clock=clock)
    assert caught.value is errors[-1]
    assert fn.calls == 5
    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0]


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(PermanentError("quota"), id="permanent"),
        pytest.param(ConflictError("owned by someone else"), id="conflict"),
        pytest.param(KeyError("bug"), id="programming-error"),
    ],
)
def test_other_errors_pass_through_at_once(error: BaseException) -> None:
    clock = FakeClock()
    fn = Flaky([error])
    with pytest.raises(type(error)) as caught:
        retry_call(fn, backoff=EXACT, sleep=clock.sleep, clock=clock)
    assert caught.value is error
    assert fn.calls == 1
    assert clock.sleeps == []


def test_retry_on_chooses_what_is_retried() -> None:
    clock = FakeClock()
    fn = Flaky([ConnectionResetError(), busy()])
    with pytest.raises(TemporaryError):
        retry_call(fn, backoff=EXACT, retry_on=ConnectionError, sleep=clock.sleep, clock=clock)
    assert fn.calls == 2


@pytest.mark.parametrize(
    ("retry_after", "want_sleep"),
    [
        pytest.param(7.5, 7.5, id="longer-than-backoff-wins"),
        pytest.param(120.0, 120.0, id="honoured-beyond-max-delay"),
        pytest.param(0.1, 1.0, id="shorter-than-backoff-ignored"),
        pytest.param(None, 1.0, id="absent"),
    ],
)
def test_retry_after_is_a_minimum_wait(retry_after: float | None, want_sleep: float) -> None:
    clock = FakeClock()
    retry_call(Flaky([busy(retry_after)]), backoff=EXACT, sleep=clock.sleep, clock=clock)
    assert clock.sleeps == [want_sleep]


def test_deadline_caps_waits_and_stops_retrying() -> None:
    clock = FakeClock()
    backoff = Backoff(initial=4.0, factor=2.0, jitter=0.0, max_attempts=None, deadline=10.0)
    fn = Flaky([busy() for _ in range(10)])
    with pytest.raises(TemporaryError):
        retry_call(fn, backoff=backoff, sleep=clock.sleep, clock=clock)
    assert clock.sleeps == [4.0, 6.0]  # the second wait is cut to what is left of the deadline
    assert fn.calls == 3


def test_deadline_caps_retry_after() -> None:
    clock = FakeClock()
    backoff = Backoff(initial=1.0, jitter=0.0, deadline=5.0)
    fn = Flaky([busy(retry_after=60.0), busy()])
    with pytest.raises(TemporaryError):
        retry_call(fn, backoff=backoff, sleep=clock.sleep, clock=clock)
    assert clock.sleeps == [5.0]


def test_deadline_counts_time_spent_in_calls() -> None:
    clock = FakeClock()

    def slow() -> str:
        clock.advance(4.0)
        raise busy()

    with pytest.raises(TemporaryError):
        retry_call(slow, backoff=Backoff(initial=1.0, jitter=0.0, deadline=10.0), sleep=clock.sleep, clock=clock)
    assert clock.sleeps == [1.0, 1.0]  # the second wait is cut from 2s to the 1s the calls left


def test_on_retry_sees_each_error_and_delay(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    errors = [busy(), busy(retry_after=3.0)]
    seen: list[tuple[BaseException, float]] = []
    with caplog.at_level(logging.DEBUG, logger="cloudlb.retry"):
        retry_call(
            Flaky(list(errors)),
            backoff=EXACT,
            sleep=clock.sleep,
            clock=clock,
            on_retry=lambda e, d: seen.append((e, d)),
        )
    assert seen == [(errors[0], 1.0), (errors[1], 3.0)]
    assert len([r for r in caplog.records if r.name == "cloudlb.retry"]) == 2


def test_retrying_decorator() -> None:
    clock = FakeClock()
    fn = Flaky([busy()], result="done")

    @retrying(backoff=EXACT, sleep=clock.sleep, clock=clock)
    def call(value: int, *, key: str) -> str:
        return fn(value, key=key)

    assert call(3, key="k") == "done"
    assert fn.calls == 2
    assert fn.last_args == ((3,), {"key": "k"})
    assert call.__name__ == "call"
