"""Fixtures for the OpenStack provider's tests: a fake cloud with a short provisioning delay, the provider on it and
an openstacksdk connection of the tests' own for read-backs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from openstack.connection import Connection

from cloudlb_openstack.fake import FakeOpenStack
from cloudlb_openstack.provider import OpenStackProvider
from tests.openstack.helpers import DELAY, connect, make_provider


@pytest.fixture
def cloud() -> Iterator[FakeOpenStack]:
    with FakeOpenStack(provisioning_delay=DELAY) as fake:
        yield fake
    assert fake.server_errors == [], "the fake failed on a request:\n" + "\n".join(fake.server_errors)


@pytest.fixture
def provider(cloud: FakeOpenStack) -> Iterator[OpenStackProvider]:
    made = make_provider(cloud)
    yield made
    made.close()


@pytest.fixture
def conn(cloud: FakeOpenStack) -> Iterator[Connection]:
    connection = connect(cloud)
    yield connection
    connection.close()
