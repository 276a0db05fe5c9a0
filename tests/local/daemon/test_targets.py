"""The targets delta call: adds and removes in one call, adds first, and traffic follows the new pool."""

from __future__ import annotations

from typing import Any

import pytest

from tests.local.daemon.helpers import Api, db_rows, fetch, fetch_eventually, id_backend, lb_body


def _target(ip: str, port: int) -> dict[str, Any]:
    return {"ip": ip, "port": port}


def _lb_with(api: Api, targets: list[dict[str, Any]]) -> dict[str, Any]:
    listener = {"name": "web", "protocol": "TCP", "port": 8080, "targets": targets}
    return api.create(lb_body("web", listeners=[listener]))


@pytest.fixture
def api(shared_api: Api) -> Api:
    """One daemon for the module: every test here works on load balancers of its own."""
    return shared_api


def test_add_and_remove_in_one_call(api: Api) -> None:
    lb = _lb_with(api, [_target("127.0.0.21", 30001), _target("127.0.0.22", 30001)])
    path = f"/v1/loadbalancers/{lb['id']}/listeners/TCP-8080/targets"

    changed = api.ok(
        "POST",
        path,
        {"add": [_target("127.0.0.23", 30001), _target("127.0.0.3", 30001)], "remove": [_target("127.0.0.21", 30001)]},
    )

    expected = [_target("127.0.0.3", 30001), _target("127.0.0.22", 30001), _target("127.0.0.23", 30001)]
    assert changed["listeners"][0]["targets"] == expected
    assert changed["revision"] == 2
    assert api.get(lb["id"])["listeners"][0]["targets"] == expected
    assert db_rows(api.daemon.state_dir)[lb["id"]]["listeners"][0]["targets"] == expected


def test_adds_are_applied_before_removes(api: Api) -> None:
    lb = _lb_with(api, [_target("127.0.0.21", 30001)])
    path = f"/v1/loadbalancers/{lb['id']}/listeners/TCP-8080/targets"
    both = _target("127.0.0.22", 30001)

    changed = api.ok("POST", path, {"add": [both], "remove": [both]})

    assert changed["listeners"][0]["targets"] == [_target("127.0.0.21", 30001)]


def test_a_delta_that_changes_nothing_writes_nothing(api: Api) -> None:
    existing = _target("127.0.0.21", 30001)
    lb = _lb_with(api, [existing])
    path = f"/v1/loadbalancers/{lb['id']}/listeners/TCP-8080/targets"

    same = api.ok("POST", path, {"add": [existing], "remove": [_target("127.0.0.99", 1)]})

    assert same["revision"] == 1
    assert db_rows(api.daemon.state_dir)[lb["id"]]["revision"] == 1


def test_targets_of_a_missing_listener_are_404(api: Api) -> None:
    lb = _lb_with(api, [])

    answer = api.call("POST", f"/v1/loadbalancers/{lb['id']}/listeners/UDP-8080/targets", {"add": []})

    assert answer.status == 404
    assert answer.error["code"] == "NotFound"


def test_traffic_moves_to_the_new_targets(api: Api) -> None:
    with id_backend("old", "127.0.0.31") as old, id_backend("new", "127.0.0.32") as new:
        lb = _lb_with(api, [_target(*old)])
        assert fetch_eventually(lb["address"], 8080) == "old"

        api.ok(
            "POST",
            f"/v1/loadbalancers/{lb['id']}/listeners/TCP-8080/targets",
            {"add": [_target(*new)], "remove": [_target(*old)]},
        )

        # The answer came after the data plane applied the change: every new connection goes to the new target.
        assert {fetch(lb["address"], 8080) for _ in range(5)} == {"new"}
