"""Keystone v3 as openstacksdk and keystoneauth see it: discovery, password auth, catalog, scoping, token checks."""

from __future__ import annotations

from pathlib import Path

import openstack
import pytest
import requests
from openstack.config import OpenStackConfig
from openstack.connection import Connection

from cloudlb_openstack.fake import FakeOpenStack
from cloudlb_openstack.mock import OpenStackMockServer
from tests.openstack.fake.helpers import active_lb, connect


def test_discovery_documents_point_back_at_the_fake(cloud: FakeOpenStack) -> None:
    root = requests.get(cloud.url + "/", timeout=10)
    v3 = requests.get(cloud.url + "/v3", timeout=10)
    octavia = requests.get(cloud.url + "/load-balancer/", timeout=10).json()["versions"]
    neutron = requests.get(cloud.url + "/networking/", timeout=10).json()["versions"]

    assert root.status_code == 300
    assert [v["links"][0]["href"] for v in root.json()["versions"]["values"]] == [cloud.url + "/v3/"]
    assert v3.status_code == 200 and v3.json()["version"]["id"].startswith("v3.")
    assert [v["id"] for v in octavia if v["status"] == "CURRENT"] == ["v2.26"]
    assert {v["links"][0]["href"] for v in octavia} == {cloud.url + "/load-balancer/v2"}
    assert neutron == [
        {"id": "v2.0", "status": "CURRENT", "links": [{"href": cloud.url + "/networking/v2.0/", "rel": "self"}]}
    ]


def test_password_auth_gives_a_project_token_with_the_catalog(cloud: FakeOpenStack, conn: Connection) -> None:
    conn.authorize()

    assert conn.current_project_id == cloud.state.project.id
    endpoints = {
        service: conn.session.get_endpoint(service_type=service, interface="public", region_name="RegionOne")
        for service in ("identity", "load-balancer", "network")
    }
    assert endpoints == {
        "identity": cloud.url,
        "load-balancer": cloud.url + "/load-balancer",
        "network": cloud.url + "/networking",
    }
    assert cloud.count("POST", "^/v3/auth/tokens$", 201) == 1


@pytest.mark.parametrize(
    "override",
    [
        pytest.param({"password": "wrong"}, id="wrong-password"),
        pytest.param({"username": "nobody"}, id="unknown-user"),
        pytest.param({"project_name": "elsewhere"}, id="unknown-project"),
        pytest.param({"user_domain_name": "Other"}, id="wrong-domain"),
    ],
)
def test_bad_credentials_are_401(cloud: FakeOpenStack, override: dict[str, str]) -> None:
    connection = connect(cloud, **override)

    with pytest.raises(openstack.exceptions.SDKException, match="HTTP 401"):
        connection.authorize()
    assert cloud.count("POST", "^/v3/auth/tokens$", 401) == 1


@pytest.mark.parametrize(
    "path", ["/load-balancer/v2/lbaas/loadbalancers", "/networking/v2.0/networks"], ids=["octavia", "neutron"]
)
@pytest.mark.parametrize("token", [None, "not-a-token"], ids=["no-token", "bad-token"])
def test_services_refuse_requests_without_a_valid_token(cloud: FakeOpenStack, path: str, token: str | None) -> None:
    headers = {"X-Auth-Token": token} if token else {}

    answer = requests.get(cloud.url + path, headers=headers, timeout=10)

    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == 401
    assert answer.headers["WWW-Authenticate"] == f'Keystone uri="{cloud.url}"'


def test_a_revoked_token_is_replaced_by_a_new_one(cloud: FakeOpenStack, conn: Connection) -> None:
    active_lb(cloud, conn, name="before")
    cloud.state.revoke_tokens()

    names = [lb.name for lb in conn.load_balancer.load_balancers()]

    assert names == ["before"]
    assert cloud.count("GET", "/lbaas/loadbalancers$", 401) == 1  # the stale token, then a re-auth and a retry
    assert cloud.count("POST", "^/v3/auth/tokens$", 201) == 2


def test_token_validation_endpoint(cloud: FakeOpenStack, conn: Connection) -> None:
    token = str(conn.session.get_token())
    check = {"X-Auth-Token": token, "X-Subject-Token": token}

    shown = requests.get(cloud.url + "/v3/auth/tokens", headers=check, timeout=10)
    revoked = requests.delete(cloud.url + "/v3/auth/tokens", headers=check, timeout=10)
    after = requests.get(cloud.url + "/load-balancer/v2/lbaas/loadbalancers", headers=check, timeout=10)

    assert shown.status_code == 200
    assert shown.json()["token"]["project"]["id"] == cloud.state.project.id
    assert revoked.status_code == 204
    assert after.status_code == 401


def test_projects_see_only_their_own_resources(cloud: FakeOpenStack, conn: Connection) -> None:
    other = cloud.state.add_project("other")
    cloud.state.add_user("olga", "pw", projects=[other.id])
    theirs = connect(cloud, username="olga", password="pw", project_name="other")
    mine = active_lb(cloud, conn, name="mine")
    port = conn.network.create_port(network_id=cloud.state.ports[mine.vip_port_id]["network_id"])

    their_lbs = list(theirs.load_balancer.load_balancers())
    their_networks = {n.name for n in theirs.network.networks()}

    assert their_lbs == []
    with pytest.raises(openstack.exceptions.ForbiddenException):
        theirs.load_balancer.get_load_balancer(mine.id)  # Octavia: 403 for another project's resource
    with pytest.raises(openstack.exceptions.NotFoundException):
        theirs.network.get_port(port.id)  # Neutron hides them: 404
    assert their_networks == {"public"}  # only the external network is shared
    assert [lb.name for lb in conn.load_balancer.load_balancers()] == ["mine"]


def test_a_clouds_yaml_from_the_mock_server_connects(tmp_path: Path) -> None:
    server = OpenStackMockServer()
    server.start()
    try:
        path = server.write_clouds_yaml(tmp_path / "clouds.yaml", cloud="ci")
        region = OpenStackConfig(config_files=[str(path)]).get_one(cloud="ci")
        connection = openstack.connection.Connection(config=region)

        networks = {n.name: n.is_router_external for n in connection.network.networks()}
    finally:
        server.stop()

    assert networks == {"public": True, "private": False}
