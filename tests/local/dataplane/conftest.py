"""Fixtures for the data plane tests. The harness itself lives in ``support.py``."""

from __future__ import annotations

import logging
from collections.abc import Iterator

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


@pytest.fixture(autouse=True)
def no_errors_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """A callback that raises inside the event loop is only logged; make it fail the test instead."""
    yield
    errors = [r for r in caplog.get_records("call") if r.levelno >= logging.ERROR]
    assert not errors, "\n".join(r.getMessage() + (f"\n{r.exc_text}" if r.exc_text else "") for r in errors)
