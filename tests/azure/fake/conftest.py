"""Fixtures for the fake ARM's tests: a running fake seeded like ``cloudlb mock-server azure``, and an
``azure-mgmt-network`` client talking to it over HTTPS with its normal bearer-token policy."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from azure.mgmt.network import NetworkManagementClient

from cloudlb_azure.credentials import FakeArmCredential
from cloudlb_azure.fake import FakeArm
from cloudlb_azure.mock import seed_network
from tests.azure.fake.builders import LOCATION, NSG, RG, SUBNET, VNET


def network_client(fake: FakeArm) -> NetworkManagementClient:
    return NetworkManagementClient(
        FakeArmCredential(),
        fake.subscription_id,
        base_url=fake.url,
        connection_verify=fake.ca_path,
        retry_total=0,
    )


@pytest.fixture
def fake() -> Iterator[FakeArm]:
    with FakeArm(lro_delay=0.005) as arm:
        seed_network(
            arm, resource_group=RG, location=LOCATION, vnet_name=VNET, subnet_name=SUBNET, security_group_name=NSG
        )
        yield arm


@pytest.fixture
def client(fake: FakeArm) -> Iterator[NetworkManagementClient]:
    with network_client(fake) as c:
        yield c
