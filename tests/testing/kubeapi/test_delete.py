"""Deletion as the real API server does it: finalizers hold an object with a deletionTimestamp until the last one
is removed, and watchers see MODIFIED then DELETED."""

from __future__ import annotations

import json

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from cloudlb.testing.kubeapi import FakeKubeAPI
from tests.testing.kubeapi.builders import lease, service, wait_for, watch_in_thread

FINALIZER = "service.kubernetes.io/load-balancer-cleanup"


def with_finalizer(name: str) -> dict[str, object]:
    body = service(name)
    body["metadata"]["finalizers"] = [FINALIZER]
    return body


def test_finalizers_hold_a_deleted_service_until_removed(core: client.CoreV1Api, fake_api: FakeKubeAPI) -> None:
    core.create_namespaced_service("default", with_finalizer("web"))
    since = core.list_namespaced_service("default").metadata.resource_version
    w = watch.Watch()
    stream = w.stream(core.list_namespaced_service, "default", resource_version=since, timeout_seconds=30)
    thread, events = watch_in_thread(stream, lambda seen: seen[-1]["type"] == "DELETED")
    wait_for(lambda: fake_api.count("watch") == 1, what="the watch to open")

    answer = core.delete_namespaced_service("web", "default")
    assert answer.metadata.deletion_timestamp is not None
    held = core.read_namespaced_service("web", "default")
    assert held.metadata.deletion_timestamp == answer.metadata.deletion_timestamp
    assert held.metadata.finalizers == [FINALIZER]

    core.patch_namespaced_service("web", "default", {"metadata": {"$deleteFromPrimitiveList/finalizers": [FINALIZER]}})
    thread.join(timeout=30)
    w.stop()
    assert [(e["type"], e["object"].metadata.deletion_timestamp is not None) for e in events] == [
        ("MODIFIED", True),
        ("DELETED", True),
    ]
    assert events[-1]["object"].metadata.finalizers is None
    with pytest.raises(ApiException) as info:
        core.read_namespaced_service("web", "default")
    assert info.value.status == 404


def test_without_finalizers_delete_removes_at_once(
    coordination: client.CoordinationV1Api, fake_api: FakeKubeAPI
) -> None:
    created = coordination.create_namespaced_lease("default", lease("lock", "a"))
    answer = coordination.delete_namespaced_lease("lock", "default")
    assert answer["status"] == "Success" and answer["details"]["uid"] == created.metadata.uid
    assert fake_api.get("Lease", "default", "lock") is None


def test_a_second_delete_while_finalizing_changes_nothing(core: client.CoreV1Api, fake_api: FakeKubeAPI) -> None:
    core.create_namespaced_service("default", with_finalizer("web"))
    first = core.delete_namespaced_service("web", "default")
    second = core.delete_namespaced_service("web", "default")
    assert second.metadata.resource_version == first.metadata.resource_version == fake_api.resource_version


def test_no_finalizer_may_be_added_once_deletion_started(core: client.CoreV1Api) -> None:
    core.create_namespaced_service("default", with_finalizer("web"))
    core.delete_namespaced_service("web", "default")
    with pytest.raises(ApiException) as info:
        core.patch_namespaced_service("web", "default", {"metadata": {"finalizers": ["example.com/late"]}})
    assert (info.value.status, json.loads(info.value.body)["reason"]) == (422, "Invalid")


@pytest.mark.parametrize(
    "preconditions",
    [
        pytest.param(client.V1Preconditions(resource_version="1"), id="resource-version"),
        pytest.param(client.V1Preconditions(uid="not-the-uid"), id="uid"),
    ],
)
def test_delete_preconditions_are_enforced(
    core: client.CoreV1Api, fake_api: FakeKubeAPI, preconditions: client.V1Preconditions
) -> None:
    core.create_namespaced_service("default", service("web"))
    with pytest.raises(ApiException) as info:
        core.delete_namespaced_service("web", "default", body=client.V1DeleteOptions(preconditions=preconditions))
    assert (info.value.status, json.loads(info.value.body)["reason"]) == (409, "Conflict")
    assert fake_api.get("Service", "default", "web") is not None


def test_the_helpers_share_the_finalizer_rules(fake_api: FakeKubeAPI) -> None:
    fake_api.create(with_finalizer("web"))
    fake_api.delete("Service", "default", "web")
    assert fake_api.get("Service", "default", "web")["metadata"]["deletionTimestamp"]
    fake_api.patch("Service", "default", "web", {"metadata": {"finalizers": None}})
    assert fake_api.get("Service", "default", "web") is None
