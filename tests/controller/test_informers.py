"""Informers over real HTTP: paged lists, watches resumed from the last resourceVersion, bookmarks, and a re-list
that reports what was missed when the server's history is gone (410)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cloudlb.controller.cache import Change, Store
from cloudlb.controller.informers import Informer
from cloudlb.controller.kubeclient import KubeClient
from cloudlb.controller.records import slim_node, slim_service
from cloudlb.testing.kubeapi import FakeKubeAPI
from tests.controller.objects import node, service
from tests.controller.waiting import until

SERVICES = r"/api/v1/services"


class Recorder:
    def __init__(self) -> None:
        self.batches: list[list[Change]] = []
        self.restarts: list[tuple[str, str]] = []

    def changes(self) -> list[tuple[str, bool, bool]]:
        """(key, had an old record, has a new one) for every change reported."""
        return [(key, old is not None, new is not None) for batch in self.batches for key, old, new in batch]


@pytest.fixture
def informers(client: KubeClient) -> Iterator[list[Informer]]:
    running: list[Informer] = []
    yield running
    for informer in running:
        informer.stop()
        informer.join(5)


def start(
    client: KubeClient, store: Store[object], running: list[Informer], **kwargs: object
) -> tuple[Informer, Recorder]:
    recorder = Recorder()
    store.on_changes = recorder.batches.append
    informer = Informer(client, store, on_restart=lambda r, why: recorder.restarts.append((r, why)), **kwargs)  # type: ignore[arg-type]
    running.append(informer)
    informer.start()
    assert informer.synced.wait(10)
    return informer, recorder


def test_the_first_list_comes_in_pages_then_the_watch_streams_changes(
    kube: FakeKubeAPI, client: KubeClient, informers: list[Informer]
) -> None:
    for i in range(7):
        kube.create(service(f"web-{i}", node_port=None, service_type="ClusterIP"))
    store: Store[object] = Store("services", slim_service)
    _, recorder = start(client, store, informers, page_size=3)
    assert kube.count("list", SERVICES) == 3
    assert sorted(store.key_list()) == [f"default/web-{i}" for i in range(7)]
    assert len(recorder.batches) == 1  # the whole list is one batch

    kube.delete("Service", "default", "web-0")
    kube.patch("Service", "default", "web-1", {"metadata": {"annotations": {"a": "b"}}})
    until(lambda: len(store) == 6 and store.get("default/web-1")["metadata"]["annotations"].get("a") == "b")
    assert recorder.changes()[-2:] == [("default/web-0", True, False), ("default/web-1", True, True)]
    assert kube.count("list", SERVICES) == 3  # no re-list


def test_resuming_from_a_compacted_resource_version_relists_and_reports_what_was_missed(
    kube: FakeKubeAPI, client: KubeClient, informers: list[Informer]
) -> None:
    for name in ("a", "b", "c"):
        kube.create(service(name, node_port=None, service_type="ClusterIP"))
    store: Store[object] = Store("services", slim_service)
    first, _ = start(client, store, informers)
    first.stop()
    first.join(5)
    # While no watch was open: one Service deleted, one added, and the server forgot its history.
    kube.delete("Service", "default", "a")
    kube.create(service("d", node_port=None, service_type="ClusterIP"))
    kube.compact()

    second = Informer(client, store)
    second.resource_version = first.resource_version
    recorder = Recorder()
    store.on_changes = recorder.batches.append
    second.on_restart = lambda resource, why: recorder.restarts.append((resource, why))
    informers.append(second)
    second.start()
    until(lambda: sorted(store.key_list()) == ["default/b", "default/c", "default/d"], what="the re-list")
    assert recorder.restarts == [("services", "gone")]
    assert sorted(recorder.changes()) == [("default/a", True, False), ("default/d", False, True)]
    assert kube.count("list", SERVICES) == 2


def test_a_410_error_event_inside_the_watch_stream_also_relists(
    kube: FakeKubeAPI, client: KubeClient, informers: list[Informer]
) -> None:
    kube.create(service("a", node_port=None, service_type="ClusterIP"))
    kube.fail(410, verb="watch", path=SERVICES)  # answered as an ERROR event in a 200 stream
    store: Store[object] = Store("services", slim_service)
    _, recorder = start(client, store, informers)
    until(lambda: kube.count("list", SERVICES) == 2, what="a second list")
    assert ("services", "gone") in recorder.restarts
    kube.create(service("b", node_port=None, service_type="ClusterIP"))
    until(lambda: len(store) == 2, what="the watch to resume")


def test_bookmarks_keep_a_quiet_watch_recent_so_a_restart_needs_no_relist(
    kube: FakeKubeAPI, client: KubeClient, informers: list[Informer]
) -> None:
    kube.create(service("a", node_port=None, service_type="ClusterIP"))
    store: Store[object] = Store("services", slim_service)
    informer, recorder = start(client, store, informers, watch_timeout=(1, 1))
    listed_at = informer.resource_version
    for i in range(5):  # other resources move the global resourceVersion; no Service changes
        kube.create(node(f"node-{i}", f"10.0.0.{i + 1}"))
    until(lambda: informer.resource_version == kube.resource_version, what="a bookmark to carry the new version")
    assert informer.resource_version != listed_at
    kube.compact()
    watches = kube.count("watch", SERVICES)
    until(lambda: kube.count("watch", SERVICES) >= watches + 2, what="the watch to be restarted twice")
    assert kube.count("list", SERVICES) == 1  # resumed from the bookmark, not re-listed
    assert recorder.restarts == []


def test_node_heartbeats_and_readiness_are_not_changes(
    kube: FakeKubeAPI, client: KubeClient, informers: list[Informer]
) -> None:
    kube.create(node("node-a", "10.0.0.1"))
    store: Store[object] = Store("nodes", slim_node)
    _, recorder = start(client, store, informers)
    kube.patch("Node", None, "node-a", {"status": {"conditions": [{"type": "Ready", "status": "False"}]}})
    kube.patch("Node", None, "node-a", {"metadata": {"labels": {"team": "blue"}}})
    kube.patch("Node", None, "node-a", {"spec": {"providerID": "aws:///eu-west-1a/i-123"}})
    until(lambda: len(recorder.batches) == 2, what="the providerID change")
    ((key, old, new),) = recorder.batches[1]
    assert key == "node-a" and new["spec"]["providerID"] == "aws:///eu-west-1a/i-123"
    assert old["spec"] == {}


def test_a_relist_that_fails_half_way_removes_nothing() -> None:
    store: Store[object] = Store("services", slim_service)
    seen: list[list[Change]] = []
    store.on_changes = seen.append
    store.upsert(service("a"))
    store.upsert(service("b"))
    store.begin_relist()
    store.upsert(service("a"))
    store.end_relist(complete=False)
    assert sorted(store.key_list()) == ["default/a", "default/b"]
    store.begin_relist()
    store.upsert(service("a"))
    store.end_relist()
    assert store.key_list() == ["default/a"]
    assert [(k, n is None) for k, _o, n in seen[-1]] == [("default/b", True)]
