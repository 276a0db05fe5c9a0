"""Fixtures for the fake OpenStack's tests: a running fake and an openstacksdk connection to it.

``cloud`` runs with a provisioning delay of an hour, so a PENDING_* state lasts until the test settles it
(``helpers.settle``): the state machine is tested without racing the clock. The one test of the wall-clock
behaviour builds its own fake with a short delay.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from openstack.connection import Connection

from cloudlb_openstack.fake import FakeOpenStack
from tests.openstack.fake.helpers import HOUR, connect


@pytest.fixture
def cloud() -> Iterator[FakeOpenStack]:
    with FakeOpenStack(provisioning_delay=HOUR) as fake:
        yield fake
    assert fake.server_errors == [], "the fake failed on a request:\n" + "\n".join(fake.server_errors)


@pytest.fixture
def conn(cloud: FakeOpenStack) -> Iterator[Connection]:
    connection = connect(cloud)
    yield connection
    connection.close()
