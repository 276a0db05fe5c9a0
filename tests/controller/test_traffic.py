"""End to end with real traffic: the controller against the fake API server, the local cloud serving on loopback.

Each test reads the results back where they live: the Service from the API server, the load balancer from the local
cloud's API, and the traffic from real connections through the load balancer.
"""

from __future__ import annotations

from typing import Any

from cloudlb.controller.manager import Controller
from cloudlb.controller.records import FINALIZER
from cloudlb.model import LoadBalancerSpec, LoadBalancerStatus
from cloudlb.testing.kubeapi import FakeKubeAPI
from cloudlb_local.client import LocalClient
from cloudlb_local.provider import LocalProvider
from cloudlb_local.testing import DaemonHandle
from tests.controller.conftest import StartController
from tests.controller.objects import endpoint_slice, node, service
from tests.controller.traffic import addresses, backends, free_node_port, ingress_ip, names_seen, pool_of
from tests.controller.waiting import settle, until


def targets_of(cloud: LocalClient, name: str) -> set[tuple[str, int]]:
    (lb,) = pool_of(cloud, name)
    return {(t["ip"], t["port"]) for lst in lb["listeners"] for t in lst["targets"]}


def cloud_calls(controller: Controller, operation: str) -> int:
    value = controller.metrics.registry.get_sample_value(
        "cloudlb_controller_cloud_calls_total", {"provider": "local", "operation": operation, "result": "ok"}
    )
    return int(value or 0)


def reconciles(controller: Controller) -> int:
    registry = controller.metrics.registry
    return int(
        sum(
            sample.value
            for metric in registry.collect()
            if metric.name == "cloudlb_controller_reconciles"
            for sample in metric.samples
            if sample.name.endswith("_total")
        )
    )


def event_counts(kube: FakeKubeAPI, name: str) -> dict[str, int]:
    found = [e for e in kube.objects("Event", "default") if e["involvedObject"]["name"] == name]
    counts: dict[str, int] = {}
    for event in found:
        counts[event["reason"]] = counts.get(event["reason"], 0) + int(event.get("count") or 1)
    return counts


def events_for(kube: FakeKubeAPI, name: str) -> list[str]:
    found = [e for e in kube.objects("Event", "default") if e["involvedObject"]["name"] == name]
    return [e["reason"] for e in sorted(found, key=lambda e: e["metadata"]["resourceVersion"])]


class FinalizerWitness(LocalProvider):
    """The local provider, noting whether the Service carried the finalizer at each ``ensure`` call."""

    def __init__(self, kube: FakeKubeAPI, state_dir: Any) -> None:
        super().__init__(state_dir)
        self.kube = kube
        self.finalizer_at_ensure: list[bool] = []

    def ensure(self, spec: LoadBalancerSpec) -> LoadBalancerStatus:
        stored = self.kube.get("Service", spec.namespace, spec.name) or {}
        self.finalizer_at_ensure.append(FINALIZER in (stored["metadata"].get("finalizers") or []))
        return super().ensure(spec)


def test_a_service_goes_pending_then_gets_its_ingress_and_serves(
    kube: FakeKubeAPI, cloud: LocalClient, local: LocalProvider, start_controller: StartController
) -> None:
    ips = addresses(2)
    port = free_node_port(ips)
    for i, ip in enumerate(ips):
        kube.create(node(f"node-{i}", ip))
    kube.create(service("web", node_port=port))
    assert ingress_ip(kube, "web") is None  # Pending: nobody serves it yet
    witness = FinalizerWitness(kube, local.client.state_dir)

    with backends(ips, port) as running:
        start_controller(witness)
        ip = until(lambda: ingress_ip(kube, "web"), what="an ingress in the Service's status")
        assert witness.finalizer_at_ensure == [True]
        assert targets_of(cloud, "web") == {(ip_, port) for ip_ in ips}
        assert until(lambda: names_seen(ip, 8080) == {b.name for b in running.values()}, what="both nodes serving")
    svc = kube.get("Service", "default", "web")
    assert svc is not None
    assert FINALIZER in svc["metadata"]["finalizers"]
    assert svc["status"]["loadBalancer"]["ingress"][0]["ports"] == [{"port": 8080, "protocol": "TCP"}]
    assert until(lambda: events_for(kube, "web") == ["EnsuringLoadBalancer", "EnsuredLoadBalancer"])


