"""A rolling replacement of every backend under steady concurrent load loses no request.

Each step does what a Deployment rollout does to the endpoints: a new backend is added, an old one removed, and
the old process is stopped only once the data plane has drained it.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from .support import BACKEND_IPS, Lab, in_lab, request, wait_until

pytestmark = pytest.mark.timeout(120)


async def _roll(lab: Lab, *, replicas: int, workers: int, requests_per_step: int) -> None:
    old = await lab.echoes(replicas)
    config = lab.listener(old)
    await lab.serve(config)
    served: Counter[str] = Counter()
    failures: list[str] = []
    stop = asyncio.Event()

    async def worker() -> None:
        for _ in range(100_000):  # bounded, though ``stop`` ends it long before
            if stop.is_set():
                return
            try:
                name = await request(config)
            except OSError as exc:
                failures.append(repr(exc))
                continue
            if name is None:
                failures.append("closed without an answer")
            else:
                served[name] += 1

    async def traffic(count: int) -> None:
        target = sum(served.values()) + count
        await wait_until(lambda: sum(served.values()) >= target or bool(failures), f"{count} more requests", 30)

    tasks = [asyncio.create_task(worker()) for _ in range(workers)]
    try:
        current = list(old)
        for step, leaving in enumerate(old):
            fresh = await lab.echo(f"new{step + 1}", BACKEND_IPS[replicas + step])
            current.append(fresh)
            await lab.serve(lab.listener(current, address=config.address, port=config.port))
            await traffic(requests_per_step)
            current.remove(leaving)
            await lab.serve(lab.listener(current, address=config.address, port=config.port))
            gone = leaving.backend
            await wait_until(lambda: gone not in lab.status(config).backends, f"{leaving.name} to drain")  # noqa: B023
            await leaving.stop(kill_connections=True)  # gone for good, like a terminated pod
            await traffic(requests_per_step)
    finally:
        stop.set()
        await asyncio.gather(*tasks)

    assert failures == []
    assert {f"new{n + 1}" for n in range(replicas)} <= set(served)
    assert set(lab.status(config).backends) == {b.backend for b in current}
    # Every request was served by a backend that was in the pool when the request arrived; the new ones end up
    # taking all the traffic.
    assert sum(served.values()) >= 2 * replicas * requests_per_step


def test_rolling_replacement_under_load_loses_nothing() -> None:
    async def scenario(lab: Lab) -> None:
        await _roll(lab, replicas=3, workers=6, requests_per_step=40)

    in_lab(scenario)


@pytest.mark.load
def test_rolling_replacement_under_heavier_load_loses_nothing(use_uvloop: bool) -> None:
    async def scenario(lab: Lab) -> None:
        await _roll(lab, replicas=3, workers=32, requests_per_step=1000)

    in_lab(scenario, use_uvloop=use_uvloop, timeout=100)
