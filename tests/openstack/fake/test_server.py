"""The fake as a server: its request log, and a stop that really takes the cloud away."""

from __future__ import annotations

import pytest
import requests
from openstack.connection import Connection

from cloudlb_openstack.fake import FakeOpenStack, RequestRecord
from tests.openstack.fake.helpers import active_lb


def test_the_request_log_records_method_path_and_status(cloud: FakeOpenStack, conn: Connection) -> None:
    lb = active_lb(cloud, conn)
    cloud.clear_requests()

    conn.load_balancer.get_load_balancer(lb.id)
    conn.load_balancer.create_listener(load_balancer_id=lb.id, protocol="TCP", protocol_port=80)
    conn.load_balancer.put(f"/lbaas/listeners/{lb.id}", json={"listener": {}})  # no such listener

    assert cloud.requests == [
        RequestRecord("GET", f"/load-balancer/v2.0/lbaas/loadbalancers/{lb.id}", 200),
        RequestRecord("POST", "/load-balancer/v2.0/lbaas/listeners", 201),
        RequestRecord("PUT", f"/load-balancer/v2.0/lbaas/listeners/{lb.id}", 404),
    ]
    assert (cloud.count("POST"), cloud.count(path="/listeners"), cloud.count(status=404)) == (1, 2, 1)


def test_stop_closes_open_connections() -> None:
    fake = FakeOpenStack().start()
    url = fake.url + "/v3"
    session = requests.Session()  # keeps its connection open between requests
    first = session.get(url, timeout=10)

    fake.stop()

    assert first.status_code == 200
    with pytest.raises(requests.ConnectionError):
        session.get(url, timeout=10)


@pytest.mark.parametrize(
    ("path", "fault_key"),
    [
        pytest.param("/v3/auth/tokens", "error", id="keystone"),
        pytest.param("/load-balancer/v2/lbaas/loadbalancers", "faultstring", id="octavia"),
        pytest.param("/networking/v2.0/ports", "NeutronError", id="neutron"),
    ],
)
def test_a_body_that_is_not_json_is_400_in_the_services_shape(cloud: FakeOpenStack, path: str, fault_key: str) -> None:
    answer = requests.post(cloud.url + path, data=b"{not json", timeout=10)

    assert answer.status_code == 400
    assert fault_key in answer.json()
