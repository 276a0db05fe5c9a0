"""THE list of harnesses the conformance suite runs against. A provider joins the suite with one line here.

Each entry is a ``pytest.param`` of a zero-argument factory returning a fresh ``Harness`` (a new, empty cloud).
Import heavy dependencies inside the factory, so a missing extra fails only that provider's cases.
"""

from __future__ import annotations

import pytest

from tests.conformance.aws_harness import aws_harness
from tests.conformance.azure_harness import azure_harness
from tests.conformance.local_harness import local_harness
from tests.conformance.memory_harness import memory_harness, narrow_memory_harness
from tests.conformance.openstack_harness import openstack_harness

HARNESSES = [
    pytest.param(memory_harness, id="memory"),
    pytest.param(narrow_memory_harness, id="memory-narrow"),
    pytest.param(local_harness, id="local"),
    pytest.param(aws_harness, id="aws"),
    pytest.param(azure_harness, id="azure"),
    pytest.param(openstack_harness, id="openstack"),
]
