"""``cloudlb mock-server azure``'s factory: the config it returns is enough for the SDK to reach the fake, and the
network it seeds is there, unowned by cloudlb."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.mgmt.network import NetworkManagementClient

from cloudlb_azure.credentials import FakeArmCredential
from cloudlb_azure.mock import AzureMockServer


@pytest.fixture
def started() -> Iterator[dict[str, Any]]:
    # Options arrive as strings from `-o KEY=VALUE`.
    server = AzureMockServer(port=None, seed=(), cluster="prod", work_dir=None, lro_delay="0.01", resource_group="ci")
    try:
        yield server.start()
    finally:
        server.stop()


def test_the_config_names_the_provider_cluster_and_exactly_the_providers_options(started: dict[str, Any]) -> None:
    options = started["options"]

    assert (started["provider"], started["cluster"]) == ("azure", "prod")
    assert set(options) == {
        "subscription_id",
        "resource_group",
        "location",
        "base_url",
        "ca_bundle",
        "use_mock_credential",
        "vnet_name",
        "subnet_name",
        "security_group_name",
    }
    assert options["base_url"].startswith("https://127.0.0.1:")
    assert (options["resource_group"], options["location"], options["use_mock_credential"]) == ("ci", "eastus", True)


def test_the_sdk_reaches_the_seeded_network_with_only_the_config(started: dict[str, Any]) -> None:
    o = started["options"]
    with NetworkManagementClient(
        FakeArmCredential(), o["subscription_id"], base_url=o["base_url"], connection_verify=o["ca_bundle"]
    ) as client:
        subnet = client.subnets.get(o["resource_group"], o["vnet_name"], o["subnet_name"])
        nsg = client.network_security_groups.get(o["resource_group"], o["security_group_name"])
        vnet = client.virtual_networks.get(o["resource_group"], o["vnet_name"])

    assert subnet.network_security_group is not None and subnet.network_security_group.id == nsg.id
    assert vnet.address_space is not None
    assert "10.0.0.0/8" in (vnet.address_space.address_prefixes or [])
    assert not any(key.startswith("cloudlb.io") for r in (nsg, vnet) for key in (r.tags or {}))


def test_an_unknown_option_is_refused() -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        AzureMockServer(region="westeurope")  # type: ignore[call-arg]


def test_stop_is_idempotent_and_removes_the_ca_file() -> None:
    server = AzureMockServer(lro_delay="0")
    options = server.start()["options"]
    server.stop()
    server.stop()  # idempotent

    assert not os.path.exists(options["ca_bundle"])


def test_with_a_work_dir_the_ca_is_written_there(tmp_path: Path) -> None:
    server = AzureMockServer(work_dir=tmp_path / "work", lro_delay="0")
    try:
        options = server.start()["options"]
    finally:
        server.stop()

    assert options["ca_bundle"] == str(tmp_path / "work" / "ca.pem")
    assert (tmp_path / "work" / "ca.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")
