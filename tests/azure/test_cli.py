"""The README's path: ``cloudlb mock-server azure`` prints a config, and ``cloudlb apply/plan/get/list/delete`` with
that config drive the Azure provider against the fake. The provider is registered for the test the way its entry
point registers it in an installed cloudlb."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click.testing
import pytest
import yaml
from azure.mgmt.network import NetworkManagementClient

from cloudlb.cli import cli
from cloudlb.errors import ConfigError
from cloudlb.provider import get_provider, register_provider, unregister_provider
from cloudlb_azure.credentials import FakeArmCredential
from cloudlb_azure.mock import AzureMockServer
from cloudlb_azure.provider import AzureProvider
from tests.azure.helpers import nodes, service


@pytest.fixture
def mock() -> Iterator[dict[str, Any]]:
    server = AzureMockServer(cluster="ci", lro_delay="0.002")
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def registered() -> Iterator[None]:
    register_provider("azure", AzureProvider, replace=True)
    try:
        yield
    finally:
        unregister_provider("azure")


def run(*args: str | Path) -> click.testing.Result:
    return click.testing.CliRunner().invoke(cli, [str(a) for a in args], env={"CLOUDLB_CONFIG": ""})


def test_get_provider_accepts_exactly_the_mock_servers_options(mock: dict[str, Any], registered: None) -> None:
    provider = get_provider("azure", **mock["options"], poll_interval=0.002)

    assert provider.name == "azure"
    assert provider.list_owned("ci") == []
    with pytest.raises(ConfigError, match=r"poll_intervall.*did you mean 'poll_interval'"):
        get_provider("azure", **mock["options"], poll_intervall=1)


def test_apply_plan_get_list_delete_against_the_mock_server(
    mock: dict[str, Any], registered: None, tmp_path: Path
) -> None:
    config = tmp_path / "cloudlb.json"
    config.write_text(json.dumps(mock) + "\n")
    manifest = tmp_path / "web.yaml"
    manifest.write_text(yaml.safe_dump_all([service("web", namespace="shop"), *nodes(1, 2)]))

    applied = run("apply", "--config", config, "-f", manifest)
    again = run("plan", "--config", config, "-f", manifest)
    got = run("get", "--config", config, "-f", manifest, "-o", "json")
    listed = run("list", "--config", config, "-o", "json")

    assert applied.exit_code == 0, applied.output
    assert again.exit_code == 0 and "no changes" in again.output
    [status] = json.loads(got.stdout)
    o = mock["options"]
    with NetworkManagementClient(
        FakeArmCredential(), o["subscription_id"], base_url=o["base_url"], connection_verify=o["ca_bundle"]
    ) as client:
        [pip] = list(client.public_ip_addresses.list(o["resource_group"]))
        assert pip.ip_address in got.stdout
        assert [b.name for b in client.load_balancers.list(o["resource_group"])] == ["ci"]
        assert json.dumps(status).count(str(pip.ip_address)) >= 1
        assert [(e["namespace"], e["name"]) for e in json.loads(listed.stdout)] == [("shop", "web")]

        deleted = run("delete", "--config", config, "shop/web")

        assert deleted.exit_code == 0, deleted.output
        assert list(client.load_balancers.list(o["resource_group"])) == []
        assert list(client.public_ip_addresses.list(o["resource_group"])) == []
