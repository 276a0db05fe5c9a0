"""The work queue on a fake clock: merging, pacing, one worker per key, backoff and retry_after."""

from __future__ import annotations

import threading
import time

import pytest

from cloudlb.controller.queue import Item, WorkQueue


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def queue(clock: Clock) -> WorkQueue:
    return WorkQueue(min_interval=1.0, backoff_initial=5.0, backoff_max=300.0, clock=clock)


def take(queue: WorkQueue) -> Item | None:
    return queue.get(timeout=0)


def test_a_burst_of_adds_is_one_item(queue: WorkQueue) -> None:
    for _ in range(1000):
        queue.add("default/web")
    assert len(queue) == 1
    item = take(queue)
    assert item is not None and item.key == "default/web"
    assert take(queue) is None


def test_a_burst_over_one_second_costs_at_most_two_reconciles(queue: WorkQueue, clock: Clock) -> None:
    """1,000 events spread over one second, a worker always free: the key is handed out twice."""
    handed = 0
    for i in range(1000):
        clock.now = 1000.0 + i / 1000  # 1 ms apart, 0.999 s in all
        queue.add("default/web")
        item = take(queue)
        if item is not None:
            handed += 1
            queue.done(item)
    clock.now = 1001.5
    while (item := take(queue)) is not None:
        handed += 1
        queue.done(item)
    assert handed == 2


def test_a_quiet_key_starts_at_once_and_a_busy_one_waits_for_its_interval(queue: WorkQueue, clock: Clock) -> None:
    queue.add("a")
    first = take(queue)
    assert first is not None
    queue.done(first)
    clock.now += 0.3
    queue.add("a")
    assert take(queue) is None
    assert queue.due_in("a") == pytest.approx(0.7)
    clock.now += 0.7
    assert take(queue) is not None


def test_a_key_is_never_handed_to_two_workers(queue: WorkQueue, clock: Clock) -> None:
    queue.add("a")
    working = take(queue)
    assert working is not None
    queue.add("a", resync=True)
    clock.now += 10
    assert take(queue) is None  # "a" is being worked on
    queue.add("b")
    other = take(queue)
    assert other is not None and other.key == "b"
    queue.done(working)
    again = take(queue)
    assert again is not None and again.key == "a" and again.resync  # the flag waited with it


def test_failures_back_off_from_5_to_300_seconds(queue: WorkQueue, clock: Clock) -> None:
    queue.add("a")
    delays = []
    for _ in range(10):
        item = take(queue)
        assert item is not None
        delays.append(queue.done(item, error=True))
        assert take(queue) is None
        clock.now += delays[-1]
    assert delays == [5, 10, 20, 40, 80, 160, 300, 300, 300, 300]
    item = take(queue)
    assert item is not None
    queue.done(item)  # success forgets the failures
    queue.add("a")
    clock.now += 1
    item = take(queue)
    assert item is not None
    assert queue.done(item, error=True) == 5


def test_retry_after_is_honoured_even_past_the_backoff(queue: WorkQueue, clock: Clock) -> None:
    queue.add("a")
    item = take(queue)
    assert item is not None
    assert queue.done(item, error=True, retry_after=42.0) == 42.0
    clock.now += 41
    queue.add("a", urgent=True)  # not even a Service change gets ahead of the cloud's Retry-After
    assert take(queue) is None
    clock.now += 1
    assert take(queue) is not None


def test_endpoint_events_wait_out_the_backoff_but_a_service_change_does_not(queue: WorkQueue, clock: Clock) -> None:
    queue.add("a")
    item = take(queue)
    assert item is not None
    queue.done(item, error=True)  # 5 s
    clock.now += 2
    queue.add("a")  # an EndpointSlice event
    assert take(queue) is None
    queue.add("a", urgent=True)  # the user edited the Service
    assert take(queue) is not None


def test_an_invalid_service_is_not_retried(queue: WorkQueue, clock: Clock) -> None:
    queue.add("a")
    item = take(queue)
    assert item is not None
    assert queue.done(item, error=True, retry=False) == 0
    clock.now += 600
    assert take(queue) is None
    assert queue.failures("a") == 0


def test_get_blocks_until_an_item_is_due_and_shut_down_releases_workers() -> None:
    queue = WorkQueue(min_interval=0.0)
    got: list[Item | None] = []
    worker = threading.Thread(target=lambda: got.append(queue.get()))
    worker.start()
    time.sleep(0.05)
    queue.add("a")
    worker.join(5)
    assert [i.key for i in got if i] == ["a"]
    waiting = threading.Thread(target=lambda: got.append(queue.get()))
    waiting.start()
    queue.shut_down()
    waiting.join(5)
    assert not waiting.is_alive() and got[-1] is None
