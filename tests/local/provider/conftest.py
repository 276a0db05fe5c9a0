"""Fixtures for the local provider's tests: a real daemon (``cloudlb serve`` in a subprocess) per test, a provider
that talks to it, a raw API client to read back the result, and a counter of the API calls a step made."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudlb_local.client import LocalClient
from cloudlb_local.provider import LocalProvider
from cloudlb_local.testing import DaemonHandle, running_daemon
from tests.local.provider.helpers import CallCounter


def random_pool() -> str:
    """A /28 of loopback that no other test (nor a `cloudlb serve` on this machine) is likely to use."""
    return f"127.{random.randint(150, 249)}.{random.randint(0, 255)}.0/28"


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[DaemonHandle]:
    with running_daemon(tmp_path / "state", address_pool=random_pool()) as handle:
        yield handle


@pytest.fixture
def provider(daemon: DaemonHandle) -> LocalProvider:
    return LocalProvider(daemon.state_dir)


@pytest.fixture
def api(daemon: DaemonHandle) -> LocalClient:
    """A raw API client, for reading back what the provider did and for planting foreign load balancers."""
    return LocalClient(daemon.state_dir)


@pytest.fixture
def calls(api: LocalClient) -> CallCounter:
    return CallCounter(api)
