"""Fixtures for the daemon's tests: a real ``cloudlb serve`` in a subprocess on a temporary state directory.

``daemon`` is a fresh daemon per test (for lifecycle tests and anything that counts); ``shared_daemon`` is one per
module, for tables of requests that each leave the state as they found it. Each daemon gets its own small address
pool, so tests (and other test runs on this machine) never bind the same load balancer address.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudlb_local.testing import DaemonHandle, running_daemon
from tests.local.daemon.helpers import Api, unique_pool


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def daemon(state_dir: Path) -> Iterator[DaemonHandle]:
    """A daemon of its own: ``daemon.url``, ``daemon.token``, ``daemon.state_dir``, ``stop()``, ``restart()``."""
    with running_daemon(state_dir, address_pool=unique_pool()) as handle:
        yield handle


@pytest.fixture
def api(daemon: DaemonHandle) -> Api:
    return Api(daemon)


@pytest.fixture(scope="module")
def shared_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonHandle]:
    with running_daemon(tmp_path_factory.mktemp("shared") / "state", address_pool=unique_pool(prefix=26)) as handle:
        yield handle


@pytest.fixture
def shared_api(shared_daemon: DaemonHandle) -> Api:
    return Api(shared_daemon)
