"""The bearer token guards every /v1 call; /v1/info and /metrics count the calls the daemon served."""

from __future__ import annotations

import re

import pytest

from tests.local.daemon.helpers import Api, db_rows, lb_body

REQUESTS = [
    pytest.param("GET", "/v1/loadbalancers", None, id="list"),
    pytest.param("POST", "/v1/loadbalancers", lb_body("intruder"), id="create"),
    pytest.param("PATCH", "/v1/loadbalancers/{id}", {"tags": {"owner": "intruder"}}, id="patch"),
    pytest.param("DELETE", "/v1/loadbalancers/{id}", None, id="delete"),
    pytest.param("POST", "/v1/loadbalancers/{id}/listeners", {"protocol": "TCP", "port": 81}, id="add-listener"),
    pytest.param("GET", "/v1/info", None, id="info"),
]
TOKENS = [
    pytest.param(None, id="missing"),
    pytest.param("wrong", id="wrong"),
    pytest.param("", id="empty"),
]


@pytest.mark.parametrize("token", TOKENS)
@pytest.mark.parametrize(("method", "path", "body"), REQUESTS)
def test_a_bad_or_missing_token_gets_401_and_changes_nothing(
    shared_api: Api, method: str, path: str, body: object, token: str | None
) -> None:
    lb = shared_api.create(lb_body("victim"))
    before = db_rows(shared_api.daemon.state_dir)

    answer = shared_api.call(method, path.format(id=lb["id"]), body, token=token)

    assert answer.status == 401
    assert answer.error["code"] == "Unauthorized"
    assert db_rows(shared_api.daemon.state_dir) == before
    shared_api.ok("DELETE", f"/v1/loadbalancers/{lb['id']}", expect=204)


def test_a_token_with_the_right_prefix_is_still_refused(shared_api: Api) -> None:
    answer = shared_api.call("GET", "/v1/info", token=shared_api.daemon.token[:-1])

    assert answer.status == 401


def test_info_counts_calls_by_method(api: Api) -> None:
    start = api.info()["calls"]  # this call is counted too
    lb = api.create(lb_body("web"))
    api.get(lb["id"])
    api.ok("PATCH", f"/v1/loadbalancers/{lb['id']}", {"tags": {"x": "1"}})
    api.ok("DELETE", f"/v1/loadbalancers/{lb['id']}", expect=204)
    assert api.call("GET", "/v1/info", token="wrong").status == 401  # refused: not served, not counted

    info = api.info()

    assert start == {"GET": 1, "POST": 0, "PATCH": 0, "DELETE": 0}
    assert info["calls"] == {"GET": 3, "POST": 1, "PATCH": 1, "DELETE": 1}
    assert info["load_balancers"] == 0
    assert info["address_pool"] == api.daemon.address_pool


def test_metrics_count_requests_by_method_and_mutation_without_a_token(api: Api) -> None:
    target = {"ip": "127.0.0.1", "port": 9}
    lb = api.create(lb_body("web", listeners=[{"name": "a", "protocol": "TCP", "port": 8080, "targets": [target]}]))
    api.get(lb["id"])
    api.get(lb["id"])

    answer = api.call("GET", "/metrics", token=None)

    assert answer.status == 200
    samples = dict(re.findall(r"^(cloudlb_api_requests_total\{[^}]*\}) (\S+)$", answer.body, re.M))
    assert float(samples['cloudlb_api_requests_total{method="GET",mutating="false"}']) == 2
    assert float(samples['cloudlb_api_requests_total{method="POST",mutating="true"}']) == 1
    assert float(samples['cloudlb_api_requests_total{method="DELETE",mutating="true"}']) == 0
    # The data plane's metrics come from the same registry, in the same answer.
    assert re.search(rf'^cloudlb_target_healthy\{{.*lb="{lb["id"]}"', answer.body, re.M), answer.body
