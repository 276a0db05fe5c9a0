"""Updates and patches through the official client: conflicts, the three patch types on finalizers and status,
status-subresource isolation, no-op writes, and the Service fields the API server owns."""

from __future__ import annotations

import json

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from cloudlb.testing.kubeapi import FakeKubeAPI
from tests.testing.kubeapi.builders import node, service

MERGE = "application/merge-patch+json"
FINALIZER = "service.kubernetes.io/load-balancer-cleanup"


def reason(exc: ApiException) -> tuple[int, str]:
    return exc.status, json.loads(exc.body)["reason"]


@pytest.fixture
def web(core: client.CoreV1Api) -> client.V1Service:
    body = service("web", labels={"app": "web"})
    body["metadata"]["finalizers"] = ["example.com/keep"]
    return core.create_namespaced_service("default", body)


def test_replace_with_a_stale_resource_version_is_a_conflict(core: client.CoreV1Api, web: client.V1Service) -> None:
    first = core.read_namespaced_service("web", "default")
    second = core.read_namespaced_service("web", "default")
    first.metadata.labels = {"writer": "first"}
    core.replace_namespaced_service("web", "default", first)
    second.metadata.labels = {"writer": "second"}
    with pytest.raises(ApiException) as info:
        core.replace_namespaced_service("web", "default", second)
    assert reason(info.value) == (409, "Conflict")
    assert "the object has been modified" in json.loads(info.value.body)["message"]
    assert core.read_namespaced_service("web", "default").metadata.labels == {"writer": "first"}


def test_replace_without_a_resource_version_is_unconditional(core: client.CoreV1Api, web: client.V1Service) -> None:
    body = core.read_namespaced_service("web", "default")
    body.metadata.resource_version = None
    body.metadata.labels = {"unconditional": "yes"}
    assert core.replace_namespaced_service("web", "default", body).metadata.labels == {"unconditional": "yes"}


def test_a_patch_carrying_a_stale_resource_version_is_a_conflict(core: client.CoreV1Api, web: client.V1Service) -> None:
    core.patch_namespaced_service("web", "default", {"metadata": {"labels": {"bump": "1"}}})
    with pytest.raises(ApiException) as info:
        stale = {"metadata": {"resourceVersion": web.metadata.resource_version, "labels": {"bump": "2"}}}
        core.patch_namespaced_service("web", "default", stale)
    assert reason(info.value) == (409, "Conflict")


@pytest.mark.parametrize(
    ("patch", "content_type", "expected"),
    [
        pytest.param(
            {"metadata": {"finalizers": [FINALIZER]}}, None, ["example.com/keep", FINALIZER], id="strategic-adds"
        ),
        pytest.param(
            {"metadata": {"$deleteFromPrimitiveList/finalizers": ["example.com/keep"]}},
            None,
            None,
            id="strategic-delete-directive",
        ),
        pytest.param({"metadata": {"finalizers": [FINALIZER]}}, MERGE, [FINALIZER], id="merge-replaces"),
        pytest.param({"metadata": {"finalizers": None}}, MERGE, None, id="merge-null-removes"),
        pytest.param(
            [
                {"op": "test", "path": "/metadata/finalizers/0", "value": "example.com/keep"},
                {"op": "remove", "path": "/metadata/finalizers/0"},
            ],
            None,
            None,
            id="json-patch-remove",
        ),
        pytest.param(
            [{"op": "add", "path": "/metadata/finalizers/-", "value": FINALIZER}],
            None,
            ["example.com/keep", FINALIZER],
            id="json-patch-append",
        ),
    ],
)
def test_finalizer_patches(
    core: client.CoreV1Api, web: client.V1Service, patch: object, content_type: str | None, expected: list[str] | None
) -> None:
    kwargs = {"_content_type": content_type} if content_type else {}
    core.patch_namespaced_service("web", "default", patch, **kwargs)
    assert core.read_namespaced_service("web", "default").metadata.finalizers == expected


def test_a_failed_json_patch_test_changes_nothing(core: client.CoreV1Api, web: client.V1Service) -> None:
    patch = [
        {"op": "remove", "path": "/metadata/finalizers/0"},
        {"op": "test", "path": "/metadata/labels/app", "value": "not-web"},
    ]
    with pytest.raises(ApiException) as info:
        core.patch_namespaced_service("web", "default", patch)
    assert reason(info.value) == (422, "Invalid")
    assert core.read_namespaced_service("web", "default").metadata.finalizers == ["example.com/keep"]


@pytest.mark.parametrize("content_type", [pytest.param(None, id="strategic"), pytest.param(MERGE, id="merge")])
def test_status_patch_replaces_the_ingress_list(
    core: client.CoreV1Api, web: client.V1Service, content_type: str | None
) -> None:
    kwargs = {"_content_type": content_type} if content_type else {}
    two = {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}, {"ip": "192.0.2.2"}]}}}
    core.patch_namespaced_service_status("web", "default", two, **kwargs)
    one = {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.9"}]}}}
    core.patch_namespaced_service_status("web", "default", one, **kwargs)
    ingress = core.read_namespaced_service_status("web", "default").status.load_balancer.ingress
    assert [i.ip for i in ingress] == ["192.0.2.9"]


def test_the_status_subresource_writes_only_status(core: client.CoreV1Api, web: client.V1Service) -> None:
    patch = {
        "metadata": {"labels": {"sneaky": "yes"}, "finalizers": None},
        "spec": {"type": "ClusterIP"},
        "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}},
    }
    after = core.patch_namespaced_service_status("web", "default", patch, _content_type=MERGE)
    assert after.status.load_balancer.ingress[0].ip == "192.0.2.1"
    assert after.metadata.labels == {"app": "web"}
    assert after.metadata.finalizers == ["example.com/keep"]
    assert after.spec.type == "LoadBalancer"


def test_the_main_resource_ignores_status(core: client.CoreV1Api, web: client.V1Service) -> None:
    fresh = core.patch_namespaced_service(
        "web", "default", {"status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.1"}]}}}
    )
    assert fresh.status is None or fresh.status.load_balancer is None
    core.patch_namespaced_service_status(
        "web", "default", {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}}
    )
    patch = {
        "metadata": {"labels": {"new": "label"}},
        "status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.7"}]}},
    }
    after = core.patch_namespaced_service("web", "default", patch)
    assert after.metadata.labels == {"app": "web", "new": "label"}
    assert [i.ip for i in after.status.load_balancer.ingress] == ["192.0.2.1"]
    body = core.read_namespaced_service("web", "default")
    body.status = client.V1ServiceStatus(load_balancer=client.V1LoadBalancerStatus(ingress=[]))
    replaced = core.replace_namespaced_service("web", "default", body)
    assert [i.ip for i in replaced.status.load_balancer.ingress] == ["192.0.2.1"]


