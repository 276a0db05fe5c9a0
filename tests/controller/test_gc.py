"""Garbage collection: load balancers whose Service went away while no controller ran are found through
``list_owned`` and deleted when the next controller starts; everything else is left alone."""

from __future__ import annotations

from cloudlb.controller.records import FINALIZER
from cloudlb.kube import spec_from_manifests
from cloudlb.testing.kubeapi import FakeKubeAPI
from cloudlb_local.client import LocalClient
from cloudlb_local.provider import LocalProvider
from tests.controller.conftest import StartController
from tests.controller.objects import node, service
from tests.controller.traffic import addresses, ingress_ip, pool_of
from tests.controller.waiting import until


def force_delete(kube: FakeKubeAPI, name: str) -> None:
    """What an impatient admin does while the controller is down: strip the finalizer, delete the Service."""
    kube.patch("Service", "default", name, {"metadata": {"finalizers": None}})
    kube.delete("Service", "default", name)
    assert kube.get("Service", "default", name) is None


def test_a_controller_started_after_services_went_away_cleans_up_through_gc(
    kube: FakeKubeAPI, cloud: LocalClient, local: LocalProvider, start_controller: StartController
) -> None:
    kube.create(node("node-a", addresses(1)[0]))
    names = ("gone", "kept", "recreated", "retyped")
    for i, name in enumerate(names):
        kube.create(service(name, node_port=30100 + i, port=8080 + i))
    first = start_controller(local)
    for name in names:
        until(lambda name=name: ingress_ip(kube, name), what=f"{name} to be served")
    old = {name: pool_of(cloud, name)[0] for name in names}
    # A load balancer the same provider holds for another cluster: never ours to touch.
    foreign = spec_from_manifests(service("gone", node_port=30199), cluster="other")
    local.ensure(foreign)
    first.stop()

    force_delete(kube, "gone")
    force_delete(kube, "recreated")
    kube.create(service("recreated", node_port=30102, port=8082))
    kube.patch("Service", "default", "retyped", {"metadata": {"finalizers": None}})
    kube.patch("Service", "default", "retyped", {"spec": {"type": "ClusterIP", "loadBalancerClass": None}})

    second = start_controller(local)
    until(lambda: old["gone"]["id"] not in {lb["id"] for lb in pool_of(cloud, "gone")}, what="gc")
    until(lambda: ingress_ip(kube, "recreated"), what="the new incarnation to be served")
    assert [lb["id"] for lb in pool_of(cloud, "kept")] == [old["kept"]["id"]]  # untouched
    (new,) = pool_of(cloud, "recreated")
    assert new["id"] != old["recreated"]["id"]
    assert new["tags"]["cloudlb.io/service-uid"] == kube.get("Service", "default", "recreated")["metadata"]["uid"]
    assert pool_of(cloud, "retyped") == []
    # The other cluster's load balancer is all that remains under the name "gone".
    (left,) = pool_of(cloud, "gone")
    assert left["tags"]["cloudlb.io/cluster"] == "other"
    # gc runs before the workers start, so it, not an ensure, removed the old incarnation's load balancer.
    assert second.metrics.registry.get_sample_value("cloudlb_controller_gc_deleted_total") == 3
    kept = kube.get("Service", "default", "kept")
    assert kept is not None and FINALIZER in kept["metadata"]["finalizers"]
