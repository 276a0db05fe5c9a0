"""The pool's choices and health bookkeeping, driven directly with a fake clock (no sockets)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from cloudlb.model import Algorithm
from cloudlb_local.dataplane import Backend, HealthCheckConfig, new_event_loop
from cloudlb_local.dataplane.pool import BackendState, Pool

B1, B2, B3 = Backend("127.0.0.11", 80), Backend("127.0.0.12", 80), Backend("127.0.0.13", 80)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = new_event_loop(use_uvloop=False)
    yield loop
    loop.close()


def make_pool(
    loop: asyncio.AbstractEventLoop, algorithm: Algorithm, clock: Clock | None = None, *backends: Backend
) -> Pool:
    pool = Pool(name="test", algorithm=algorithm, affinity_timeout=100.0, ejection_time=30.0, loop=loop, clock=clock)
    pool.update(frozenset(backends or (B1, B2, B3)), drain_timeout=60)
    return pool


def picks(pool: Pool, count: int, client: str | None = None) -> list[Backend]:
    out = []
    for _ in range(count):
        state = pool.pick(client)
        assert state is not None
        out.append(state.backend)
    return out


def test_round_robin_rotates_over_healthy_members(loop: asyncio.AbstractEventLoop) -> None:
    pool = make_pool(loop, Algorithm.ROUND_ROBIN)
    assert picks(pool, 6) == [B1, B2, B3, B1, B2, B3]
    pool.eject(pool.members[B2], "down")
    assert set(picks(pool, 4)) == {B1, B3}


def test_fail_open_and_no_backends(loop: asyncio.AbstractEventLoop) -> None:
    pool = make_pool(loop, Algorithm.ROUND_ROBIN)
    for state in list(pool.members.values()):
        pool.eject(state, "down")
    assert set(picks(pool, 3)) == {B1, B2, B3}  # every member is unhealthy: try them all anyway

    pool.update(frozenset(), drain_timeout=60)
    assert pool.empty
    assert pool.pick(None) is None


def test_exclude_skips_backends_already_tried(loop: asyncio.AbstractEventLoop) -> None:
    pool = make_pool(loop, Algorithm.ROUND_ROBIN)
    tried = [pool.members[B1], pool.members[B2]]
    assert picks_excluding(pool, tried) == B3
    tried.append(pool.members[B3])
    assert pool.pick(None, tried) is None


def picks_excluding(pool: Pool, exclude: list[BackendState]) -> Backend:
    state = pool.pick(None, exclude)
    assert state is not None
    return state.backend


def test_least_connections_prefers_fewest_then_rotates(loop: asyncio.AbstractEventLoop) -> None:
    pool = make_pool(loop, Algorithm.LEAST_CONNECTIONS)
    pool.members[B1].active = 2
    pool.members[B2].active = 1
    pool.members[B3].active = 1
    assert picks(pool, 4) == [B2, B3, B2, B3]
    pool.members[B2].active = 5
    assert picks(pool, 2) == [B3, B3]


def test_source_ip_affinity_lasts_since_last_use_and_then_expires(loop: asyncio.AbstractEventLoop) -> None:
    clock = Clock()
    pool = make_pool(loop, Algorithm.SOURCE_IP, clock)
    first = picks(pool, 1, "10.0.0.1")[0]
    for _ in range(3):  # each use within the timeout renews it
        clock.now += 99
        assert picks(pool, 1, "10.0.0.1") == [first]

    clock.now += 101
    pool.sweep_affinity()
    assert "10.0.0.1" not in pool._affinity
    assert picks(pool, 1, "10.0.0.1") != [first]  # a fresh choice: the rotation has moved on


def test_source_ip_moves_on_ejection_and_does_not_move_back(loop: asyncio.AbstractEventLoop) -> None:
    pool = make_pool(loop, Algorithm.SOURCE_IP, Clock())
    first = picks(pool, 1, "10.0.0.1")[0]
    pool.eject(pool.members[first], "down")
    moved = picks(pool, 1, "10.0.0.1")[0]
    assert moved != first

    pool._restore(pool.members[first])

    assert picks(pool, 3, "10.0.0.1") == [moved] * 3


@pytest.mark.parametrize(
    ("start_healthy", "results", "want_healthy"),
    [
        pytest.param(True, "FF", True, id="two-failures-below-threshold"),
        pytest.param(True, "FFF", False, id="three-failures-eject"),
        pytest.param(True, "FFSFF", True, id="a-success-resets-the-count"),
        pytest.param(False, "S", False, id="one-success-below-threshold"),
        pytest.param(False, "SS", True, id="two-successes-restore"),
        pytest.param(False, "SFS", False, id="a-failure-resets-the-count"),
        pytest.param(True, "FFFSS", True, id="eject-then-restore"),
    ],
)
def test_thresholds(loop: asyncio.AbstractEventLoop, start_healthy: bool, results: str, want_healthy: bool) -> None:
    check = HealthCheckConfig(healthy_threshold=2, unhealthy_threshold=3)
    pool = make_pool(loop, Algorithm.ROUND_ROBIN, None, B1)
    pool.active_checks = True
    state = pool.members[B1]
    state.healthy = start_healthy
    for result in results:
        pool.record_check(state, result == "S", None if result == "S" else "HTTP 500", check)
    assert state.healthy is want_healthy


def test_passive_ejection_without_checks_expires(loop: asyncio.AbstractEventLoop) -> None:
    pool = Pool(name="t", algorithm=Algorithm.ROUND_ROBIN, affinity_timeout=1, ejection_time=0.05, loop=loop)
    pool.update(frozenset({B1}), drain_timeout=1)
    pool.eject(pool.members[B1], "connect: connection refused")
    assert not pool.members[B1].healthy

    loop.run_until_complete(asyncio.sleep(0.2))

    assert pool.members[B1].healthy


def test_passive_ejection_with_checks_waits_for_the_checks(loop: asyncio.AbstractEventLoop) -> None:
    pool = Pool(name="t", algorithm=Algorithm.ROUND_ROBIN, affinity_timeout=1, ejection_time=0.05, loop=loop)
    pool.update(frozenset({B1}), drain_timeout=1)
    pool.active_checks = True
    pool.eject(pool.members[B1], "connect: connection refused")

    loop.run_until_complete(asyncio.sleep(0.2))

    assert not pool.members[B1].healthy


def test_update_drains_busy_backends_and_forgets_idle_ones(loop: asyncio.AbstractEventLoop) -> None:
    pool = make_pool(loop, Algorithm.ROUND_ROBIN)
    pool.members[B1].active = 1

    added = pool.update(frozenset({B3}), drain_timeout=60)

    assert added == []
    assert set(pool.members) == {B3}
    assert set(pool.draining) == {B1}  # B2 had nothing to drain
    assert picks(pool, 2) == [B3, B3]

    state = pool.draining[B1]
    state.active = 0
    pool.released(state)
    assert pool.draining == {}
