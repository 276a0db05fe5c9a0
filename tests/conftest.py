"""Shared fixtures only. Area-specific fixtures live next to their tests.

Hypothesis runs derandomized with few examples by default, so CI is reproducible and quick on two cores; set
``HYPOTHESIS_PROFILE=dev`` locally to search harder.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from cloudlb.provider import register_provider, unregister_provider
from tests.support.memory import MemoryCloud, MemoryProvider

settings.register_profile(
    "ci", derandomize=True, max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=500, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def memory_cloud() -> MemoryCloud:
    return MemoryCloud()


@pytest.fixture
def registered_memory(memory_cloud: MemoryCloud) -> Iterator[MemoryCloud]:
    """``get_provider("memory", **options)`` builds a MemoryProvider over ``memory_cloud`` for this test only."""

    register_provider("memory", functools.partial(MemoryProvider, memory_cloud))
    try:
        yield memory_cloud
    finally:
        unregister_provider("memory")
