"""``cloudlb mock-server openstack``: the config it prints connects openstacksdk to the fake, directly, through a
fault proxy put where ``url_option`` says, and from the real command in a child process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openstack
import pytest

from cloudlb.testing.faultproxy import FaultProxy
from cloudlb.testing.mockserver import ENTRY_POINT_GROUP, MockServerProcess
from cloudlb_openstack.mock import OpenStackMockServer
from tests.openstack.fake.helpers import wait_for_lb
from tests.testing.entrypoints import MOCK_SERVER_COMMAND, environment_with

PROVIDER_OPTIONS = {
    "auth_url", "username", "password", "project_name", "user_domain_name", "project_domain_name", "region_name",
    "floating_network_id", "subnet_id",
}  # fmt: skip
AUTH_OPTIONS = PROVIDER_OPTIONS - {"floating_network_id", "subnet_id"}


def sdk(options: dict[str, Any], **overrides: Any) -> openstack.connection.Connection:
    return openstack.connection.Connection(**{k: v for k, v in options.items() if k in AUTH_OPTIONS}, **overrides)


@pytest.fixture
def server() -> Iterator[OpenStackMockServer]:
    built = OpenStackMockServer(
        port=None, seed=(), cluster="ci", work_dir=None, provisioning_delay="0.5", quotas="load_balancer=3,member=-1"
    )
    yield built
    built.stop()


def test_the_config_names_the_providers_options_and_they_connect(server: OpenStackMockServer) -> None:
    config = server.start()
    options = config["options"]
    conn = sdk(options)

    networks = {n.id: n for n in conn.network.networks()}
    subnet = conn.network.get_subnet(options["subnet_id"])

    assert (config["provider"], config["cluster"], set(options)) == ("openstack", "ci", PROVIDER_OPTIONS)
    assert networks[options["floating_network_id"]].is_router_external
    assert subnet.name == "private-subnet" and not networks[subnet.network_id].is_router_external
    # options arrive as strings from -o KEY=VALUE
    assert server.fake.state.provisioning_delay == 0.5
    assert conn.load_balancer.get_quota(str(conn.current_project_id)).load_balancers == 3


@pytest.mark.parametrize("quotas", ["load_balancer", "load_balancer=many", "widgets=1"])
def test_bad_quota_options_are_refused(quotas: str) -> None:
    with pytest.raises(ValueError, match="quota"):
        OpenStackMockServer(quotas=quotas)


def test_a_proxy_in_front_of_the_url_option_carries_every_call(server: OpenStackMockServer) -> None:
    options = server.start()["options"]

    with FaultProxy(options[server.url_option]) as proxy:
        conn = sdk({**options, server.url_option: proxy.url})
        lb = conn.load_balancer.create_load_balancer(vip_subnet_id=options["subnet_id"])
        conn.network.get_port(lb.vip_port_id)
        forwarded = proxy.counts.forwarded

    assert forwarded == len(server.fake.requests) > 0


def test_the_command_serves_the_fake_until_stopped(tmp_path: Path) -> None:
    entry_points = {
        **MOCK_SERVER_COMMAND,
        ENTRY_POINT_GROUP: {"openstack": "cloudlb_openstack.mock:OpenStackMockServer"},
    }
    env = environment_with(tmp_path / "ep", entry_points)
    process = MockServerProcess("openstack", cluster="ci", options={"provisioning_delay": "0"}, env=env)

    config = process.start()
    try:
        conn = sdk(config["options"])
        lb = conn.load_balancer.create_load_balancer(vip_subnet_id=config["options"]["subnet_id"])
        wait_for_lb(conn, lb.id, wait=30)
        listed = [item.id for item in conn.load_balancer.load_balancers()]
    finally:
        code = process.stop()

    assert listed == [lb.id]
    assert code == 0, process.log_text()
    assert "fake OpenStack on http://127.0.0.1:" in process.log_text()
