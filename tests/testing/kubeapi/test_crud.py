"""Create, read, list, replace and delete each kind through the official client, and the API's fixed points:
discovery, the version endpoint, the bearer token and the shape of a Status."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from kubernetes import client, dynamic
from kubernetes.client.rest import ApiException

from cloudlb.testing.kubeapi import FakeKubeAPI
from tests.testing.kubeapi.builders import endpoint_slice, event, lease, node, service

SANITIZE = client.ApiClient().sanitize_for_serialization


def events_v1_event(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": "default"},
        "eventTime": "2024-01-01T00:00:00.000000Z",
        "regarding": {"kind": "Service", "name": "web", "namespace": "default"},
        "reason": "EnsuredLoadBalancer",
        "note": "Ensured load balancer",
        "type": "Normal",
        "action": "Ensure",
        "reportingController": "cloudlb.io/controller",
        "reportingInstance": "cloudlb-0",
    }


@dataclass(frozen=True)
class Kind:
    """One kind as the generated client names its methods: ``{verb}_namespaced_{suffix}`` or ``{verb}_{suffix}``."""

    api: str  # the fixture holding the API class
    suffix: str
    namespaced: bool
    body: Callable[[str], dict[str, Any]]
    api_version: str
    kind: str

    def method(self, api: Any, verb: str) -> Any:
        return getattr(api, f"{verb}_namespaced_{self.suffix}" if self.namespaced else f"{verb}_{self.suffix}")

    def create(self, api: Any, body: dict[str, Any]) -> dict[str, Any]:
        args = ("default", body) if self.namespaced else (body,)
        return SANITIZE(self.method(api, "create")(*args))

    def read(self, api: Any, name: str) -> dict[str, Any]:
        args = (name, "default") if self.namespaced else (name,)
        return SANITIZE(self.method(api, "read")(*args))

    def list(self, api: Any) -> dict[str, Any]:
        args = ("default",) if self.namespaced else ()
        return SANITIZE(self.method(api, "list")(*args))

    def replace(self, api: Any, body: dict[str, Any]) -> dict[str, Any]:
        name = body["metadata"]["name"]
        args = (name, "default", body) if self.namespaced else (name, body)
        return SANITIZE(self.method(api, "replace")(*args))

    def delete(self, api: Any, name: str) -> Any:
        args = (name, "default") if self.namespaced else (name,)
        return self.method(api, "delete")(*args)


KINDS = [
    pytest.param(Kind("core", "service", True, service, "v1", "Service"), id="service"),
    pytest.param(Kind("core", "node", False, node, "v1", "Node"), id="node"),
    pytest.param(
        Kind("core", "event", True, lambda n: event(n, "web", "EnsuringLoadBalancer"), "v1", "Event"), id="core-event"
    ),
    pytest.param(Kind("events_v1", "event", True, events_v1_event, "events.k8s.io/v1", "Event"), id="events-v1-event"),
    pytest.param(
        Kind(
            "discovery",
            "endpoint_slice",
            True,
            lambda n: endpoint_slice(n, "web", ["10.1.0.1"]),
            "discovery.k8s.io/v1",
            "EndpointSlice",
        ),
        id="endpointslice",
    ),
    pytest.param(
        Kind("coordination", "lease", True, lambda n: lease(n, "a"), "coordination.k8s.io/v1", "Lease"), id="lease"
    ),
]


@pytest.mark.parametrize("kind", KINDS)
def test_crud_round_trip(kind: Kind, request: pytest.FixtureRequest, fake_api: FakeKubeAPI) -> None:
    api = request.getfixturevalue(kind.api)

    created = kind.create(api, kind.body("first"))
    meta = created["metadata"]
    assert (created["kind"], created["apiVersion"]) == (kind.kind, kind.api_version)
    assert meta["uid"] and meta["creationTimestamp"] and meta["resourceVersion"]
    assert meta.get("namespace") == ("default" if kind.namespaced else None)
    assert kind.read(api, "first") == created

    kind.create(api, kind.body("second"))
    listed = kind.list(api)
    assert [item["metadata"]["name"] for item in listed["items"]] == ["first", "second"]
    assert int(listed["metadata"]["resourceVersion"]) >= int(meta["resourceVersion"])

    changed = {**created, "metadata": {**meta, "labels": {"changed": "yes"}}}
    replaced = kind.replace(api, changed)
    assert replaced["metadata"]["labels"] == {"changed": "yes"}
    assert replaced["metadata"]["uid"] == meta["uid"]
    assert int(replaced["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])

    with pytest.raises(ApiException) as stale:
        kind.replace(api, {**changed, "metadata": {**changed["metadata"], "labels": {"changed": "again"}}})
    assert (stale.value.status, json.loads(stale.value.body)["reason"]) == (409, "Conflict")

    with pytest.raises(ApiException) as duplicate:
        kind.create(api, kind.body("first"))
    assert (duplicate.value.status, json.loads(duplicate.value.body)["reason"]) == (409, "AlreadyExists")

    kind.delete(api, "first")
    with pytest.raises(ApiException) as gone:
        kind.read(api, "first")
    assert gone.value.status == 404
    assert fake_api.get(kind.kind, "default" if kind.namespaced else None, "first") is None
    assert [o["metadata"]["name"] for o in fake_api.objects(kind.kind)] == ["second"]


def test_generate_name_gives_a_fresh_name_each_time(core: client.CoreV1Api) -> None:
    body = service("")
    body["metadata"] = {"generateName": "web-"}
    names = {core.create_namespaced_service("default", body).metadata.name for _ in range(3)}
    assert len(names) == 3
    assert all(name.startswith("web-") and len(name) == len("web-") + 5 for name in names)


def test_a_failure_is_a_kubernetes_status(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as info:
        core.read_namespaced_service("missing", "default")
    assert info.value.status == 404
    assert json.loads(info.value.body) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'services "missing" not found',
        "reason": "NotFound",
        "details": {"name": "missing", "kind": "services"},
        "code": 404,
    }


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        pytest.param(service("Bad_Name"), 422, "Invalid", id="invalid-name"),
        pytest.param(service("web", namespace="other"), 400, "BadRequest", id="namespace-mismatch"),
        pytest.param({**service("web"), "kind": "Node"}, 400, "BadRequest", id="kind-mismatch"),
        pytest.param(service("web", ports=[{"port": 70000}]), 422, "Invalid", id="bad-port"),
        pytest.param(service("web", type="ClusterIP", loadBalancerClass="x/y"), 422, "Invalid", id="class-needs-lb"),
        pytest.param(
            {**service("web"), "metadata": {"name": "web", "resourceVersion": "5"}}, 500, "InternalError", id="rv-set"
        ),
    ],
)
def test_create_refuses_what_the_real_server_refuses(
    core: client.CoreV1Api, fake_api: FakeKubeAPI, body: dict[str, Any], status: int, reason: str
) -> None:
    with pytest.raises(ApiException) as info:
        core.create_namespaced_service("default", body)
    assert (info.value.status, json.loads(info.value.body)["reason"]) == (status, reason)
    assert fake_api.objects("Service") == []


def test_wrong_token_is_unauthorized(fake_api: FakeKubeAPI, tmp_path: Path) -> None:
    path = Path(fake_api.kubeconfig(tmp_path))
    config = json.loads(path.read_text())
    config["users"][0]["user"]["token"] = "not-the-token"
    path.write_text(json.dumps(config))
    configuration = client.Configuration()
    kubernetes.config.load_kube_config(config_file=str(path), client_configuration=configuration)
    with client.ApiClient(configuration) as api, pytest.raises(ApiException) as info:
        client.CoreV1Api(api).list_namespaced_service("default")
    assert info.value.status == 401
    assert fake_api.requests == [("list", "/api/v1/namespaces/default/services", 401)]


def test_the_documented_global_kubeconfig_works(fake_api: FakeKubeAPI, tmp_path: Path) -> None:
    previous = client.Configuration.get_default_copy()
    try:
        kubernetes.config.load_kube_config(config_file=fake_api.kubeconfig(tmp_path))
        client.CoreV1Api().create_namespaced_service("default", service("web"))
    finally:
        client.Configuration.set_default(previous)
    assert fake_api.get("svc", "default", "web") is not None
    assert (tmp_path / "kubeconfig").stat().st_mode & 0o777 == 0o600


def test_discovery_describes_the_served_kinds(api_client: client.ApiClient) -> None:
    assert client.CoreApi(api_client).get_api_versions().versions == ["v1"]
    groups = {g.name for g in client.ApisApi(api_client).get_api_versions().groups}
    assert {"discovery.k8s.io", "coordination.k8s.io", "events.k8s.io"} <= groups
    assert client.VersionApi(api_client).get_code().major == "1"
    core_names = {r.name for r in client.CoreV1Api(api_client).get_api_resources().resources}
    assert {"services", "services/status", "nodes", "nodes/status", "events"} <= core_names


def test_the_dynamic_client_finds_kinds_through_discovery(api_client: client.ApiClient) -> None:
    dyn = dynamic.DynamicClient(api_client)
    leases = dyn.resources.get(api_version="coordination.k8s.io/v1", kind="Lease")
    leases.create(body=lease("lock", "a"), namespace="default")
    assert leases.get(name="lock", namespace="default").spec.holderIdentity == "a"
