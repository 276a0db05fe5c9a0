"""One controller process in this process: its probes and metrics while it stands by, leads and shuts down."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cloudlb.controller.kubeclient import KubeClient
from cloudlb.controller.runner import LeaderSettings, Process
from cloudlb.testing.kubeapi import FakeKubeAPI
from tests.controller.conftest import FAST
from tests.controller.objects import node, service
from tests.controller.providers import RecordingProvider
from tests.controller.waiting import until

FAST_LEASE = {"lease_duration": 3.0, "renew_deadline": 2.0, "retry_period": 0.2}


def get(address: str, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://{address}{path}", timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


class Running:
    def __init__(self, process: Process) -> None:
        self.process = process
        self.code: list[int] = []
        self.thread = threading.Thread(target=lambda: self.code.append(process.run()), daemon=True)
        self.thread.start()
        until(lambda: process.health is not None and get(process.health.address, "/healthz")[0] == 200)

    @property
    def address(self) -> str:
        assert self.process.health is not None
        return self.process.health.address

    def stop(self) -> int:
        self.process.stop()
        self.thread.join(30)
        return self.code[0]


@pytest.fixture
def running(client: KubeClient) -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for item in started:
        if item.thread.is_alive():
            item.stop()


def start(client: KubeClient, running: list[Running], identity: str, provider: RecordingProvider) -> Running:
    leader = LeaderSettings(namespace="default", name="lb", identity=identity, **FAST_LEASE)
    item = Running(Process(client, provider, FAST, leader, metrics_address="127.0.0.1:0"))
    running.append(item)
    return item


def test_probes_and_metrics_of_a_leader_and_a_standby(
    kube: FakeKubeAPI, client: KubeClient, running: list[Running]
) -> None:
    kube.create(node("node-a", "10.0.0.1"))
    kube.create(service("web"))
    provider = RecordingProvider()
    leader = start(client, running, "first", provider)
    until(lambda: get(leader.address, "/readyz") == (200, "ok: leading; caches synced\n"), what="the leader ready")
    standby = start(client, running, "second", RecordingProvider())
    # the standby learns who leads at its first look at the lease, which may come after start() returns
    until(
        lambda: get(standby.address, "/readyz") == (200, "ok: standing by; the leader is first\n"),
        what="the standby to see the leader",
    )
    assert get(standby.address, "/healthz")[0] == 200
    assert get(leader.address, "/nope")[0] == 404

    until(lambda: provider.count("ensure") == 1, what="the Service to be ensured")
    status, text = get(leader.address, "/metrics")
    assert status == 200
    found = samples(text)
    assert found[("cloudlb_controller_leader", ())] == 1
    assert (
        found[
            (
                "cloudlb_controller_cloud_calls_total",
                (("operation", "ensure"), ("provider", "memory"), ("result", "ok")),
            )
        ]
        == 1
    )
    assert found[("cloudlb_controller_reconciles_total", (("outcome", "ensured"),))] == 1
    assert found[("cloudlb_controller_cached_objects", (("resource", "services"),))] == 1
    assert found[("cloudlb_controller_cached_objects", (("resource", "nodes"),))] == 1
    assert found[("cloudlb_controller_queue_depth", ())] == 0
    assert found[("cloudlb_controller_reconcile_duration_seconds_count", ())] >= 1
    assert found[("cloudlb_controller_queue_wait_seconds_count", ())] >= 1
    assert (
        "cloudlb_controller_cloud_call_duration_seconds_count",
        (("operation", "ensure"), ("provider", "memory")),
    ) in found
    standby_samples = samples(get(standby.address, "/metrics")[1])
    assert standby_samples[("cloudlb_controller_leader", ())] == 0
    assert not any(name == "cloudlb_controller_reconciles_total" for name, _ in standby_samples)

    # A graceful stop hands the lease over: the standby leads at its next try, not after a lease duration.
    assert leader.stop() == 0
    until(lambda: get(standby.address, "/readyz") == (200, "ok: leading; caches synced\n"), what="the handover")
    assert (kube.get("Lease", "default", "lb") or {})["spec"]["holderIdentity"] == "second"
    assert standby.stop() == 0


def test_without_leader_election_it_simply_runs(kube: FakeKubeAPI, client: KubeClient) -> None:
    kube.create(node("node-a", "10.0.0.1"))
    kube.create(service("web"))
    provider = RecordingProvider()
    process = Process(client, provider, FAST, LeaderSettings(enabled=False), metrics_address="127.0.0.1:0")
    item = Running(process)
    until(lambda: provider.count("ensure") == 1, what="the Service to be ensured")
    assert item.stop() == 0
    assert kube.get("Lease", "default", "cloudlb-controller") is None
    assert kube.count(None, r"/apis/coordination\.k8s\.io/.*") == 0
