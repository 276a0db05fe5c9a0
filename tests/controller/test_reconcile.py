"""The reconcile rules, in process: the controller against the fake API server and the in-memory cloud.

Every assertion counts what really happened: cloud calls in the provider's log, API writes in the fake server's
request log, and the Service and Events as the API server stores them.
"""

from __future__ import annotations

import time

import pytest

from cloudlb.controller.manager import Controller
from cloudlb.controller.records import FINALIZER
from cloudlb.errors import NotFoundError, TemporaryError
from cloudlb.testing.kubeapi import FakeKubeAPI
from tests.controller.conftest import StartController
from tests.controller.objects import endpoint_slice, node, service
from tests.controller.providers import RecordingProvider
from tests.controller.waiting import settle, until

STATUS_PATCH = r"/api/v1/namespaces/default/services/web/status"


def reasons(kube: FakeKubeAPI, name: str = "web") -> dict[str, int]:
    counts: dict[str, int] = {}
    for event in kube.objects("Event", "default"):
        if event["involvedObject"]["name"] == name:
            counts[event["reason"]] = counts.get(event["reason"], 0) + int(event.get("count") or 1)
    return counts


def ingress(kube: FakeKubeAPI, name: str = "web") -> list[dict[str, object]]:
    svc = kube.get("Service", "default", name) or {}
    return list(((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or [])


def reconciles(controller: Controller) -> float:
    return sum(
        s.value
        for m in controller.metrics.registry.collect()
        if m.name == "cloudlb_controller_reconciles"
        for s in m.samples
        if s.name.endswith("_total")
    )


def test_a_burst_of_1000_slice_events_in_a_second_costs_at_most_two_reconciles(
    kube: FakeKubeAPI, start_controller: StartController
) -> None:
    provider = RecordingProvider()
    kube.create(service("web", node_port=None, pod_targets=True))
    kube.create(endpoint_slice("web", "web-1", ["10.1.0.1"], port=8080))
    controller = start_controller(provider, min_sync_interval=1.0)  # the default pacing
    until(lambda: ingress(kube), what="an ingress")
    before = settle(lambda: reconciles(controller))
    assert provider.count("ensure") == 1

    start = time.monotonic()
    for i in range(1000):  # a rolling update gone wild: every write changes the ready endpoints
        ips = ["10.1.0.1", f"10.1.{1 + i // 250}.{1 + i % 250}"]
        current = kube.get("EndpointSlice", "default", "web-1")
        kube.replace({**current, **endpoint_slice("web", "web-1", ips, port=8080)})
    burst = time.monotonic() - start
    after = settle(lambda: reconciles(controller), quiet=1.5)

    # The rule: one reconcile at once, then at most one per min_sync_interval while the burst lasts.
    limit = 1 + max(1, -(-burst // 1.0))
    assert 1 <= after - before <= limit, f"{after - before} reconciles for a burst of {burst:.2f}s"
    if burst <= 1.0:
        assert after - before <= 2
    assert 1 <= provider.count("update_targets") <= limit
    assert provider.count("ensure") == 1
    (pool,) = provider.cloud.pools.values()
    assert pool.targets == {("10.1.0.1", 8080), ("10.1.4.250", 8080)}  # the last write won


def test_the_finalizer_is_added_first_and_status_is_patched_only_when_it_differs(
    kube: FakeKubeAPI, start_controller: StartController
) -> None:
    provider = RecordingProvider()
    kube.create(node("node-a", "10.0.0.1"))
    kube.create(service("web"))
    controller = start_controller(provider)
    until(lambda: ingress(kube), what="an ingress")
    svc = kube.get("Service", "default", "web")
    assert svc is not None and svc["metadata"]["finalizers"] == [FINALIZER]
    writes = [
        (r.verb, r.path) for r in kube.requests if r.verb in ("patch", "update", "create") and "services" in r.path
    ]
    assert writes == [
        ("patch", "/api/v1/namespaces/default/services/web"),  # the finalizer, before the cloud call
        ("patch", STATUS_PATCH),
    ]

    # A resync ensures again (drift in the cloud is caught) but the status is the same: no write.
    controller.resync()
    until(lambda: provider.count("ensure") == 2, what="the resync")
    settle(lambda: reconciles(controller))
    assert kube.count("patch", STATUS_PATCH) == 1

    # Someone wipes the status: the next resync puts it back.
    kube.patch("Service", "default", "web", {"status": {"loadBalancer": {"ingress": None}}}, subresource="status")
    until(lambda: "status" not in (controller.cache.services.get("default/web") or {}), what="the cache to see it")
    controller.resync()
    until(lambda: ingress(kube), what="the status to come back")
    assert kube.count("patch", STATUS_PATCH) == 2


def test_a_temporary_error_is_retried_with_backoff_and_events_tell_the_story(
    kube: FakeKubeAPI, start_controller: StartController
) -> None:
    provider = RecordingProvider()
    provider.fail_next("ensure", TemporaryError("throttled"), TemporaryError("still throttled"))
    kube.create(node("node-a", "10.0.0.1"))
    kube.create(service("web"))
    controller = start_controller(provider, backoff_initial=0.3, backoff_max=5.0)
    until(lambda: ingress(kube), what="an ingress after two failures")
    calls = [c.at for c in provider.calls if c.operation == "ensure"]
    assert len(calls) == 3
    assert calls[1] - calls[0] >= 0.3 and calls[2] - calls[1] >= 0.6  # 0.3 s, then doubled
    counts = until(lambda: (r := reasons(kube)).get("EnsuredLoadBalancer") and r)
    assert counts["SyncLoadBalancerFailed"] == 2 and counts["EnsuringLoadBalancer"] == 3
    errors = controller.metrics.registry.get_sample_value(
        "cloudlb_controller_reconcile_errors_total", {"error": "TemporaryError"}
    )
    assert errors == 2


def test_retry_after_from_the_cloud_is_honoured(kube: FakeKubeAPI, start_controller: StartController) -> None:
    provider = RecordingProvider()
    provider.fail_next("ensure", TemporaryError("slow down", retry_after=1.5))
    kube.create(node("node-a", "10.0.0.1"))
    kube.create(service("web"))
    start_controller(provider, backoff_initial=0.1)
    until(lambda: ingress(kube), what="an ingress")
    first, second = (c.at for c in provider.calls if c.operation == "ensure")
    assert second - first >= 1.5  # not the 0.1 s backoff


def test_an_invalid_service_gets_a_warning_and_no_cloud_call_until_it_is_fixed(
    kube: FakeKubeAPI, start_controller: StartController
) -> None:
    provider = RecordingProvider()
    kube.create(node("node-a", "10.0.0.1"))
    kube.create(service("web", annotations={"cloudlb.io/algorithm": "fastest"}))
    controller = start_controller(provider)
    until(lambda: reasons(kube).get("SyncLoadBalancerFailed"), what="a warning")
    (event,) = [e for e in kube.objects("Event", "default") if e["reason"] == "SyncLoadBalancerFailed"]
    assert event["type"] == "Warning" and "cloudlb.io/algorithm" in event["message"]
    settle(lambda: reconciles(controller))
    assert provider.count() == 1  # only the startup gc's listing: nothing for the Service
    svc = kube.get("Service", "default", "web")
    assert svc is not None and "finalizers" not in svc["metadata"]  # nothing was created, nothing to clean up

    kube.patch("Service", "default", "web", {"metadata": {"annotations": {"cloudlb.io/algorithm": "random"}}})
    until(lambda: ingress(kube), what="an ingress once fixed")
    assert provider.count("ensure") == 1


@pytest.mark.parametrize(
    ("default_class", "handled"),
    [
        pytest.param(False, {"ours"}, id="only-our-class"),
        pytest.param(True, {"ours", "no-class"}, id="default-class"),
    ],
)
def test_the_class_decides_which_services_are_ours(
    kube: FakeKubeAPI, start_controller: StartController, default_class: bool, handled: set[str]
) -> None:
    provider = RecordingProvider()
    kube.create(node("node-a", "10.0.0.1"))
    kube.create(service("ours", node_port=30001))
    kube.create(service("no-class", node_port=30002, load_balancer_class=None))
    kube.create(service("theirs", node_port=30003, load_balancer_class="example.com/other"))
    kube.create(service("plain", node_port=None, service_type="ClusterIP", load_balancer_class=None))
    start_controller(provider, default_class=default_class)
    for name in handled:
        until(lambda name=name: ingress(kube, name), what=f"{name} to be served")
    settle(lambda: len(provider.calls))
    assert {c.service for c in provider.calls if c.operation == "ensure"} == {f"default/{n}" for n in handled}
    for name in {"ours", "no-class", "theirs", "plain"} - handled:
        assert ingress(kube, name) == []
        assert "finalizers" not in (kube.get("Service", "default", name) or {})["metadata"]


def test_a_finalizer_write_that_conflicts_is_retried_on_a_fresh_read(
    kube: FakeKubeAPI, start_controller: StartController
) -> None:
    provider = RecordingProvider()
    kube.create(node("node-a", "10.0.0.1"))
    kube.create(service("web"))
    kube.fail(409, verb="patch", path=r"/api/v1/namespaces/default/services/web")
    start_controller(provider)
    until(lambda: ingress(kube), what="an ingress")
    assert kube.count("get", r"/api/v1/namespaces/default/services/web") == 1
    assert kube.count("patch", r"/api/v1/namespaces/default/services/web") == 2
    assert provider.count("ensure") == 1


def test_a_finalizer_someone_removed_is_put_back_without_a_cloud_call(
    kube: FakeKubeAPI, start_controller: StartController
) -> None:
    provider = RecordingProvider()
    kube.create(node("node-a", "10.0.0.1"))
    kube.create(service("web"))
    start_controller(provider)
    until(lambda: ingress(kube), what="an ingress")
    kube.patch("Service", "default", "web", {"metadata": {"finalizers": None}})
    until(lambda: (kube.get("Service", "default", "web") or {})["metadata"].get("finalizers") == [FINALIZER])
    assert provider.count("ensure") == 1


def test_the_periodic_resync_ensures_every_service_again(kube: FakeKubeAPI, start_controller: StartController) -> None:
    provider = RecordingProvider()
    kube.create(node("node-a", "10.0.0.1"))
    kube.create(service("web"))
    kube.create(service("api", node_port=30081))
    start_controller(provider, resync_period=0.5)
    until(lambda: provider.count("ensure", "default/web") >= 3 and provider.count("ensure", "default/api") >= 3)
    assert provider.count("list_owned") >= 3  # gc runs after every resync too
    # A resync that finds nothing to change writes nothing to the API server.
    assert kube.count("patch", STATUS_PATCH) == 1


def test_a_load_balancer_gone_behind_our_back_is_recreated_on_the_next_target_change(
    kube: FakeKubeAPI, start_controller: StartController
) -> None:
    provider = RecordingProvider()
    kube.create(node("node-a", "10.0.0.1"))
    kube.create(service("web"))
    start_controller(provider)
    until(lambda: ingress(kube), what="an ingress")
    (balancer,) = provider.cloud.balancers.values()
    provider.fail_next("update_targets", NotFoundError("no load balancer"))
    kube.create(node("node-b", "10.0.0.2"))
    until(lambda: provider.count("ensure") == 2, what="the fallback ensure")
    assert [c.operation for c in provider.calls if c.operation != "list_owned"] == [
        "ensure",
        "update_targets",
        "ensure",
    ]
    assert until(lambda: reasons(kube).get("EnsuredLoadBalancer") == 2)
    assert "UpdateLoadBalancerFailed" not in reasons(kube)
    assert balancer.id in provider.cloud.balancers
