"""Fault hooks and the request log: what a controller test uses to force errors and count calls."""

from __future__ import annotations

import json

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from cloudlb.testing.kubeapi import FakeKubeAPI
from tests.testing.kubeapi.builders import service

SERVICE = r"/api/v1/namespaces/default/services/web"


def test_a_fault_answers_the_next_matching_requests_only(core: client.CoreV1Api, fake_api: FakeKubeAPI) -> None:
    core.create_namespaced_service("default", service("web"))
    fake_api.fail(500, verb="patch", path=SERVICE, times=2)
    core.read_namespaced_service("web", "default")  # another verb on the same path is untouched
    for _ in range(2):
        with pytest.raises(ApiException) as info:
            core.patch_namespaced_service("web", "default", {"metadata": {"labels": {"a": "b"}}})
        assert (info.value.status, json.loads(info.value.body)["reason"]) == (500, "InternalError")
    assert "labels" not in fake_api.get("svc", "default", "web")["metadata"]
    core.patch_namespaced_service("web", "default", {"metadata": {"labels": {"a": "b"}}})
    assert fake_api.get("svc", "default", "web")["metadata"]["labels"] == {"a": "b"}
    assert [r for r in fake_api.requests if r.verb == "patch"] == [
        ("patch", SERVICE, 500),
        ("patch", SERVICE, 500),
        ("patch", SERVICE, 200),
    ]


def test_an_injected_conflict_writes_nothing(core: client.CoreV1Api, fake_api: FakeKubeAPI) -> None:
    core.create_namespaced_service("default", service("web"))
    before = fake_api.resource_version
    fake_api.fail(409, verb="patch", path=SERVICE + "/status")
    with pytest.raises(ApiException) as info:
        core.patch_namespaced_service_status(
            "web", "default", {"status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}}
        )
    assert info.value.status == 409
    assert fake_api.resource_version == before


def test_throttling_carries_retry_after(core: client.CoreV1Api, fake_api: FakeKubeAPI) -> None:
    core.create_namespaced_service("default", service("web"))
    fake_api.fail(429, verb="patch", retry_after=7)
    with pytest.raises(ApiException) as info:
        core.patch_namespaced_service("web", "default", {"metadata": {"labels": {"a": "b"}}})
    assert info.value.status == 429
    assert info.value.headers["Retry-After"] == "7"


def test_the_log_shows_the_retries_a_client_makes_on_its_own(core: client.CoreV1Api, fake_api: FakeKubeAPI) -> None:
    # urllib3 under the official client retries an idempotent GET answered 429 with Retry-After.
    fake_api.fail(429, verb="list", retry_after=0)
    assert core.list_namespaced_service("default").items == []
    assert fake_api.requests == [
        ("list", "/api/v1/namespaces/default/services", 429),
        ("list", "/api/v1/namespaces/default/services", 200),
    ]


def test_an_injected_410_on_a_watch_is_an_error_event(core: client.CoreV1Api, fake_api: FakeKubeAPI) -> None:
    fake_api.fail(410, verb="watch")
    with pytest.raises(ApiException) as info:
        list(watch.Watch().stream(core.list_namespaced_service, "default", resource_version="100", timeout_seconds=5))
    assert info.value.status == 410
    assert fake_api.requests == [("watch", "/api/v1/namespaces/default/services", 200)]


def test_the_log_names_kubernetes_verbs(core: client.CoreV1Api, fake_api: FakeKubeAPI) -> None:
    core.create_namespaced_service("default", service("web"))
    core.list_namespaced_service("default")
    core.read_namespaced_service("web", "default")
    core.replace_namespaced_service("web", "default", core.read_namespaced_service("web", "default"))
    core.delete_namespaced_service("web", "default")
    core.delete_collection_namespaced_service("default")
    verbs = [r.verb for r in fake_api.requests]
    assert verbs == ["create", "list", "get", "get", "update", "delete", "deletecollection"]
    assert fake_api.count("get", SERVICE) == 2
    fake_api.clear_requests()
    assert fake_api.requests == []


def test_direct_helpers_are_not_logged(fake_api: FakeKubeAPI) -> None:
    fake_api.create(service("web"))
    fake_api.patch("svc", "default", "web", {"metadata": {"labels": {"a": "b"}}})
    assert fake_api.requests == []
