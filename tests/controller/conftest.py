"""Fixtures for the controller's tests: a fake API server, the official client on it, a real local cloud daemon, and
controllers started in this process (stopped at teardown).

Settings are shortened for tests only where time would otherwise dominate (backoff from 0.2 s instead of 5 s,
workers paced every 0.1 s instead of 1 s); tests of those very rules set them back explicitly.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from cloudlb.controller.kubeclient import KubeClient
from cloudlb.controller.manager import Controller, Settings
from cloudlb.provider import Provider
from cloudlb.testing.kubeapi import FakeKubeAPI
from cloudlb_local.client import LocalClient
from cloudlb_local.provider import LocalProvider
from cloudlb_local.testing import DaemonHandle, running_daemon

FAST = Settings(
    cluster="test",
    load_balancer_class="cloudlb.io/local",
    workers=2,
    min_sync_interval=0.1,
    backoff_initial=0.2,
    backoff_max=2.0,
    watch_timeout=(5, 10),
)


def random_pool() -> str:
    """A /28 of loopback no other test is likely to use at the same time."""
    return f"127.{random.randint(150, 249)}.{random.randint(0, 255)}.0/28"


@pytest.fixture
def kube() -> Iterator[FakeKubeAPI]:
    with FakeKubeAPI(bookmark_interval=0.2) as api:
        yield api


@pytest.fixture
def kubeconfig(kube: FakeKubeAPI, tmp_path: Path) -> str:
    return kube.kubeconfig(tmp_path)


@pytest.fixture
def client(kubeconfig: str) -> Iterator[KubeClient]:
    connected = KubeClient.connect(kubeconfig)
    yield connected
    connected.close()


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[DaemonHandle]:
    with running_daemon(tmp_path / "cloud", address_pool=random_pool()) as handle:
        yield handle


@pytest.fixture
def local(daemon: DaemonHandle) -> LocalProvider:
    return LocalProvider(daemon.state_dir)


@pytest.fixture
def cloud(daemon: DaemonHandle) -> LocalClient:
    """The local cloud's raw API: what tests read the load balancers back from."""
    return LocalClient(daemon.state_dir)


StartController = Callable[..., Controller]


@pytest.fixture
def start_controller(client: KubeClient) -> Iterator[StartController]:
    """``start_controller(provider, **settings)``: a running controller whose caches are synced."""
    started: list[Controller] = []

    def start(provider: Provider, **changes: Any) -> Controller:
        controller = Controller(client, provider, replace(FAST, **changes))
        started.append(controller)
        controller.start()
        assert controller.wait_until_synced(30), "the controller's caches did not sync"
        return controller

    yield start
    for controller in started:
        controller.stop(timeout=10)
