"""The ``cloudlb`` pytest plugin: fake clouds and fault injection as fixtures for users' own tests.

Where this sits: registered as the ``pytest11`` entry point ``cloudlb``, so installing cloudlb makes the fixtures
available. It imports no cloud SDK; providers and their fakes load through entry points when a fixture asks.

    def test_my_controller(cloudlb_mock_cloud):
        cloud = cloudlb_mock_cloud("aws", seed=["nodes.yaml"], cluster="prod")
        status = cloud.provider.ensure(spec)          # cloud.config is what `cloudlb mock-server aws` prints

    def test_it_survives_throttling(cloudlb_mock_cloud):
        faults = [FaultRule(Fault.throttling(), rate=0.3)]
        cloud = cloudlb_mock_cloud("aws", faults=faults, fault_seed=1)   # the provider talks through a FaultProxy
        ...
        assert cloud.proxy.counts.faults > 0

Everything a fixture started stops when the test ends.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest

from cloudlb.config import DEFAULT_CLUSTER
from cloudlb.errors import ConfigError
from cloudlb.provider import Provider, get_provider
from cloudlb.testing.faultproxy import FaultProxy, FaultRule
from cloudlb.testing.mockserver import MockServer, MockServerProcess, build_mock_server

__all__ = ["FaultProxyFactory", "MockCloud", "MockCloudFactory", "cloudlb_fault_proxy", "cloudlb_mock_cloud"]


@dataclass(frozen=True, slots=True)
class MockCloud:
    """A running fake cloud and a provider connected to it (through ``proxy`` when faults were asked for).

    ``config`` is the fake's own config, as ``cloudlb mock-server`` prints it (pointing at the fake, not the proxy);
    ``options`` are what the provider was built with (the proxy's URL in place of the fake's, when there is one).
    ``server`` is the in-process mock server object, with whatever extras it offers (the AWS one has
    ``provider_ids`` and ``manifests_path``), or the ``MockServerProcess``.
    """

    name: str
    config: Mapping[str, Any]
    options: Mapping[str, Any]
    provider: Provider
    server: MockServer | MockServerProcess
    proxy: FaultProxy | None = None

    @property
    def cluster(self) -> str:
        return str(self.config.get("cluster") or DEFAULT_CLUSTER)


class FaultProxyFactory(Protocol):
    def __call__(
        self, upstream_url: str, *, rules: Sequence[FaultRule] = (), seed: int = 0, **kwargs: Any
    ) -> FaultProxy: ...


class MockCloudFactory(Protocol):
    def __call__(
        self,
        name: str,
        /,
        *,
        seed: Sequence[str | Path] = (),
        cluster: str = DEFAULT_CLUSTER,
        port: int | None = None,
        faults: Sequence[FaultRule] = (),
        fault_seed: int = 0,
        process: bool = False,
        **options: object,
    ) -> MockCloud: ...


@pytest.fixture
def cloudlb_fault_proxy() -> Iterator[FaultProxyFactory]:
    """``cloudlb_fault_proxy(upstream_url, rules=[...], seed=0)`` starts a ``FaultProxy``; it stops after the test."""
    started: list[FaultProxy] = []

    def start(upstream_url: str, *, rules: Sequence[FaultRule] = (), seed: int = 0, **kwargs: Any) -> FaultProxy:
        proxy = FaultProxy(upstream_url, rules=rules, seed=seed, **kwargs).start()
        started.append(proxy)
        return proxy

    yield start
    for proxy in reversed(started):
        proxy.stop()


@pytest.fixture
def cloudlb_mock_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MockCloudFactory]:
    """``cloudlb_mock_cloud(name, seed=..., cluster=..., faults=..., process=False, **options)`` starts the fake
    cloud ``name`` (a ``cloudlb.mock_servers`` entry point) and returns a ``MockCloud``.

    ``faults`` puts a ``FaultProxy`` with those rules (seeded by ``fault_seed``) between the provider and the fake.
    ``process=True`` runs the fake as ``cloudlb mock-server`` in a child process, isolated from this one (moto's
    in-process state, for one, is shared with ``mock_aws``). ``options`` go to the fake's factory.
    """
    cleanups: list[Any] = []

    def start(
        name: str,
        /,
        *,
        seed: Sequence[str | Path] = (),
        cluster: str = DEFAULT_CLUSTER,
        port: int | None = None,
        faults: Sequence[FaultRule] = (),
        fault_seed: int = 0,
        process: bool = False,
        **options: object,
    ) -> MockCloud:
        work_dir = tmp_path_factory.mktemp(f"cloudlb-mock-{name}")
        built = build_mock_server(name, port=port, seed=seed, cluster=cluster, work_dir=work_dir, **options)
        server: MockServer | MockServerProcess = built
        if process:
            server = MockServerProcess(
                name, port=port, seed=seed, cluster=cluster, work_dir=work_dir, options=options or None
            )
        config = server.start()
        cleanups.append(server.stop)
        provider_options = dict(config.get("options") or {})
        proxy = None
        if faults:
            url_option = _url_option(built)
            if url_option is None or url_option not in provider_options:
                raise ConfigError(f"mock server {name!r} names no URL option, so no fault proxy can front it")
            proxy = FaultProxy(str(provider_options[url_option]), rules=faults, seed=fault_seed).start()
            cleanups.append(proxy.stop)
            provider_options[url_option] = proxy.url
        provider = get_provider(str(config["provider"]), **provider_options)
        close = getattr(provider, "close", None)
        if callable(close):
            cleanups.append(close)
        return MockCloud(name, config, provider_options, provider, server, proxy)

    yield start
    for cleanup in reversed(cleanups):
        cleanup()


def _url_option(server: object) -> str | None:
    value = getattr(server, "url_option", None)
    return value if isinstance(value, str) else None
