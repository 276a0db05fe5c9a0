"""Leader election against the fake API server, on fake clocks: who may lead when, and for how long."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from cloudlb.controller.kubeclient import KubeClient
from cloudlb.controller.leader import LeaderElector, LeadershipLost
from cloudlb.testing.kubeapi import FakeKubeAPI
from tests.controller.waiting import until

LEASE = r"/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/lb"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def elector(client: KubeClient, identity: str, clock: Clock) -> LeaderElector:
    return LeaderElector(
        client,
        namespace="kube-system",
        name="lb",
        identity=identity,
        lease_duration=15,
        renew_deadline=10,
        retry_period=2,
        clock=clock,
    )


def spec(kube: FakeKubeAPI) -> dict[str, object]:
    lease = kube.get("Lease", "kube-system", "lb")
    assert lease is not None
    return dict(lease["spec"])


def test_the_first_candidate_takes_the_lease_and_the_second_waits_for_it_to_expire(
    kube: FakeKubeAPI, client: KubeClient
) -> None:
    a_clock, b_clock = Clock(), Clock()
    a, b = elector(client, "a", a_clock), elector(client, "b", b_clock)
    assert a.try_acquire_or_renew() and a.is_leader()
    assert spec(kube)["holderIdentity"] == "a" and spec(kube)["leaseDurationSeconds"] == 15
    assert not b.try_acquire_or_renew()  # held, and b has just seen it
    assert b.holder() == "a"

    # a stops renewing. b counts from when *it* saw the record change, on its own clock.
    b_clock.now += 14.9
    assert not b.try_acquire_or_renew()
    b_clock.now += 0.2
    assert b.try_acquire_or_renew() and b.is_leader()
    assert spec(kube)["holderIdentity"] == "b" and spec(kube)["leaseTransitions"] == 1

    # a's own deadline passed long before b could take over: it no longer acts, even before it learns why.
    a_clock.now += 10.0
    assert not a.is_leader()
    with pytest.raises(LeadershipLost):
        a.check()
    assert not a.try_acquire_or_renew()  # and it cannot take the lease back while b renews


def test_a_renewal_keeps_the_lease_and_moves_the_deadline(kube: FakeKubeAPI, client: KubeClient) -> None:
    clock = Clock()
    a = elector(client, "a", clock)
    assert a.try_acquire_or_renew()
    first = spec(kube)["renewTime"]
    clock.now += 9
    assert a.try_acquire_or_renew()
    clock.now += 9  # 18 s after acquiring, 9 after renewing
    assert a.is_leader()
    assert spec(kube)["renewTime"] != first and spec(kube)["leaseTransitions"] == 0


class Interleaved(KubeClient):
    """A client whose lease reads let another candidate write before the read returns: the race, made certain."""

    def __init__(self, client: KubeClient) -> None:
        super().__init__(client.api_client)
        self.between: list[LeaderElector] = []

    def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        lease = super().get_lease(namespace, name)
        for other in self.between:
            assert other.try_acquire_or_renew()
        return lease


def test_of_two_candidates_writing_at_once_one_wins_by_resource_version(kube: FakeKubeAPI, client: KubeClient) -> None:
    racing = Interleaved(client)
    a, b = elector(racing, "a", Clock()), elector(client, "b", Clock())
    racing.between.append(b)  # b writes between a's read and a's write
    # No lease yet: both create it, and the API server lets only one create succeed.
    assert not a.try_acquire_or_renew()
    assert not a.is_leader() and b.is_leader()
    # A free lease (released): both update it from the same resourceVersion, and only one update succeeds.
    assert b.release()
    assert not a.try_acquire_or_renew()
    assert not a.is_leader() and b.is_leader()
    assert spec(kube)["holderIdentity"] == "b"
    writes = [(r.verb, r.status) for r in kube.requests if r.verb in ("create", "update")]
    assert writes == [
        ("create", 201),  # b
        ("create", 409),  # a: AlreadyExists
        ("update", 200),  # b releases
        ("update", 200),  # b takes it again
        ("update", 409),  # a: Conflict
    ]


def test_release_lets_a_standby_take_over_at_once(kube: FakeKubeAPI, client: KubeClient) -> None:
    a, b = elector(client, "a", Clock()), elector(client, "b", Clock())
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    assert a.release() and not a.is_leader()
    assert b.try_acquire_or_renew()  # no waiting for the 15 s to pass


def test_run_leads_until_stopped_then_stops_the_work_before_releasing(kube: FakeKubeAPI, client: KubeClient) -> None:
    a = LeaderElector(
        client, namespace="kube-system", name="lb", identity="a", lease_duration=3, renew_deadline=2, retry_period=0.2
    )
    stop = threading.Event()
    order: list[str] = []
    result: list[bool] = []

    def stopped() -> None:
        order.append(f"stopped, holder {spec(kube).get('holderIdentity')}")

    thread = threading.Thread(
        target=lambda: result.append(
            a.run(stop, on_started_leading=lambda: order.append("started"), on_stopped_leading=stopped)
        )
    )
    thread.start()
    until(lambda: order == ["started"], what="leadership")
    renewals = kube.count("update", LEASE)
    until(lambda: kube.count("update", LEASE) >= renewals + 2, what="two renewals")
    stop.set()
    thread.join(10)
    assert result == [True]
    assert order == ["started", "stopped, holder a"]  # the work stopped while the lease was still held
    assert not spec(kube).get("holderIdentity")


def test_a_leader_that_cannot_renew_gives_up_within_the_renew_deadline(kube: FakeKubeAPI, client: KubeClient) -> None:
    a = LeaderElector(
        client, namespace="kube-system", name="lb", identity="a", lease_duration=3, renew_deadline=1, retry_period=0.2
    )
    stop = threading.Event()
    events: list[str] = []
    result: list[bool] = []
    thread = threading.Thread(
        target=lambda: result.append(
            a.run(
                stop,
                on_started_leading=lambda: events.append("started"),
                on_stopped_leading=lambda: events.append("stopped"),
            )
        )
    )
    thread.start()
    until(lambda: events == ["started"], what="leadership")
    kube.fail(503, verb="get", path=LEASE, times=1000)  # the API server is unreachable for this replica
    thread.join(10)
    kube.clear_faults()
    assert result == [False] and events == ["started", "stopped"]
    assert not a.is_leader()
    assert spec(kube)["holderIdentity"] == "a"  # not released: it could not reach the server, and need not


def test_inconsistent_timings_are_refused(client: KubeClient) -> None:
    with pytest.raises(ValueError, match="retry period < renew deadline < lease duration"):
        LeaderElector(client, namespace="x", name="y", identity="z", lease_duration=5, renew_deadline=6, retry_period=1)
