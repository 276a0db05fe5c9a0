"""Load balancers and listeners through the API, read back through GET and straight from state.db."""

from __future__ import annotations

import uuid

import pytest

from tests.local.daemon.helpers import Api, db_rows, lb_body


@pytest.fixture
def api(shared_api: Api) -> Api:
    """One daemon for the module: every test here works on load balancers of its own."""
    return shared_api


def test_create_then_read_back_through_get_and_the_database(api: Api) -> None:
    body = lb_body(
        "web",
        settings={
            "algorithm": "least-connections",
            "health_check": {"protocol": "HTTP", "port": 10256, "path": "/healthz", "interval": 2, "timeout": 1},
            "source_ranges": ["10.0.0.0/8", "127.0.0.0/8"],
            "proxy_protocol": "v2",
            "affinity_timeout": 600,
        },
        listeners=[
            {"name": "http", "protocol": "TCP", "port": 8080, "targets": [{"ip": "127.0.0.12", "port": 30080}]},
            {"name": "dns", "protocol": "UDP", "port": 5353, "targets": []},
        ],
    )
    created = api.create(body)

    assert created["id"].startswith("lb-")
    assert created["revision"] == 1
    fetched = api.get(created["id"])
    assert fetched == created
    assert fetched["name"] == "web"
    assert fetched["tags"] == body["tags"]
    assert fetched["settings"] == {
        "algorithm": "least-connections",
        "health_check": {
            "protocol": "HTTP",
            "port": 10256,
            "path": "/healthz",
            "interval": 2.0,
            "timeout": 1.0,
            "healthy_threshold": 2,
            "unhealthy_threshold": 3,
        },
        "source_ranges": ["10.0.0.0/8", "127.0.0.0/8"],
        "proxy_protocol": "v2",
        "affinity_timeout": 600,
    }
    assert [(lst["protocol"], lst["port"], lst["name"]) for lst in fetched["listeners"]] == [
        ("TCP", 8080, "http"),
        ("UDP", 5353, "dns"),
    ]
    assert fetched["listeners"][0]["targets"] == [{"ip": "127.0.0.12", "port": 30080}]
    assert all(lst["status"] == {"error": None} for lst in fetched["listeners"])

    stored = db_rows(api.daemon.state_dir)[created["id"]]
    assert stored["address"] == created["address"]
    assert stored["tags"] == body["tags"]
    assert stored["settings"] == fetched["settings"]
    assert stored["revision"] == 1
    assert {(lst["protocol"], lst["port"]) for lst in stored["listeners"]} == {("TCP", 8080), ("UDP", 5353)}


def test_defaults_fill_in_settings_left_out(api: Api) -> None:
    created = api.create({"name": "bare"})

    assert created["settings"] == {
        "algorithm": "round-robin",
        "health_check": {
            "protocol": "TCP",
            "port": None,
            "path": None,
            "interval": 10.0,
            "timeout": 5.0,
            "healthy_threshold": 2,
            "unhealthy_threshold": 3,
        },
        "source_ranges": [],
        "proxy_protocol": "none",
        "affinity_timeout": 10800,
    }
    assert created["tags"] == {}
    assert created["listeners"] == []


def test_list_filters_by_every_tag_given(api: Api) -> None:
    run = uuid.uuid4().hex  # other tests' load balancers share this daemon
    a = api.create(lb_body("a", tags={"run": run, "cloudlb.io/cluster": "one", "team": "x"}))
    b = api.create(lb_body("b", tags={"run": run, "cloudlb.io/cluster": "one", "team": "y"}))
    c = api.create(lb_body("c", tags={"run": run, "cloudlb.io/cluster": "two", "team": "x"}))

    def ids(query: str) -> set[str]:
        return {lb["id"] for lb in api.ok("GET", f"/v1/loadbalancers?tag=run={run}" + query)["load_balancers"]}

    assert ids("") == {a["id"], b["id"], c["id"]}
    assert ids("&tag=cloudlb.io/cluster=one") == {a["id"], b["id"]}
    assert ids("&tag=cloudlb.io/cluster=one&tag=team=x") == {a["id"]}
    assert ids("&tag=team=z") == set()
    listed = api.ok("GET", "/v1/loadbalancers")["load_balancers"]
    assert {a["id"], b["id"], c["id"]} <= {lb["id"] for lb in listed}


def test_patch_merges_settings_replaces_tags_and_bumps_the_revision(api: Api) -> None:
    created = api.create(lb_body("web", tags={"a": "1", "b": "2"}))

    patched = api.ok(
        "PATCH", f"/v1/loadbalancers/{created['id']}", {"settings": {"algorithm": "source-ip"}, "tags": {"c": "3"}}
    )

    assert patched["tags"] == {"c": "3"}
    assert patched["settings"]["algorithm"] == "source-ip"
    assert patched["settings"]["health_check"] is None  # left as it was
    assert patched["revision"] == 2
    stored = db_rows(api.daemon.state_dir)[created["id"]]
    assert stored["tags"] == {"c": "3"}
    assert stored["settings"]["algorithm"] == "source-ip"
    assert stored["revision"] == 2


def test_a_write_that_changes_nothing_keeps_the_revision(api: Api) -> None:
    created = api.create(lb_body("web"))

    same = api.ok("PATCH", f"/v1/loadbalancers/{created['id']}", {"tags": created["tags"]})

    assert same["revision"] == 1
    assert db_rows(api.daemon.state_dir)[created["id"]]["revision"] == 1


def test_listeners_are_added_renamed_and_deleted_by_protocol_and_port(api: Api) -> None:
    lb = api.create(lb_body("web"))
    base = f"/v1/loadbalancers/{lb['id']}/listeners"

    added = api.ok("POST", base, {"name": "http", "protocol": "TCP", "port": 8080, "targets": []}, expect=201)
    assert [lst["name"] for lst in added["listeners"]] == ["http"]
    renamed = api.ok("PATCH", f"{base}/TCP-8080", {"name": "web"})
    assert [lst["name"] for lst in renamed["listeners"]] == ["web"]
    duplicate = api.call("POST", base, {"name": "again", "protocol": "TCP", "port": 8080})
    assert duplicate.status == 409
    assert duplicate.error["code"] == "Conflict"
    deleted = api.ok("DELETE", f"{base}/TCP-8080")
    assert deleted["listeners"] == []
    assert deleted["revision"] == 4  # create, add, rename, delete; the refused duplicate wrote nothing

    assert db_rows(api.daemon.state_dir)[lb["id"]]["listeners"] == []
    assert api.call("DELETE", f"{base}/TCP-8080").status == 404


def test_delete_removes_the_row_and_answers_404_afterwards(api: Api) -> None:
    lb = api.create(lb_body("web"))

    answer = api.call("DELETE", f"/v1/loadbalancers/{lb['id']}")

    assert answer.status == 204
    assert lb["id"] not in db_rows(api.daemon.state_dir)
    missing = api.call("GET", f"/v1/loadbalancers/{lb['id']}")
    assert missing.status == 404
    assert missing.error["code"] == "NotFound"
    assert api.call("DELETE", f"/v1/loadbalancers/{lb['id']}").status == 404


def test_unknown_paths_answer_json_errors(api: Api) -> None:
    answer = api.call("GET", "/v1/nothing-here")

    assert answer.status == 404
    assert answer.error["code"] == "NotFound"


def test_health_answers_without_a_token(api: Api) -> None:
    answer = api.call("GET", "/healthz", token=None)

    assert (answer.status, answer.body) == (200, "ok")
