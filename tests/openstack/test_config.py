"""The provider's options: what ``cloudlb mock-server openstack`` prints is what ``get_provider`` takes, a clouds.yaml
entry works too, and bad options are refused before any call. The last test runs the README's flow with the real
commands in child processes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from openstack.connection import Connection

from cloudlb.errors import ConfigError
from cloudlb.provider import get_provider, register_provider, unregister_provider
from cloudlb.testing.mockserver import ENTRY_POINT_GROUP, MockServerProcess
from cloudlb_openstack.fake import FakeOpenStack
from cloudlb_openstack.mock import OpenStackMockServer
from cloudlb_openstack.provider import OpenStackProvider
from tests.kube.builders import node, port, service
from tests.openstack.helpers import FAST, connect, make_provider, make_spec, only_lb
from tests.testing.entrypoints import MOCK_SERVER_COMMAND, environment_with


@pytest.fixture
def registered() -> Iterator[None]:
    """``get_provider("openstack")`` without installing the entry point (the registration wins over one)."""
    register_provider("openstack", OpenStackProvider, replace=True)
    yield
    unregister_provider("openstack")


def test_building_a_provider_makes_no_call(cloud: FakeOpenStack) -> None:
    provider = make_provider(cloud)

    assert provider.load_balancer_name(make_spec()).startswith("k8s-demo-web-")
    assert cloud.requests == []


def test_the_mock_servers_config_is_what_get_provider_takes(registered: None) -> None:
    server = OpenStackMockServer(provisioning_delay="0.01")
    config = server.start()
    try:
        provider = get_provider(config["provider"], **config["options"], **FAST)
        status = provider.ensure(make_spec())
        conn = connect(server.fake)
        lb = only_lb(conn)
        conn.close()
    finally:
        server.stop()

    assert status.cloud_id == lb.id and lb.vip_subnet_id == config["options"]["subnet_id"]


def test_a_clouds_yaml_entry_names_the_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registered: None
) -> None:
    server = OpenStackMockServer(provisioning_delay="0.01")
    options = server.start()["options"]
    try:
        monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(server.write_clouds_yaml(tmp_path / "clouds.yaml")))
        provider = get_provider(
            "openstack",
            cloud="cloudlb-fake",
            floating_network_id=options["floating_network_id"],
            subnet_id=options["subnet_id"],
            **FAST,
        )
        status = provider.ensure(make_spec())
    finally:
        server.stop()

    assert status.ingress[0].ip is not None
    assert len(server.fake.state.loadbalancers) == 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"auth_url": "http://127.0.0.1:1"}, "needs option 'username'", id="missing-credentials"),
        pytest.param({"cloud": "x", "subnet_id": "private"}, "'subnet_id' must be a UUID", id="subnet-not-uuid"),
        pytest.param({"cloud": "x", "poll_interval": "soon"}, "'poll_interval'", id="not-a-number"),
        pytest.param({"cloud": "x", "wait_timeout": 0}, "'wait_timeout' must be positive", id="not-positive"),
    ],
)
def test_bad_options_are_refused_when_the_provider_is_built(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        OpenStackProvider(**options)  # type: ignore[arg-type]


def test_numbers_given_as_strings_are_read(cloud: FakeOpenStack) -> None:
    provider = OpenStackProvider(cloud="x", poll_interval="0.25", rounds="3")  # type: ignore[arg-type]

    assert (provider.config.poll_interval, provider.config.rounds) == (0.25, 3)


def test_the_only_external_network_is_found_when_none_is_configured(cloud: FakeOpenStack, conn: Connection) -> None:
    provider = make_provider(cloud, floating_network_id=None)

    provider.ensure(make_spec())
    provider.ensure(make_spec(nodes=range(1, 3)))

    [fip] = list(conn.network.ips())
    assert fip.floating_network_id == cloud.external_network_id
    assert cloud.count("GET", r"/networking/v2.0/networks$") == 1  # looked up once, then remembered


def test_without_a_vip_subnet_creating_is_a_config_error(cloud: FakeOpenStack) -> None:
    provider = make_provider(cloud, subnet_id=None)

    with pytest.raises(ConfigError, match="subnet"):
        provider.plan(make_spec())

    assert cloud.count("POST", r"^/(load-balancer|networking)/") == 0


def test_cloudlb_apply_against_cloudlb_mock_server_openstack(tmp_path: Path) -> None:
    entry_points = {
        **MOCK_SERVER_COMMAND,
        ENTRY_POINT_GROUP: {"openstack": "cloudlb_openstack.mock:OpenStackMockServer"},
        "cloudlb.providers": {"openstack": "cloudlb_openstack.provider:OpenStackProvider"},
    }
    env = environment_with(tmp_path / "ep", entry_points)
    manifests = tmp_path / "web.yaml"
    documents = [service("web", "demo", ports=[port("http", 80, 30080)]), node("n1", "10.1.0.1")]
    manifests.write_text(yaml.safe_dump_all(documents), encoding="utf-8")
    process = MockServerProcess("openstack", cluster="ci", options={"provisioning_delay": "0.01"}, env=env)
    config = process.start()
    try:
        (tmp_path / "cloudlb.json").write_text(json.dumps(config), encoding="utf-8")

        def cloudlb(*args: str) -> subprocess.CompletedProcess[str]:
            command = [sys.executable, "-c", "from cloudlb.cli import main; main()", *args]
            return subprocess.run(
                command, env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False
            )

        applied = cloudlb("apply", "--config", "cloudlb.json", "-f", str(manifests))
        conn = Connection(
            **{k: v for k, v in config["options"].items() if k not in ("floating_network_id", "subnet_id")}
        )
        [lb] = list(conn.load_balancer.load_balancers())
        [fip] = list(conn.network.ips())
        deleted = cloudlb("delete", "--config", "cloudlb.json", "-f", str(manifests))
        left = list(conn.load_balancer.load_balancers())
        conn.close()
    finally:
        process.stop()

    assert applied.returncode == 0, applied.stderr
    assert fip.floating_ip_address in applied.stdout and fip.port_id == lb.vip_port_id
    assert deleted.returncode == 0, deleted.stderr
    assert left == []