def test_node_status_is_a_subresource_too(core: client.CoreV1Api) -> None:
    core.create_node(node("n1", "10.0.0.1"))
    core.patch_node("n1", {"status": {"addresses": [{"type": "InternalIP", "address": "10.9.9.9"}]}})
    assert core.read_node("n1").status.addresses[0].address == "10.0.0.1"
    # Node addresses merge by type under strategic merge: the InternalIP changes, the Hostname stays.
    core.patch_node_status("n1", {"status": {"addresses": [{"type": "InternalIP", "address": "10.9.9.9"}]}})
    assert [(a.type, a.address) for a in core.read_node("n1").status.addresses] == [
        ("InternalIP", "10.9.9.9"),
        ("Hostname", "n1"),
    ]


def test_a_write_that_changes_nothing_keeps_the_resource_version(
    core: client.CoreV1Api, fake_api: FakeKubeAPI, web: client.V1Service
) -> None:
    before = fake_api.resource_version
    again = core.patch_namespaced_service("web", "default", {"metadata": {"labels": {"app": "web"}}})
    unchanged = core.replace_namespaced_service("web", "default", core.read_namespaced_service("web", "default"))
    assert again.metadata.resource_version == unchanged.metadata.resource_version == web.metadata.resource_version
    assert fake_api.resource_version == before


def test_patching_a_missing_object_is_not_found(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as info:
        core.patch_namespaced_service("missing", "default", {"metadata": {"labels": {"a": "b"}}})
    assert reason(info.value) == (404, "NotFound")


def test_server_side_apply_is_refused_plainly(core: client.CoreV1Api, web: client.V1Service) -> None:
    with pytest.raises(ApiException) as info:
        core.patch_namespaced_service("web", "default", {"metadata": {}}, _content_type="application/apply-patch+yaml")
    assert reason(info.value) == (415, "UnsupportedMediaType")


def test_a_load_balancer_service_gets_a_cluster_ip_and_node_ports(core: client.CoreV1Api) -> None:
    body = service("web", externalTrafficPolicy="Local")
    body["spec"]["ports"].append({"name": "udp", "port": 53, "protocol": "UDP"})
    created = core.create_namespaced_service("default", body)
    node_ports = [p.node_port for p in created.spec.ports]
    assert created.spec.cluster_ip.startswith("10.96.")
    assert all(30000 <= p <= 32767 for p in node_ports) and len(set(node_ports)) == 2
    assert created.spec.health_check_node_port not in (None, *node_ports)
    assert created.spec.ports[1].target_port == 53
    other = core.create_namespaced_service("default", service("other"))
    assert other.spec.ports[0].node_port not in node_ports
    assert other.spec.cluster_ip != created.spec.cluster_ip


def test_a_replace_without_node_ports_keeps_them(core: client.CoreV1Api, web: client.V1Service) -> None:
    body = core.read_namespaced_service("web", "default")
    body.spec.ports[0].node_port = None
    assert (
        core.replace_namespaced_service("web", "default", body).spec.ports[0].node_port == web.spec.ports[0].node_port
    )


def test_a_taken_node_port_is_refused(core: client.CoreV1Api, web: client.V1Service) -> None:
    body = service("copy")
    body["spec"]["ports"][0]["nodePort"] = web.spec.ports[0].node_port
    with pytest.raises(ApiException) as info:
        core.create_namespaced_service("default", body)
    assert reason(info.value) == (422, "Invalid")


def test_leaving_load_balancer_drops_its_fields_and_frees_the_port(core: client.CoreV1Api) -> None:
    created = core.create_namespaced_service("default", service("web", loadBalancerClass="cloudlb.io/local"))
    changed = core.patch_namespaced_service("web", "default", {"spec": {"type": "ClusterIP"}})
    assert changed.spec.ports[0].node_port is None
    assert changed.spec.load_balancer_class is None
    assert changed.spec.cluster_ip == created.spec.cluster_ip
    body = service("next")
    body["spec"]["ports"][0]["nodePort"] = created.spec.ports[0].node_port
    assert core.create_namespaced_service("default", body).spec.ports[0].node_port == created.spec.ports[0].node_port


def test_load_balancer_class_cannot_change(core: client.CoreV1Api) -> None:
    core.create_namespaced_service("default", service("web", loadBalancerClass="cloudlb.io/local"))
    with pytest.raises(ApiException) as info:
        core.patch_namespaced_service("web", "default", {"spec": {"loadBalancerClass": "cloudlb.io/aws"}})
    assert reason(info.value) == (422, "Invalid")
