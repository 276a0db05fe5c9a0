"""Slim records keep exactly what reconciles read: a spec built from them equals the spec built from the full
objects, errors included, and the changes that must not wake the controller leave them equal."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from cloudlb.controller.records import service_relevant, slim_node, slim_service, slim_slice, user_changed
from cloudlb.errors import InvalidSpecError
from cloudlb.kube import spec_from_manifests
from cloudlb.targets import NodePool
from tests.controller.objects import endpoint_slice, node, service

JSON = dict[str, Any]


def full_node(name: str, ip: str, **kwargs: Any) -> JSON:
    body = node(name, ip, **kwargs)
    body["metadata"]["labels"].update({"topology.kubernetes.io/zone": "z1", "kubernetes.io/os": "linux"})
    body["metadata"]["managedFields"] = [{"manager": "kubelet", "fieldsV1": {"f:status": {}}}]
    body["status"]["images"] = [{"names": ["registry/app:1"], "sizeBytes": 1234}]
    return body


def build(svc: JSON, slices: list[JSON], nodes: list[JSON]) -> Any:
    try:
        return spec_from_manifests(svc, slices, NodePool.of(nodes), cluster="c")
    except InvalidSpecError as exc:
        return ("error", exc.path, exc.message)


def slim(svc: JSON, slices: list[JSON], nodes: list[JSON]) -> Any:
    return build(slim_service(svc), [slim_slice(s).manifest() for s in slices], [slim_node(n) for n in nodes])


def broken_slice() -> JSON:
    body = endpoint_slice("web", "web-1", ["10.0.0.1"], port=80)
    body["endpoints"][0]["conditions"]["ready"] = "yes"
    return body


def foreign_slice() -> JSON:
    body = endpoint_slice("web", "web-2", ["10.0.0.9"], port=80)
    body["endpoints"].append("not an endpoint")
    return body


NODES = [
    full_node("a", "10.1.0.1", provider_id="aws:///z/i-1"),
    full_node("b", "10.1.0.2", labels={"node.kubernetes.io/exclude-from-external-load-balancers": ""}),
    full_node("c", "10.1.0.3", taints=[{"key": "ToBeDeletedByClusterAutoscaler", "effect": "NoSchedule"}]),
    full_node("d", "10.1.0.4", ready=False),
]


@pytest.mark.parametrize(
    ("svc", "slices"),
    [
        pytest.param(service("web"), [], id="node-mode"),
        pytest.param(
            service("web", node_port=None, pod_targets=True),
            [endpoint_slice("web", "web-1", ["10.0.0.1", "10.0.0.2"], port=80, not_ready=["10.0.0.2"])],
            id="pod-mode",
        ),
        pytest.param(service("web", node_port=None, pod_targets=True), [broken_slice()], id="bad-condition"),
        pytest.param(service("web", node_port=None, pod_targets=True), [foreign_slice()], id="irregular-slice"),
        pytest.param(service("web", annotations={"cloudlb.io/algorithmm": "x"}), [], id="bad-annotation"),
    ],
)
def test_a_spec_from_slim_records_equals_the_spec_from_full_objects(svc: JSON, slices: list[JSON]) -> None:
    assert slim(svc, slices, NODES) == build(svc, slices, NODES)


def test_slim_nodes_ignore_what_kubernetes_ignores() -> None:
    before = full_node("a", "10.1.0.1")
    after = copy.deepcopy(before)
    after["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    after["metadata"]["labels"]["team"] = "blue"
    after["metadata"]["resourceVersion"] = "99"
    after["status"]["images"] = []
    assert slim_node(after) == slim_node(before)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda n: n["spec"].update(providerID="aws:///z/i-2"), id="provider-id"),
        pytest.param(
            lambda n: n["metadata"]["labels"].update({"node.kubernetes.io/exclude-from-external-load-balancers": ""}),
            id="exclude-label",
        ),
        pytest.param(lambda n: n["spec"].update(taints=[{"key": "ToBeDeletedByClusterAutoscaler"}]), id="taint"),
        pytest.param(lambda n: n["status"]["addresses"][0].update(address="10.1.0.9"), id="internal-ip"),
        pytest.param(lambda n: n["metadata"].update(deletionTimestamp="2026-01-01T00:00:00Z"), id="deleting"),
    ],
)
def test_slim_nodes_keep_what_decides_the_node_set(change: Any) -> None:
    before = full_node("a", "10.1.0.1")
    changed = copy.deepcopy(before)
    change(changed)
    assert slim_node(changed) != slim_node(before)


def test_status_and_resource_version_are_not_a_services_relevant_change() -> None:
    before = slim_service(service("web"))
    after = copy.deepcopy(before)
    after["metadata"]["resourceVersion"] = "7"
    after["status"] = {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}
    assert service_relevant(after) == service_relevant(before)
    ours = copy.deepcopy(before)
    ours["metadata"]["finalizers"] = ["service.kubernetes.io/load-balancer-cleanup"]
    assert service_relevant(ours) != service_relevant(before) and not user_changed(before, ours)
    edited = copy.deepcopy(before)
    edited["spec"]["ports"][0]["port"] = 9090
    assert user_changed(before, edited)
