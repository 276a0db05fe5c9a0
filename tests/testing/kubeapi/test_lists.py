"""Lists through the official client: label and field selectors, cluster-wide paths, pagination that stays
consistent across pages, and exact reads of an older resourceVersion."""

from __future__ import annotations

import json

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from cloudlb.testing.kubeapi import FakeKubeAPI
from tests.testing.kubeapi.builders import endpoint_slice, node, service


@pytest.fixture
def labelled(core: client.CoreV1Api) -> None:
    for name, labels in [
        ("api", {"app": "api", "tier": "back"}),
        ("db", {"tier": "back"}),
        ("web", {"app": "web", "tier": "front"}),
    ]:
        core.create_namespaced_service("default", service(name, labels=labels))


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        pytest.param("app=web", ["web"], id="equals"),
        pytest.param("app==web", ["web"], id="double-equals"),
        pytest.param("app!=web", ["api", "db"], id="not-equals-includes-unlabelled"),
        pytest.param("app in (web, api)", ["api", "web"], id="in"),
        pytest.param("app notin (web)", ["api", "db"], id="notin"),
        pytest.param("app", ["api", "web"], id="exists"),
        pytest.param("!app", ["db"], id="not-exists"),
        pytest.param("tier=back,app", ["api"], id="and"),
        pytest.param("", ["api", "db", "web"], id="empty"),
    ],
)
def test_label_selectors(core: client.CoreV1Api, labelled: None, selector: str, expected: list[str]) -> None:
    items = core.list_namespaced_service("default", label_selector=selector).items
    assert [s.metadata.name for s in items] == expected


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        pytest.param("metadata.name=web", ["web"], id="name"),
        pytest.param("metadata.name!=web", ["api", "db"], id="not-name"),
        pytest.param("metadata.namespace=default,metadata.name=db", ["db"], id="namespace-and-name"),
    ],
)
def test_field_selectors(core: client.CoreV1Api, labelled: None, selector: str, expected: list[str]) -> None:
    assert [s.metadata.name for s in core.list_namespaced_service("default", field_selector=selector).items] == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"field_selector": "spec.type=LoadBalancer"}, "field label not supported", id="unindexed-field"),
        pytest.param({"label_selector": "app in web"}, "unable to parse requirement", id="bad-label-syntax"),
    ],
)
def test_selectors_the_real_server_rejects_are_400(
    core: client.CoreV1Api, kwargs: dict[str, str], message: str
) -> None:
    with pytest.raises(ApiException) as info:
        core.list_namespaced_service("default", **kwargs)
    assert info.value.status == 400
    assert message in json.loads(info.value.body)["message"]


def test_endpoint_slices_by_service_name(discovery: client.DiscoveryV1Api) -> None:
    for ns, name, svc in [
        ("one", "web-a", "web"),
        ("one", "web-b", "web"),
        ("one", "api-a", "api"),
        ("two", "web-c", "web"),
    ]:
        discovery.create_namespaced_endpoint_slice(ns, endpoint_slice(name, svc, ["10.1.0.1"], namespace=ns))
    selector = "kubernetes.io/service-name=web"
    in_one = discovery.list_namespaced_endpoint_slice("one", label_selector=selector).items
    everywhere = discovery.list_endpoint_slice_for_all_namespaces(label_selector=selector).items
    assert [s.metadata.name for s in in_one] == ["web-a", "web-b"]
    assert [(s.metadata.namespace, s.metadata.name) for s in everywhere] == [
        ("one", "web-a"),
        ("one", "web-b"),
        ("two", "web-c"),
    ]


def test_nodes_are_cluster_scoped_and_keep_their_status(core: client.CoreV1Api) -> None:
    core.create_node(node("n1", "10.0.0.1"))
    unschedulable = node("n2", "10.0.0.2")
    unschedulable["spec"] = {"unschedulable": True}
    core.create_node(unschedulable)
    assert core.read_node("n1").status.addresses[0].address == "10.0.0.1"
    assert [n.metadata.name for n in core.list_node(field_selector="spec.unschedulable=false").items] == ["n1"]
    assert core.read_node("n2").metadata.namespace is None


def test_pages_are_one_consistent_snapshot(core: client.CoreV1Api) -> None:
    for name in ("a", "b", "c", "d", "e"):
        core.create_namespaced_service("default", service(name))
    first = core.list_namespaced_service("default", limit=2)
    assert [s.metadata.name for s in first.items] == ["a", "b"]
    assert first.metadata.remaining_item_count == 3
    core.delete_namespaced_service("d", "default")
    core.create_namespaced_service("default", service("bb"))
    rest = core.list_namespaced_service("default", limit=10, _continue=first.metadata._continue)
    assert [s.metadata.name for s in rest.items] == ["c", "d", "e"]
    assert rest.metadata.resource_version == first.metadata.resource_version
    assert rest.metadata._continue is None
    now = core.list_namespaced_service("default")
    assert [s.metadata.name for s in now.items] == ["a", "b", "bb", "c", "e"]


def test_a_continue_token_past_the_history_is_410(core: client.CoreV1Api, fake_api: FakeKubeAPI) -> None:
    for name in ("a", "b", "c"):
        core.create_namespaced_service("default", service(name))
    first = core.list_namespaced_service("default", limit=1)
    core.create_namespaced_service("default", service("d"))
    fake_api.compact()
    with pytest.raises(ApiException) as info:
        core.list_namespaced_service("default", limit=1, _continue=first.metadata._continue)
    assert (info.value.status, json.loads(info.value.body)["reason"]) == (410, "Expired")


def test_an_exact_list_shows_an_older_state(core: client.CoreV1Api) -> None:
    core.create_namespaced_service("default", service("a", labels={"v": "1"}))
    then = core.list_namespaced_service("default").metadata.resource_version
    core.patch_namespaced_service("a", "default", {"metadata": {"labels": {"v": "2"}}})
    core.create_namespaced_service("default", service("b"))
    old = core.list_namespaced_service("default", resource_version=then, resource_version_match="Exact")
    assert [(s.metadata.name, s.metadata.labels) for s in old.items] == [("a", {"v": "1"})]
    assert old.metadata.resource_version == then


def test_list_items_are_bare_and_the_list_is_typed(api_client: client.ApiClient, core: client.CoreV1Api) -> None:
    core.create_namespaced_service("default", service("web"))
    raw = json.loads(core.list_namespaced_service("default", _preload_content=False).read())
    assert (raw["kind"], raw["apiVersion"]) == ("ServiceList", "v1")
    assert "kind" not in raw["items"][0] and raw["items"][0]["metadata"]["name"] == "web"
