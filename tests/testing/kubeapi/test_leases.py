"""Leader election's building block: two replicas racing on one Lease get exactly one winner, every round."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from cloudlb.testing.kubeapi import FakeKubeAPI
from tests.testing.kubeapi.builders import lease
from tests.testing.kubeapi.conftest import connect

ROUNDS = 10


@pytest.fixture
def replicas(fake_api: FakeKubeAPI, tmp_path: Path) -> Iterator[list[client.CoordinationV1Api]]:
    """Two replicas, each with its own client and connection pool, as two controller pods would have."""
    clients = [connect(fake_api, tmp_path / f"replica-{i}.kubeconfig") for i in range(2)]
    try:
        yield [client.CoordinationV1Api(c) for c in clients]
    finally:
        for c in clients:
            c.close()


def race(actions: list[Callable[[], object]]) -> list[int]:
    """Run the actions at the same moment; each one's HTTP status (2xx on success)."""
    barrier = threading.Barrier(len(actions))
    results: list[int] = [0] * len(actions)

    def run(i: int) -> None:
        barrier.wait()
        try:
            actions[i]()
            results[i] = 200
        except ApiException as exc:
            results[i] = exc.status

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(actions))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


def test_racing_creates_have_one_winner(replicas: list[client.CoordinationV1Api], fake_api: FakeKubeAPI) -> None:
    for round_ in range(ROUNDS):
        name = f"lock-{round_}"
        bodies = [lease(name, f"replica-{i}") for i in range(2)]
        results = race(
            [lambda r=r, b=b: r.create_namespaced_lease("default", b) for r, b in zip(replicas, bodies, strict=True)]
        )
        assert sorted(results) == [200, 409]
        winner = results.index(200)
        assert fake_api.get("Lease", "default", name)["spec"]["holderIdentity"] == f"replica-{winner}"


def test_racing_updates_from_one_read_have_one_winner(
    replicas: list[client.CoordinationV1Api], fake_api: FakeKubeAPI
) -> None:
    replicas[0].create_namespaced_lease("default", lease("lock", "nobody"))
    for round_ in range(ROUNDS):
        reads = [r.read_namespaced_lease("lock", "default") for r in replicas]
        for i, read in enumerate(reads):
            # A new value every round: a write that changes nothing is a no-op and cannot conflict.
            read.spec.holder_identity = f"replica-{i}-{round_}"
        results = race(
            [
                lambda r=r, b=b: r.replace_namespaced_lease("lock", "default", b)
                for r, b in zip(replicas, reads, strict=True)
            ]
        )
        assert sorted(results) == [200, 409]
        stored = fake_api.get("Lease", "default", "lock")
        assert stored["spec"]["holderIdentity"] == f"replica-{results.index(200)}-{round_}"
