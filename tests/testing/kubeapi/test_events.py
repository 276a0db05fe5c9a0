"""Events: created through core/v1 or events.k8s.io/v1, and visible through both, as on a real cluster."""

from __future__ import annotations

import json

from kubernetes import client

from cloudlb.testing.kubeapi import FakeKubeAPI
from tests.testing.kubeapi.builders import event


def test_core_events_are_created_and_selected_by_involved_object(core: client.CoreV1Api) -> None:
    core.create_namespaced_event("default", event("web.1", "web", "EnsuringLoadBalancer"))
    core.create_namespaced_event("default", event("web.2", "web", "EnsuredLoadBalancer"))
    core.create_namespaced_event("default", event("api.1", "api", "EnsuringLoadBalancer"))
    about_web = core.list_namespaced_event(
        "default", field_selector="involvedObject.name=web,involvedObject.kind=Service"
    )
    assert [(e.metadata.name, e.reason) for e in about_web.items] == [
        ("web.1", "EnsuringLoadBalancer"),
        ("web.2", "EnsuredLoadBalancer"),
    ]
    ensuring = core.list_event_for_all_namespaces(field_selector="reason=EnsuringLoadBalancer")
    assert [e.metadata.name for e in ensuring.items] == ["api.1", "web.1"]


def test_an_events_v1_event_is_a_core_event(
    events_v1: client.EventsV1Api, core: client.CoreV1Api, fake_api: FakeKubeAPI
) -> None:
    events_v1.create_namespaced_event(
        "default",
        {
            "metadata": {"name": "web.1"},
            "eventTime": "2024-01-01T00:00:00.000000Z",
            "regarding": {"kind": "Service", "name": "web", "namespace": "default"},
            "reason": "SyncLoadBalancerFailed",
            "note": "Error syncing load balancer",
            "type": "Warning",
            "action": "Sync",
            "reportingController": "cloudlb.io/controller",
            "reportingInstance": "cloudlb-0",
        },
    )
    as_core = core.read_namespaced_event("web.1", "default")
    assert (as_core.involved_object.name, as_core.message, as_core.reporting_component) == (
        "web",
        "Error syncing load balancer",
        "cloudlb.io/controller",
    )
    assert fake_api.objects("Event")[0]["reason"] == "SyncLoadBalancerFailed"


def test_a_core_event_is_readable_as_events_v1(events_v1: client.EventsV1Api, core: client.CoreV1Api) -> None:
    core.create_namespaced_event("default", event("web.1", "web", "EnsuredLoadBalancer"))
    raw = json.loads(events_v1.list_namespaced_event("default", _preload_content=False).read())
    assert raw["kind"] == "EventList" and raw["apiVersion"] == "events.k8s.io/v1"
    item = raw["items"][0]
    assert (item["regarding"]["name"], item["note"], item["deprecatedCount"]) == (
        "web",
        "EnsuredLoadBalancer for web",
        1,
    )
    assert "involvedObject" not in item and "message" not in item
