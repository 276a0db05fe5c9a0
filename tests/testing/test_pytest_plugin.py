"""The pytest plugin's fixtures: here through the conftest import, and once as a real plugin (``-p``) in a child
pytest session that also proves everything a fixture started is stopped after the test."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudlb.errors import ConfigError
from cloudlb.provider import register_provider, unregister_provider
from cloudlb.testing import Fault, FaultKind, FaultRule, MockServerProcess, mockserver
from cloudlb.testing.mockserver import ENTRY_POINT_GROUP
from cloudlb.testing.pytest_plugin import FaultProxyFactory, MockCloudFactory
from tests.testing.entrypoints import MOCK_SERVER_COMMAND, environment_with
from tests.testing.fakes import FakeMockServer, HttpMemoryProvider, Upstream

FAKE_MOCK_SERVERS = {"fake": "tests.testing.fakes:FakeMockServer", "bare": "tests.testing.fakes:NoUrlMockServer"}


@pytest.fixture
def fake_cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``fake`` is a mock server, ``fakecloud`` the provider its config names."""
    points = {
        name: importlib.metadata.EntryPoint(name, value, ENTRY_POINT_GROUP) for name, value in FAKE_MOCK_SERVERS.items()
    }
    monkeypatch.setattr(mockserver, "_entry_points", lambda: points)
    FakeMockServer.instances.clear()
    register_provider("fakecloud", HttpMemoryProvider)
    try:
        yield
    finally:
        unregister_provider("fakecloud")


def test_fault_proxy_fixture_fronts_an_upstream(cloudlb_fault_proxy: FaultProxyFactory, upstream: Upstream) -> None:
    proxy = cloudlb_fault_proxy(upstream.url, rules=[FaultRule(Fault.server_error(502), nth=[1])], seed=3)

    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(proxy.url, timeout=10)
    with urllib.request.urlopen(proxy.url, timeout=10) as response:
        assert response.read() == b"ok"

    assert caught.value.code == 502
    assert len(upstream.seen) == 1


def test_mock_cloud_fixture_gives_config_and_a_connected_provider(
    cloudlb_mock_cloud: MockCloudFactory, fake_cloud: None, tmp_path: Path
) -> None:
    cloud = cloudlb_mock_cloud("fake", seed=[tmp_path / "nodes.yaml"], cluster="ci", color="green")

    assert isinstance(cloud.provider, HttpMemoryProvider)
    assert cloud.provider.endpoint_url == cloud.config["options"]["endpoint_url"] == cloud.options["endpoint_url"]
    assert cloud.provider.ping() == 200
    assert (cloud.name, cloud.cluster, cloud.proxy) == ("fake", "ci", None)
    (server,) = FakeMockServer.instances
    assert cloud.server is server
    assert (server.seed, server.color, server.stopped) == ((tmp_path / "nodes.yaml",), "green", False)


def test_mock_cloud_fixture_puts_a_fault_proxy_in_front(cloudlb_mock_cloud: MockCloudFactory, fake_cloud: None) -> None:
    faults = [FaultRule(Fault.server_error(503), nth=[1, 3])]
    cloud = cloudlb_mock_cloud("fake", faults=faults)

    assert isinstance(cloud.provider, HttpMemoryProvider)
    assert [cloud.provider.ping() for _ in range(4)] == [503, 200, 503, 200]
    assert cloud.proxy is not None
    assert cloud.provider.endpoint_url == cloud.options["endpoint_url"] == cloud.proxy.url
    assert cloud.config["options"]["endpoint_url"] == cloud.proxy.upstream_url  # the fake's own config is untouched
    assert cloud.proxy.counts.injected == {FaultKind.SERVER_ERROR: 2}


def test_faults_need_a_server_that_names_its_url(cloudlb_mock_cloud: MockCloudFactory, fake_cloud: None) -> None:
    with pytest.raises(ConfigError, match="names no URL option"):
        cloudlb_mock_cloud("bare", faults=[FaultRule(Fault.reset(), rate=1.0)])


def test_mock_cloud_fixture_can_run_the_fake_in_a_child(
    cloudlb_mock_cloud: MockCloudFactory, fake_cloud: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = environment_with(tmp_path, {**MOCK_SERVER_COMMAND, ENTRY_POINT_GROUP: FAKE_MOCK_SERVERS})
    monkeypatch.setenv("PYTHONPATH", env["PYTHONPATH"])

    cloud = cloudlb_mock_cloud("fake", cluster="child", process=True, faults=[FaultRule(Fault.server_error(), nth=[2])])

    assert isinstance(cloud.server, MockServerProcess)
    assert cloud.server.process is not None and cloud.server.process.poll() is None
    assert cloud.cluster == "child"
    assert isinstance(cloud.provider, HttpMemoryProvider)
    assert [cloud.provider.ping() for _ in range(2)] == [200, 503]


# --- as a real plugin ----------------------------------------------------------------------------------------

INNER_TESTS = """
import json, urllib.error, urllib.request
from pathlib import Path
import pytest
from cloudlb.testing import Fault, FaultRule

RECORD = Path(__file__).with_name("urls.json")


def test_start_everything(cloudlb_mock_cloud, cloudlb_fault_proxy):
    cloud = cloudlb_mock_cloud("fake", faults=[FaultRule(Fault.latency(0), rate=1.0)])
    assert cloud.provider.ping() == 200
    proxy = cloudlb_fault_proxy(cloud.config["options"]["endpoint_url"])
    RECORD.write_text(json.dumps([cloud.config["options"]["endpoint_url"], cloud.proxy.url, proxy.url]))


@pytest.mark.parametrize("index", [0, 1, 2])
def test_all_stopped_after_the_test(index):
    url = json.loads(RECORD.read_text())[index]
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=5)
"""


def test_plugin_fixtures_work_and_clean_up_in_a_pytest_session(tmp_path: Path) -> None:
    groups = {
        ENTRY_POINT_GROUP: FAKE_MOCK_SERVERS,
        "cloudlb.providers": {"fakecloud": "tests.testing.fakes:HttpMemoryProvider"},
    }
    env = environment_with(tmp_path / "ep", groups)
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # only the plugin under test, whether or not it is installed
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(INNER_TESTS))

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "cloudlb.testing.pytest_plugin",
            "-q",
            "-p",
            "no:cacheprovider",
            "test_inner.py",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout
