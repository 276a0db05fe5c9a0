"""Fixtures: a running FakeKubeAPI and official-client APIs pointed at it through its kubeconfig.

Each client gets its own ``Configuration`` so no test changes the client library's global default.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import kubernetes
import pytest
from kubernetes import client

from cloudlb.testing.kubeapi import FakeKubeAPI


@pytest.fixture
def fake_api() -> Iterator[FakeKubeAPI]:
    with FakeKubeAPI(bookmark_interval=0.05) as api:
        yield api


def connect(api: FakeKubeAPI, directory: Path) -> client.ApiClient:
    config = client.Configuration()
    kubernetes.config.load_kube_config(config_file=api.kubeconfig(directory), client_configuration=config)
    return client.ApiClient(config)


@pytest.fixture
def api_client(fake_api: FakeKubeAPI, tmp_path: Path) -> Iterator[client.ApiClient]:
    with connect(fake_api, tmp_path) as api:
        yield api


@pytest.fixture
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


@pytest.fixture
def discovery(api_client: client.ApiClient) -> client.DiscoveryV1Api:
    return client.DiscoveryV1Api(api_client)


@pytest.fixture
def coordination(api_client: client.ApiClient) -> client.CoordinationV1Api:
    return client.CoordinationV1Api(api_client)


@pytest.fixture
def events_v1(api_client: client.ApiClient) -> client.EventsV1Api:
    return client.EventsV1Api(api_client)
