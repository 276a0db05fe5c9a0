"""List filters as openstacksdk sends them: by name, project, the four tag filters, fields and pages, on Octavia
and Neutron alike. Tags are cloudlb's ``key=value`` ownership strings."""

from __future__ import annotations

import pytest
from openstack.connection import Connection

from cloudlb_openstack.fake import FakeOpenStack
from tests.openstack.fake.helpers import settle

PROD = "cloudlb.io/cluster=prod"
DEV = "cloudlb.io/cluster=dev"
SVC_A = "cloudlb.io/service=ns/a"
SVC_B = "cloudlb.io/service=ns/b"


@pytest.fixture
def tagged(cloud: FakeOpenStack, conn: Connection) -> dict[str, str]:
    """Four load balancers, named after their tag sets; returns name -> id."""
    tag_sets = {"a": [PROD, SVC_A], "b": [PROD, SVC_B], "c": [DEV], "d": []}
    ids = {}
    for name, tags in tag_sets.items():
        ids[name] = conn.load_balancer.create_load_balancer(name=name, vip_subnet_id=cloud.subnet_id, tags=tags).id
    settle(cloud)
    return ids


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param({"tags": PROD}, {"a", "b"}, id="tags-one"),
        pytest.param({"tags": f"{PROD},{SVC_A}"}, {"a"}, id="tags-all-of"),
        pytest.param({"any_tags": f"{DEV},{SVC_B}"}, {"b", "c"}, id="tags-any"),
        pytest.param({"not_tags": PROD}, {"c", "d"}, id="not-tags"),
        pytest.param({"not_tags": f"{PROD},{SVC_A}"}, {"b", "c", "d"}, id="not-tags-needs-all"),
        pytest.param({"not_any_tags": f"{DEV},{SVC_A}"}, {"b", "d"}, id="not-tags-any"),
        pytest.param({"tags": PROD, "name": "b"}, {"b"}, id="tags-and-name"),
        pytest.param({"name": "nope"}, set(), id="no-match"),
    ],
)
def test_load_balancer_filters(
    conn: Connection, tagged: dict[str, str], query: dict[str, str], expected: set[str]
) -> None:
    assert {lb.name for lb in conn.load_balancer.load_balancers(**query)} == expected


def test_project_filter_and_tags_are_lists_of_strings(
    cloud: FakeOpenStack, conn: Connection, tagged: dict[str, str]
) -> None:
    mine = {lb.name for lb in conn.load_balancer.load_balancers(project_id=cloud.state.project.id)}
    others = list(conn.load_balancer.load_balancers(project_id=cloud.state.admin_project.id))
    raw = conn.load_balancer.get(f"/lbaas/loadbalancers/{tagged['a']}").json()["loadbalancer"]

    assert mine == {"a", "b", "c", "d"} and others == []
    assert raw["tags"] == [PROD, SVC_A]


def test_child_filters(cloud: FakeOpenStack, conn: Connection, tagged: dict[str, str]) -> None:
    for name in ("a", "b"):
        conn.load_balancer.create_listener(
            name=name, load_balancer_id=tagged[name], protocol="TCP", protocol_port=80, tags=[PROD, f"lb={name}"]
        )
    settle(cloud)

    by_lb = [item.name for item in conn.load_balancer.listeners(load_balancer_id=tagged["b"])]
    by_tag = [item.name for item in conn.load_balancer.listeners(tags="lb=a")]
    by_port = {item.name for item in conn.load_balancer.listeners(protocol_port=80, protocol="TCP")}

    assert (by_lb, by_tag, by_port) == (["b"], ["a"], {"a", "b"})


def test_pages_follow_the_next_link(cloud: FakeOpenStack, conn: Connection, tagged: dict[str, str]) -> None:
    cloud.clear_requests()

    names = [lb.name for lb in conn.load_balancer.load_balancers(limit=1)]
    fields = conn.load_balancer.get("/lbaas/loadbalancers?fields=id&fields=name").json()["loadbalancers"]

    assert names == ["a", "b", "c", "d"]
    # four full pages, each with a next link as Octavia gives, the empty page after the last, and the fields
    assert cloud.count("GET", "/lbaas/loadbalancers$") == 6
    assert {tuple(sorted(item)) for item in fields} == {("id", "name")}


def test_an_unknown_octavia_filter_is_400(conn: Connection, tagged: dict[str, str]) -> None:
    answer = conn.load_balancer.get("/lbaas/loadbalancers?colour=red")

    assert answer.status_code == 400
    assert answer.json()["faultstring"] == "One or more arguments are either duplicate or invalid."


def test_neutron_filters(cloud: FakeOpenStack, conn: Connection) -> None:
    network_id = conn.network.get_subnet(cloud.subnet_id).network_id
    port = conn.network.create_port(network_id=network_id, name="p", fixed_ips=[{"ip_address": "10.0.0.200"}])
    conn.network.set_tags(port, [PROD])

    external = [n.name for n in conn.network.networks(is_router_external=True)]
    by_tag = [p.name for p in conn.network.ports(tags=PROD)]
    not_tagged = [p.name for p in conn.network.ports(not_tags=PROD)]
    by_address = [p.id for p in conn.network.ports(fixed_ips="ip_address=10.0.0.200")]
    bad = conn.network.get("/ports?colour=red")

    assert external == ["public"]
    assert (by_tag, not_tagged, by_address) == (["p"], [], [port.id])
    assert (
        bad.status_code == 400
        and bad.json()["NeutronError"]["message"] == "[colour] is invalid attribute for filtering"
    )
