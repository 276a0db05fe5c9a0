"""Fixtures for the test-support tests: an HTTP upstream, and the plugin's fixtures imported so they run here
whether or not the ``pytest11`` entry point is installed (a conftest's fixture wins over a plugin's)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cloudlb.testing.pytest_plugin import cloudlb_fault_proxy, cloudlb_mock_cloud
from tests.testing.fakes import Upstream

__all__ = ["cloudlb_fault_proxy", "cloudlb_mock_cloud", "upstream"]


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = Upstream().start()
    try:
        yield server
    finally:
        server.stop()
