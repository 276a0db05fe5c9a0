"""Long-running operations: what a write answers (201/200/202 with Azure-AsyncOperation and Location), the
provisioningState a resource shows meanwhile, and the SDK's pollers completing through them. A hand-driven clock
holds operations InProgress for as long as a test needs, so nothing depends on timing."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.core.rest import HttpRequest
from azure.mgmt.network import NetworkManagementClient

from cloudlb_azure.fake import FakeArm
from cloudlb_azure.mock import seed_network
from tests.azure.fake.builders import GROUP_ID, LOCATION, NSG, RG, SUBNET, VNET, public_ip
from tests.azure.fake.conftest import network_client

API = "api-version=2024-05-01"


class Clock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def slow_fake(clock: Clock) -> Iterator[FakeArm]:
    """Every write takes 30 clock seconds; polls are hinted every 5 ms of real time."""
    with FakeArm(lro_delay=30, poll_interval=0.005, clock=clock) as fake:
        seed_network(
            fake, resource_group=RG, location=LOCATION, vnet_name=VNET, subnet_name=SUBNET, security_group_name=NSG
        )
        yield fake


@pytest.fixture
def slow_client(slow_fake: FakeArm) -> Iterator[NetworkManagementClient]:
    with network_client(slow_fake) as client:
        yield client


def put(client: NetworkManagementClient, name: str) -> HttpRequest:
    return HttpRequest("PUT", f"{GROUP_ID}/publicIPAddresses/{name}?{API}", json=public_ip().as_dict())


def test_a_create_answers_201_with_an_operation_to_poll_and_the_resource_updating(
    slow_client: NetworkManagementClient, clock: Clock
) -> None:
    created = slow_client.send_request(put(slow_client, "pip"))
    operation = created.headers["Azure-AsyncOperation"]
    polled = slow_client.send_request(HttpRequest("GET", operation))
    clock.advance(30)
    done = slow_client.send_request(HttpRequest("GET", operation))
    again = slow_client.send_request(put(slow_client, "pip"))

    assert created.status_code == 201
    assert created.json()["properties"]["provisioningState"] == "Updating"
    assert "/providers/Microsoft.Network/locations/eastus/operations/" in operation
    assert "x-ms-retry-after-ms" in created.headers
    assert polled.json()["status"] == "InProgress"
    assert done.json()["status"] == "Succeeded"
    assert again.status_code == 200  # an update, not a create


def test_the_sdk_poller_waits_for_the_operation_then_returns_the_succeeded_resource(
    slow_client: NetworkManagementClient, slow_fake: FakeArm, clock: Clock
) -> None:
    poller = slow_client.public_ip_addresses.begin_create_or_update(RG, "pip", public_ip())
    while len([r for r in slow_fake.requests if "/operations/" in r.path]) < 2:
        assert not poller.done()
        poller.wait(0.01)
    meanwhile = slow_client.public_ip_addresses.get(RG, "pip")
    clock.advance(30)
    result = poller.result(timeout=10)

    assert meanwhile.provisioning_state == "Updating"
    assert result.provisioning_state == "Succeeded"
    assert slow_client.public_ip_addresses.get(RG, "pip").provisioning_state == "Succeeded"


def test_a_delete_answers_202_with_both_urls_and_the_resource_shows_deleting_until_done(
    slow_client: NetworkManagementClient, clock: Clock
) -> None:
    slow_client.send_request(put(slow_client, "pip"))
    clock.advance(30)

    deleted = slow_client.send_request(HttpRequest("DELETE", f"{GROUP_ID}/publicIPAddresses/pip?{API}"))
    location = deleted.headers["Location"]
    result_meanwhile = slow_client.send_request(HttpRequest("GET", location))
    meanwhile = slow_client.public_ip_addresses.get(RG, "pip")
    clock.advance(30)
    result_after = slow_client.send_request(HttpRequest("GET", location))

    assert deleted.status_code == 202
    assert "Azure-AsyncOperation" in deleted.headers
    assert "/operationResults/" in location
    assert result_meanwhile.status_code == 202
    assert meanwhile.provisioning_state == "Deleting"
    assert result_after.status_code == 204
    with pytest.raises(ResourceNotFoundError):
        slow_client.public_ip_addresses.get(RG, "pip")


def test_deleting_what_does_not_exist_answers_204(client: NetworkManagementClient) -> None:
    response = client.send_request(HttpRequest("DELETE", f"{GROUP_ID}/publicIPAddresses/never?{API}"))
    client.public_ip_addresses.begin_delete(RG, "never").result()

    assert response.status_code == 204


def test_the_sdk_delete_poller_completes(client: NetworkManagementClient, fake: FakeArm) -> None:
    client.public_ip_addresses.begin_create_or_update(RG, "pip", public_ip()).result()

    client.public_ip_addresses.begin_delete(RG, "pip").result()

    assert [p.name for p in client.public_ip_addresses.list(RG)] == []
    assert any("/operations/" in r.path for r in fake.requests if r.method == "GET")


def test_a_write_to_a_resource_being_deleted_is_refused(slow_client: NetworkManagementClient, clock: Clock) -> None:
    slow_client.send_request(put(slow_client, "pip"))
    clock.advance(30)
    slow_client.send_request(HttpRequest("DELETE", f"{GROUP_ID}/publicIPAddresses/pip?{API}"))

    refused = slow_client.send_request(put(slow_client, "pip"))

    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "AnotherOperationInProgress"
