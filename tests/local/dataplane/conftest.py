"""Fixtures for the data plane tests. The harness itself lives in ``support.py``."""

from __future__ import annotations

import pytest

from cloudlb_local.dataplane import uvloop_available

LOOPS = [
    pytest.param(False, id="asyncio"),
    pytest.param(True, id="uvloop", marks=pytest.mark.skipif(not uvloop_available(), reason="uvloop not installed")),
]


@pytest.fixture(params=LOOPS)
def use_uvloop(request: pytest.FixtureRequest) -> bool:
    """Runs a test once per event loop implementation the data plane supports."""
    flag: bool = request.param
    return flag
