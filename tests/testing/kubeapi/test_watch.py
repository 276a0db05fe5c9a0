"""Watches through the official client's ``kubernetes.watch.Watch``: exactly the changes after a resourceVersion,
synthetic ADDED events without one, selector transitions, bookmarks, timeouts and 410 Expired."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from cloudlb.testing.kubeapi import FakeKubeAPI
from tests.testing.kubeapi.builders import endpoint_slice, service, until_bookmark, wait_for, watch_in_thread
from tests.testing.kubeapi.conftest import connect


def test_a_watch_from_a_resource_version_sees_exactly_the_later_changes(
    core: client.CoreV1Api, discovery: client.DiscoveryV1Api, fake_api: FakeKubeAPI
) -> None:
    core.create_namespaced_service("default", service("a"))
    core.create_namespaced_service("default", service("b"))
    since = core.list_namespaced_service("default").metadata.resource_version
    core.patch_namespaced_service("a", "default", {"metadata": {"labels": {"v": "2"}}})
    core.create_namespaced_service("default", service("c"))
    discovery.create_namespaced_endpoint_slice("default", endpoint_slice("a-1", "a", ["10.1.0.1"]))
    core.create_namespaced_service("other", service("elsewhere", namespace="other"))
    core.delete_namespaced_service("b", "default")
    w = watch.Watch()
    stream = w.stream(
        core.list_namespaced_service, "default", resource_version=since, allow_watch_bookmarks=True, timeout_seconds=30
    )
    assert until_bookmark(stream, w, fake_api.resource_version) == [("MODIFIED", "a"), ("ADDED", "c"), ("DELETED", "b")]


def test_a_watch_without_a_resource_version_starts_with_the_current_state(core: client.CoreV1Api) -> None:
    core.create_namespaced_service("default", service("a"))
    core.create_namespaced_service("default", service("b"))
    w = watch.Watch()
    stream = w.stream(core.list_namespaced_service, "default", timeout_seconds=30)
    first_two = [next(stream), next(stream)]
    w.stop()
    assert [(e["type"], e["object"].metadata.name) for e in first_two] == [("ADDED", "a"), ("ADDED", "b")]


def test_live_changes_reach_an_open_watch(core: client.CoreV1Api, fake_api: FakeKubeAPI) -> None:
    w = watch.Watch()
    since = core.list_namespaced_service("default").metadata.resource_version
    stream = w.stream(core.list_namespaced_service, "default", resource_version=since, timeout_seconds=30)
    thread, events = watch_in_thread(stream, lambda seen: len(seen) == 2)
    wait_for(lambda: fake_api.count("watch", r"/api/v1/namespaces/default/services") == 1, what="the watch to open")
    core.create_namespaced_service("default", service("web"))
    core.patch_namespaced_service_status(
        "web", "default", {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}}
    )
    thread.join(timeout=30)
    w.stop()
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED"]
    assert events[1]["object"].status.load_balancer.ingress[0].ip == "192.0.2.1"
    assert int(events[1]["object"].metadata.resource_version) > int(events[0]["object"].metadata.resource_version)


def test_leaving_and_entering_a_selection_are_deleted_and_added(core: client.CoreV1Api, fake_api: FakeKubeAPI) -> None:
    core.create_namespaced_service("default", service("web", labels={"app": "web"}))
    since = fake_api.resource_version
    core.patch_namespaced_service("web", "default", {"metadata": {"labels": {"app": "other"}}})
    core.patch_namespaced_service("web", "default", {"metadata": {"labels": {"app": "web"}}})
    core.patch_namespaced_service("web", "default", {"metadata": {"labels": {"extra": "1"}}})
    w = watch.Watch()
    stream = w.stream(
        core.list_namespaced_service,
        "default",
        label_selector="app=web",
        resource_version=since,
        allow_watch_bookmarks=True,
        timeout_seconds=30,
    )
    assert until_bookmark(stream, w, fake_api.resource_version) == [
        ("DELETED", "web"),
        ("ADDED", "web"),
        ("MODIFIED", "web"),
    ]


def test_cluster_wide_watches(core: client.CoreV1Api, discovery: client.DiscoveryV1Api, fake_api: FakeKubeAPI) -> None:
    since = fake_api.resource_version
    core.create_namespaced_service("one", service("web", namespace="one"))
    core.create_namespaced_service("two", service("web", namespace="two"))
    discovery.create_namespaced_endpoint_slice("one", endpoint_slice("web-1", "web", ["10.1.0.1"], namespace="one"))
    discovery.create_namespaced_endpoint_slice("two", endpoint_slice("api-1", "api", ["10.1.0.2"], namespace="two"))
    w = watch.Watch()
    services = w.stream(
        core.list_service_for_all_namespaces, resource_version=since, allow_watch_bookmarks=True, timeout_seconds=30
    )
    assert until_bookmark(services, w, fake_api.resource_version) == [("ADDED", "web"), ("ADDED", "web")]
    w = watch.Watch()
    slices = w.stream(
        discovery.list_endpoint_slice_for_all_namespaces,
        label_selector="kubernetes.io/service-name=web",
        resource_version=since,
        allow_watch_bookmarks=True,
        timeout_seconds=30,
    )
    assert until_bookmark(slices, w, fake_api.resource_version) == [("ADDED", "web-1")]


def test_bookmarks_carry_the_current_resource_version_only(core: client.CoreV1Api, fake_api: FakeKubeAPI) -> None:
    core.create_namespaced_service("default", service("web"))
    w = watch.Watch()
    stream = w.stream(
        core.list_namespaced_service,
        "default",
        resource_version=fake_api.resource_version,
        allow_watch_bookmarks=True,
        timeout_seconds=30,
    )
    first = next(stream)
    w.stop()
    assert first["type"] == "BOOKMARK"
    assert first["raw_object"] == {
        "kind": "Service",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": fake_api.resource_version},
    }
    assert w.resource_version == fake_api.resource_version  # the client resumes from a bookmark


def test_send_initial_events_ends_with_an_annotated_bookmark(core: client.CoreV1Api) -> None:
    core.create_namespaced_service("default", service("web"))
    w = watch.Watch()
    stream = w.stream(
        core.list_namespaced_service,
        "default",
        send_initial_events=True,
        resource_version_match="NotOlderThan",
        allow_watch_bookmarks=True,
        timeout_seconds=30,
    )
    added, bookmark = next(stream), next(stream)
    w.stop()
    assert (added["type"], added["object"].metadata.name) == ("ADDED", "web")
    assert bookmark["type"] == "BOOKMARK"
    assert bookmark["raw_object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_a_watch_ends_at_its_timeout(core: client.CoreV1Api) -> None:
    w = watch.Watch()
    # With no events, the generator finishing at all is the evidence that timeoutSeconds closed the stream.
    assert list(w.stream(core.list_namespaced_service, "default", resource_version="100", timeout_seconds=1)) == []


def test_a_compacted_resource_version_is_410_expired(tmp_path: Path) -> None:
    with FakeKubeAPI(history=3) as api, connect(api, tmp_path) as api_client:
        core = client.CoreV1Api(api_client)
        old = core.create_namespaced_service("default", service("a")).metadata.resource_version
        for name in ("b", "c", "d", "e"):
            core.create_namespaced_service("default", service(name))

        raw = core.list_namespaced_service("default", watch=True, resource_version=old, _preload_content=False)
        lines = [json.loads(line) for line in raw.read().splitlines()]
        assert [e["type"] for e in lines] == ["ERROR"]
        assert {k: lines[0]["object"][k] for k in ("kind", "code", "reason")} == {
            "kind": "Status",
            "code": 410,
            "reason": "Expired",
        }

        with pytest.raises(ApiException) as info:
            list(watch.Watch().stream(core.list_namespaced_service, "default", resource_version=old, timeout_seconds=5))
        assert info.value.status == 410

        # The window holds the last three changes: a watch from just before them still resumes.
        kept = str(int(api.resource_version) - 3)
        w = watch.Watch()
        stream = w.stream(core.list_namespaced_service, "default", resource_version=kept, timeout_seconds=5)
        assert [next(stream)["object"].metadata.name for _ in range(3)] == ["c", "d", "e"]
        w.stop()


def test_compact_expires_every_older_resource_version(core: client.CoreV1Api, fake_api: FakeKubeAPI) -> None:
    old = core.create_namespaced_service("default", service("a")).metadata.resource_version
    core.create_namespaced_service("default", service("b"))
    fake_api.compact()
    with pytest.raises(ApiException) as info:
        list(watch.Watch().stream(core.list_namespaced_service, "default", resource_version=old, timeout_seconds=5))
    assert info.value.status == 410
    current = core.list_namespaced_service("default").metadata.resource_version
    core.create_namespaced_service("default", service("c"))
    w = watch.Watch()
    stream = w.stream(core.list_namespaced_service, "default", resource_version=current, timeout_seconds=5)
    assert next(stream)["object"].metadata.name == "c"
    w.stop()
