"""Fixtures for the Azure provider's tests: a fake ARM seeded like ``cloudlb mock-server azure``, providers on it,
and an ``azure-mgmt-network`` client to read the cloud back with (not through the provider)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from azure.mgmt.network import NetworkManagementClient

from cloudlb_azure.credentials import FakeArmCredential
from cloudlb_azure.fake import FakeArm
from cloudlb_azure.mock import seed_network
from cloudlb_azure.provider import AzureProvider
from tests.azure.helpers import LOCATION, NSG, RG, SUBNET, VNET

MakeProvider = Callable[..., AzureProvider]

# Fast polling and retries against a fake that settles in milliseconds.
FAST = {"poll_interval": 0.002, "retry_initial_delay": 0.005, "retry_max_delay": 0.05}


@pytest.fixture
def fake() -> Iterator[FakeArm]:
    with FakeArm(lro_delay=0.002) as arm:
        seed_network(
            arm, resource_group=RG, location=LOCATION, vnet_name=VNET, subnet_name=SUBNET, security_group_name=NSG
        )
        yield arm


def provider_options(fake: FakeArm, **overrides: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "subscription_id": fake.subscription_id,
        "resource_group": RG,
        "location": LOCATION,
        "base_url": fake.url,
        "ca_bundle": fake.ca_path,
        "use_mock_credential": True,
        "vnet_name": VNET,
        "subnet_name": SUBNET,
        "security_group_name": NSG,
        **FAST,
    }
    options.update(overrides)
    return options


@pytest.fixture
def make_provider(fake: FakeArm) -> MakeProvider:
    def make(**overrides: Any) -> AzureProvider:
        return AzureProvider(**provider_options(fake, **overrides))

    return make


@pytest.fixture
def provider(make_provider: MakeProvider) -> AzureProvider:
    return make_provider()


@pytest.fixture
def client(fake: FakeArm) -> Iterator[NetworkManagementClient]:
    """Reads the cloud back. Its requests show in ``fake.requests`` too: count the provider's before reading."""
    with NetworkManagementClient(
        FakeArmCredential(), fake.subscription_id, base_url=fake.url, connection_verify=fake.ca_path, retry_total=0
    ) as c:
        yield c