def test_endpoints_churn_and_the_targets_follow(
    kube: FakeKubeAPI, cloud: LocalClient, local: LocalProvider, start_controller: StartController
) -> None:
    ips = addresses(4)
    port = free_node_port(ips)
    kube.create(service("api", node_port=None, pod_targets=True))
    kube.create(endpoint_slice("api", "api-1", ips[:2], port=port))
    with backends(ips, port) as running:
        controller = start_controller(local)
        ip = until(lambda: ingress_ip(kube, "api"), what="an ingress")
        assert targets_of(cloud, "api") == {(ips[0], port), (ips[1], port)}
        assert until(lambda: names_seen(ip, 8080) == {running[ips[0]].name, running[ips[1]].name})

        # A pod is replaced: one endpoint goes, another comes, in a second slice.
        kube.replace(
            {**kube.get("EndpointSlice", "default", "api-1"), **endpoint_slice("api", "api-1", ips[:1], port=port)}
        )
        kube.create(endpoint_slice("api", "api-2", ips[2:3], port=port))
        until(lambda: targets_of(cloud, "api") == {(ips[0], port), (ips[2], port)}, what="the new endpoints")
        assert until(lambda: names_seen(ip, 8080) == {running[ips[0]].name, running[ips[2]].name})

        updates = settle(lambda: cloud_calls(controller, "update_targets"))
        assert 1 <= updates <= 2  # the two slice writes may or may not have merged into one reconcile

        # An endpoint that is not ready is no target: the slice changed, the targets did not, so no cloud call.
        current = kube.get("EndpointSlice", "default", "api-2")
        kube.replace({**current, **endpoint_slice("api", "api-2", ips[2:4], port=port, not_ready=ips[3:4])})
        assert settle(lambda: reconciles(controller)) > 0
        assert cloud_calls(controller, "update_targets") == updates
        assert targets_of(cloud, "api") == {(ips[0], port), (ips[2], port)}

        kube.delete("EndpointSlice", "default", "api-1")
        until(lambda: targets_of(cloud, "api") == {(ips[2], port)}, what="the deleted slice's endpoint gone")
        assert until(lambda: names_seen(ip, 8080) == {running[ips[2]].name})

    # One ensure created it; every endpoint change after that was a targets update, never a full ensure.
    assert cloud_calls(controller, "ensure") == 1
    assert cloud_calls(controller, "update_targets") == updates + 1


def test_nodes_join_and_leave_and_readiness_costs_nothing(
    kube: FakeKubeAPI, cloud: LocalClient, local: LocalProvider, start_controller: StartController
) -> None:
    ips = addresses(3)
    port = free_node_port(ips)
    kube.create(node("node-a", ips[0]))
    kube.create(service("web", node_port=port))
    with backends(ips, port) as running:
        controller = start_controller(local)
        ip = until(lambda: ingress_ip(kube, "web"), what="an ingress")
        assert targets_of(cloud, "web") == {(ips[0], port)}

        kube.create(node("node-b", ips[1]))
        until(lambda: targets_of(cloud, "web") == {(ips[0], port), (ips[1], port)}, what="node-b to join")
        assert until(lambda: names_seen(ip, 8080) == {running[ips[0]].name, running[ips[1]].name})
        ensures = cloud_calls(controller, "ensure")
        updates = settle(lambda: cloud_calls(controller, "update_targets"))

        # Readiness, heartbeats and unrelated labels are not the node set: no reconcile at all.
        kube.patch("Node", None, "node-b", {"status": {"conditions": [{"type": "Ready", "status": "False"}]}})
        kube.patch("Node", None, "node-a", {"metadata": {"labels": {"team": "blue"}}})
        settled = settle(lambda: reconciles(controller), quiet=1.0)
        assert cloud_calls(controller, "update_targets") == updates

        # The exclude label and the autoscaler's taint take nodes out; deleting a node does too.
        kube.create(node("node-c", ips[2]))
        until(lambda: len(targets_of(cloud, "web")) == 3, what="node-c to join")
        exclude = "node.kubernetes.io/exclude-from-external-load-balancers"
        kube.patch("Node", None, "node-a", {"metadata": {"labels": {exclude: ""}}})
        until(lambda: targets_of(cloud, "web") == {(ips[1], port), (ips[2], port)}, what="node-a excluded")
        taint = {"key": "ToBeDeletedByClusterAutoscaler", "value": "1", "effect": "NoSchedule"}
        kube.patch("Node", None, "node-c", {"spec": {"taints": [taint]}})
        until(lambda: targets_of(cloud, "web") == {(ips[1], port)}, what="node-c tainted")
        kube.delete("Node", None, "node-b")
        until(lambda: targets_of(cloud, "web") == set(), what="node-b gone")
        assert until(lambda: names_seen(ip, 8080, tries=4) == {None}, what="nobody left to answer")

        kube.patch("Node", None, "node-a", {"metadata": {"labels": {exclude: None}}})
        until(lambda: targets_of(cloud, "web") == {(ips[0], port)}, what="node-a back")
        assert until(lambda: names_seen(ip, 8080) == {running[ips[0]].name})

    assert reconciles(controller) > settled
    # Every node change was a targets update; only the first sync was a full ensure.
    assert cloud_calls(controller, "ensure") == ensures == 1
    assert until(lambda: "UnAvailableLoadBalancer" in events_for(kube, "web"), what="the no-nodes warning")


