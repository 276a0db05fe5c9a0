"""High availability: two ``cloudlb controller`` processes against one fake API server and one local cloud.

Exactly one replica reconciles. A killed leader is replaced once its lease has expired, and the new leader does
nothing twice: no cloud mutation, no status write. A frozen leader (a partitioned node) that wakes up after
another took over does nothing at all and exits.
"""

from __future__ import annotations

import datetime
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudlb.testing.kubeapi import FakeKubeAPI
from cloudlb_local.client import LocalClient
from cloudlb_local.testing import DaemonHandle
from tests.controller.objects import node, service
from tests.controller.processes import Replica, write_config
from tests.controller.traffic import addresses, free_node_port, ingress_ip, pool_of
from tests.controller.waiting import settle, until

LEASE = "cloudlb-controller-local"
LEASE_DURATION = 3.0
MUTATING = ("POST", "PATCH", "DELETE")


@pytest.fixture
def replicas(kube: FakeKubeAPI, kubeconfig: str, daemon: DaemonHandle, tmp_path: Path) -> Iterator[dict[str, Replica]]:
    config = write_config(tmp_path, daemon.state_dir)
    started = {name: Replica(name, kubeconfig=kubeconfig, config=config, log_dir=tmp_path) for name in ("a", "b")}
    for replica in started.values():
        until(lambda r=replica: r.probe("/healthz"), what=f"replica {replica.name} to answer its probes")
    yield started
    for replica in started.values():
        replica.stop()


def holder(kube: FakeKubeAPI) -> str | None:
    lease = kube.get("Lease", "default", LEASE)
    return (lease or {}).get("spec", {}).get("holderIdentity")


def mutations(cloud: LocalClient) -> int:
    calls = cloud.info()["calls"]
    return sum(calls.get(m, 0) for m in MUTATING)


def when(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def seed(kube: FakeKubeAPI, count: int) -> None:
    ips = addresses(1)
    kube.create(node("node-a", ips[0]))
    port = free_node_port(ips)
    for i in range(count):
        kube.create(service(f"web-{i}", node_port=port + i if port + i <= 32767 else port - i))


def test_one_replica_reconciles_and_a_killed_leader_is_replaced_without_repeating_work(
    kube: FakeKubeAPI, cloud: LocalClient, replicas: dict[str, Replica]
) -> None:
    seed(kube, 3)
    leader_name = until(lambda: holder(kube), what="a leader")
    for i in range(3):
        until(lambda i=i: ingress_ip(kube, f"web-{i}"), what=f"web-{i} to get an ingress")
    leader, standby = replicas[leader_name], replicas["b" if leader_name == "a" else "a"]
    assert leader.metric("cloudlb_controller_leader") == 1
    assert standby.metric("cloudlb_controller_leader") == 0
    assert leader.total("cloudlb_controller_reconciles_total") >= 3
    assert standby.total("cloudlb_controller_reconciles_total") == 0  # the standby never reconciled anything
    assert standby.total("cloudlb_controller_cloud_calls_total") == 0

    before = settle(lambda: (mutations(cloud), [kube.get("Service", "default", f"web-{i}") for i in range(3)]))
    last_renewal = kube.get("Lease", "default", LEASE)["spec"]["renewTime"]
    leader.signal(signal.SIGKILL)
    assert leader.wait() == -signal.SIGKILL

    until(lambda: holder(kube) == standby.name, timeout=30, what="the standby to take the lease")
    lease = kube.get("Lease", "default", LEASE)["spec"]
    # Never before the old lease expired: the new term started at least a lease duration after the last renewal
    # the old leader wrote (both stamps come from this host's clock).
    assert (when(lease["acquireTime"]) - when(last_renewal)).total_seconds() >= LEASE_DURATION
    assert lease["leaseTransitions"] == 1
    until(lambda: standby.total("cloudlb_controller_reconciles_total") >= 3, what="the new leader to resync")
    after = settle(lambda: (mutations(cloud), [kube.get("Service", "default", f"web-{i}") for i in range(3)]))
    assert after == before  # no cloud mutation, no write to any Service: nothing done twice
    assert (
        standby.metric("cloudlb_controller_cloud_calls_total", provider="local", operation="ensure", result="ok") == 3
    )
    for i in range(3):
        assert len(pool_of(cloud, f"web-{i}")) == 1

    # The new leader serves new work, and on SIGTERM it stops and hands the lease back.
    kube.create(service("late", node_port=None))
    until(lambda: ingress_ip(kube, "late"), what="the new leader to serve a new Service")
    standby.signal(signal.SIGTERM)
    assert standby.wait() == 0
    assert holder(kube) is None


def test_a_frozen_leader_wakes_up_stopped_and_does_nothing(
    kube: FakeKubeAPI, cloud: LocalClient, replicas: dict[str, Replica]
) -> None:
    seed(kube, 1)
    leader_name = until(lambda: holder(kube), what="a leader")
    until(lambda: ingress_ip(kube, "web-0"), what="an ingress")
    leader, standby = replicas[leader_name], replicas["b" if leader_name == "a" else "a"]

    leader.signal(signal.SIGSTOP)  # partitioned: it can neither renew nor hear that it should not act
    kube.create(service("while-frozen", node_port=None))  # waits in the frozen leader's watch stream
    until(lambda: holder(kube) == standby.name, timeout=30, what="the standby to take the lease")
    until(lambda: ingress_ip(kube, "while-frozen"), what="the new leader to serve the new Service")

    leader.signal(signal.SIGCONT)
    assert leader.wait() == 1  # it saw its renew deadline had passed, stopped and exited for a clean restart
    assert "lost lease" in leader.log()
    assert len(pool_of(cloud, "while-frozen")) == 1
    events = [e for e in kube.objects("Event", "default") if e["involvedObject"]["name"] == "while-frozen"]
    assert {e["reportingInstance"] for e in events} == {standby.name}
    assert sum(e["count"] for e in events if e["reason"] == "EnsuringLoadBalancer") == 1
