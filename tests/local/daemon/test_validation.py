"""Bad request bodies get 400 with a message that names the field, and change nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.local.daemon.helpers import Api, db_rows, lb_body

LISTENER = {"name": "http", "protocol": "TCP", "port": 8080, "targets": []}


def _with_listener(**overrides: Any) -> dict[str, Any]:
    return lb_body("bad", listeners=[{**LISTENER, **overrides}])


CREATE_CASES = [
    pytest.param({"tags": {}}, "name", id="name-missing"),
    pytest.param(lb_body("", tags={}), "name", id="name-empty"),
    pytest.param({**lb_body("x"), "colour": "red"}, "colour", id="unknown-field"),
    pytest.param(lb_body("x", tags={"a": 1}), "tags.a", id="tag-value-not-string"),
    pytest.param(lb_body("x", address="not-an-ip"), "address", id="address-not-ip"),
    pytest.param(lb_body("x", settings={"algorithm": "fastest"}), "settings.algorithm", id="algorithm"),
    pytest.param(lb_body("x", settings={"proxy_protocol": "v3"}), "settings.proxy_protocol", id="proxy-protocol"),
    pytest.param(lb_body("x", settings={"source_ranges": ["10.0.0.0/33"]}), "settings.source_ranges[0]", id="cidr"),
    pytest.param(lb_body("x", settings={"source_ranges": "10.0.0.0/8"}), "settings.source_ranges", id="cidr-list"),
    pytest.param(lb_body("x", settings={"affinity_timeout": 0}), "settings.affinity_timeout", id="affinity"),
    pytest.param(lb_body("x", settings={"speed": 1}), "settings.speed", id="unknown-setting"),
    pytest.param(
        lb_body("x", settings={"health_check": {"protocol": "ICMP"}}), "settings.health_check.protocol", id="hc-proto"
    ),
    pytest.param(lb_body("x", settings={"health_check": {"port": 0}}), "settings.health_check.port", id="hc-port"),
    pytest.param(
        lb_body("x", settings={"health_check": {"interval": -1}}), "settings.health_check.interval", id="hc-interval"
    ),
    pytest.param(
        lb_body("x", settings={"health_check": {"path": "healthz"}}), "settings.health_check.path", id="hc-path"
    ),
    pytest.param(
        lb_body("x", settings={"health_check": {"healthy_threshold": 0}}),
        "settings.health_check.healthy_threshold",
        id="hc-threshold",
    ),
    pytest.param(_with_listener(protocol="SCTP"), "listeners[0].protocol", id="protocol-sctp"),
    pytest.param(_with_listener(protocol="tcp"), "listeners[0].protocol", id="protocol-lowercase"),
    pytest.param(_with_listener(port=0), "listeners[0].port", id="port-zero"),
    pytest.param(_with_listener(port=65536), "listeners[0].port", id="port-too-big"),
    pytest.param(_with_listener(port="80"), "listeners[0].port", id="port-string"),
    pytest.param(_with_listener(port=True), "listeners[0].port", id="port-boolean"),
    pytest.param(_with_listener(weight=3), "listeners[0].weight", id="listener-unknown-field"),
    pytest.param(_with_listener(targets=[{"ip": "300.1.1.1", "port": 80}]), "listeners[0].targets[0].ip", id="ip"),
    pytest.param(_with_listener(targets=[{"ip": "web", "port": 80}]), "listeners[0].targets[0].ip", id="ip-name"),
    pytest.param(_with_listener(targets=[{"ip": "127.0.0.1"}]), "listeners[0].targets[0].port", id="target-port"),
    pytest.param(
        _with_listener(targets=[{"ip": "127.0.0.1", "port": 70000}]), "listeners[0].targets[0].port", id="t-port"
    ),
    pytest.param(
        _with_listener(targets=[{"ip": "127.0.0.1", "port": 1, "zone": "a"}]),
        "listeners[0].targets[0].zone",
        id="target-unknown-field",
    ),
    pytest.param(lb_body("x", listeners=[LISTENER, LISTENER]), "listeners[1]", id="duplicate-listener"),
    pytest.param(["not", "an", "object"], "body", id="body-not-object"),
]


@pytest.mark.parametrize(("body", "field"), CREATE_CASES)
def test_create_refuses_bad_bodies_naming_the_field(shared_api: Api, body: Any, field: str) -> None:
    before = db_rows(shared_api.daemon.state_dir)

    answer = shared_api.call("POST", "/v1/loadbalancers", body)

    assert answer.status == 400, answer
    assert answer.error["code"] == "InvalidRequest"
    assert answer.error["message"].startswith(f"{field}:"), answer.error["message"]
    assert db_rows(shared_api.daemon.state_dir) == before


def test_create_refuses_a_body_that_is_not_json(shared_api: Api) -> None:
    answer = shared_api.call("POST", "/v1/loadbalancers", raw=b"{name: web")

    assert answer.status == 400
    assert answer.error["message"].startswith("body:")


@pytest.fixture(scope="module")
def target_lb(shared_daemon: Any) -> dict[str, Any]:
    return Api(shared_daemon).create(lb_body("targets", listeners=[LISTENER]))


WRITE_CASES = [
    pytest.param("PATCH", "", {"settings": {"algorithm": "rr"}}, "settings.algorithm", id="patch-algorithm"),
    pytest.param("PATCH", "", {"name": "renamed"}, "name", id="patch-name-not-patchable"),
    pytest.param("PATCH", "", {"tags": ["a"]}, "tags", id="patch-tags-not-map"),
    pytest.param("POST", "/listeners", {"protocol": "TCP"}, "port", id="listener-port-missing"),
    pytest.param("POST", "/listeners", {"port": 81}, "protocol", id="listener-protocol-missing"),
    pytest.param("PATCH", "/listeners/TCP-8080", {"port": 81}, "port", id="listener-patch-port"),
    pytest.param(
        "POST", "/listeners/TCP-8080/targets", {"add": [{"ip": "::1::", "port": 1}]}, "add[0].ip", id="add-ip"
    ),
    pytest.param(
        "POST", "/listeners/TCP-8080/targets", {"remove": [{"ip": "127.0.0.1", "port": -1}]}, "remove[0].port", id="rm"
    ),
    pytest.param("POST", "/listeners/TCP-8080/targets", {"replace": []}, "replace", id="targets-unknown-field"),
    pytest.param(
        "POST",
        "/listeners/TCP-8080/targets",
        {
            "add": [{"ip": "127.0.1.1", "port": p} for p in range(1, 601)],
            "remove": [{"ip": "127.0.1.2", "port": p} for p in range(1, 402)],
        },
        "add+remove",
        id="more-than-1000-targets",
    ),
]


@pytest.mark.parametrize(("method", "suffix", "body", "field"), WRITE_CASES)
def test_writes_refuse_bad_bodies_naming_the_field(
    shared_api: Api, target_lb: dict[str, Any], method: str, suffix: str, body: Any, field: str
) -> None:
    before = db_rows(shared_api.daemon.state_dir)

    answer = shared_api.call(method, f"/v1/loadbalancers/{target_lb['id']}{suffix}", body)

    assert answer.status == 400, answer
    assert answer.error["message"].startswith(f"{field}:"), answer.error["message"]
    assert db_rows(shared_api.daemon.state_dir) == before


def test_exactly_1000_targets_in_one_call_are_accepted(shared_api: Api, target_lb: dict[str, Any]) -> None:
    path = f"/v1/loadbalancers/{target_lb['id']}/listeners/TCP-8080/targets"
    add = [{"ip": "127.0.2.1", "port": p} for p in range(1, 1001)]

    added = shared_api.ok("POST", path, {"add": add})
    assert len(added["listeners"][0]["targets"]) == 1000
    removed = shared_api.ok("POST", path, {"remove": add})
    assert removed["listeners"][0]["targets"] == []
