"""The ``harness`` fixture: every conformance test runs once per entry of ``harnesses.HARNESSES``."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from cloudlb.provider import Provider
from tests.conformance.harness import Harness
from tests.conformance.harnesses import HARNESSES


@pytest.fixture(params=HARNESSES)
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    factory: Callable[[], Harness] = request.param
    made = factory()
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def provider(harness: Harness) -> Provider:
    return harness.make_provider()
