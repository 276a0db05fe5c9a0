"""Fixtures for the AWS provider's tests: moto in-process (``mock_aws``) with a seeded network, a provider on it,
and its call log. Each test gets an empty cloud; nothing here talks to a network."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from cloudlb_aws.clients import CallLog
from cloudlb_aws.provider import AwsProvider
from tests.aws.helpers import World, make_provider, seed_world


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto's whole AWS in this process, with fake credentials that could reach nothing real."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")  # loading moto's image catalogue takes seconds
    with mock_aws():
        yield


@pytest.fixture
def world(aws: None) -> World:
    return seed_world()


@pytest.fixture
def provider(world: World) -> AwsProvider:
    return make_provider()


@pytest.fixture
def calls(provider: AwsProvider) -> CallLog:
    return provider.clients.log