def test_the_type_changes_away_from_load_balancer_and_back(
    kube: FakeKubeAPI, cloud: LocalClient, local: LocalProvider, start_controller: StartController
) -> None:
    ips = addresses(1)
    port = free_node_port(ips)
    kube.create(node("node-a", ips[0]))
    kube.create(service("web", node_port=port))
    with backends(ips, port) as running:
        start_controller(local)
        ip = until(lambda: ingress_ip(kube, "web"), what="an ingress")
        assert until(lambda: names_seen(ip, 8080) == {running[ips[0]].name})

        kube.patch("Service", "default", "web", {"spec": {"type": "ClusterIP", "loadBalancerClass": None}})
        until(lambda: pool_of(cloud, "web") == [], what="the load balancer to be deleted")
        svc = until(
            lambda: (
                (s := kube.get("Service", "default", "web"))
                and FINALIZER not in s["metadata"].get("finalizers", [])
                and s
            ),
            what="the finalizer removed",
        )
        assert not (svc.get("status") or {}).get("loadBalancer", {}).get("ingress")
        assert names_seen(ip, 8080, tries=2) == {None}

        back = {"type": "LoadBalancer", "loadBalancerClass": "cloudlb.io/local"}
        back["ports"] = [{"name": "http", "port": 8080, "protocol": "TCP", "nodePort": port}]
        kube.patch("Service", "default", "web", {"spec": back})
        ip = until(lambda: ingress_ip(kube, "web"), what="a new ingress")
        assert len(pool_of(cloud, "web")) == 1
        assert until(lambda: names_seen(ip, 8080) == {running[ips[0]].name})
    # A repeated event bumps the count of the first one, as Kubernetes' recorder does.
    counts = until(lambda: (c := event_counts(kube, "web")).get("EnsuredLoadBalancer") == 2 and c)
    assert counts == {
        "EnsuringLoadBalancer": 2,
        "EnsuredLoadBalancer": 2,
        "Type": 1,
        "DeletingLoadBalancer": 1,
        "DeletedLoadBalancer": 1,
    }


def test_a_deletion_waits_on_the_finalizer_until_the_load_balancer_is_gone(
    kube: FakeKubeAPI, cloud: LocalClient, local: LocalProvider, daemon: DaemonHandle, start_controller: StartController
) -> None:
    ips = addresses(1)
    port = free_node_port(ips)
    kube.create(node("node-a", ips[0]))
    kube.create(service("web", node_port=port))
    start_controller(local)
    until(lambda: ingress_ip(kube, "web"), what="an ingress")

    daemon.stop()  # the cloud is down: the delete cannot succeed
    kube.delete("Service", "default", "web")
    stuck = kube.get("Service", "default", "web")
    assert stuck is not None and stuck["metadata"]["deletionTimestamp"]
    until(lambda: "DeleteLoadBalancerFailed" in events_for(kube, "web"), what="a failed delete")
    assert kube.get("Service", "default", "web") is not None  # held by the finalizer

    daemon.start()
    until(lambda: kube.get("Service", "default", "web") is None, what="the Service to go")
    assert pool_of(cloud, "web") == []
