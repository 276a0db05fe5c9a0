"""Test support shipped for users: the pytest plugin, the fault-injecting proxy and helpers shared by the fakes.

``FaultProxy`` and its rule vocabulary come from ``cloudlb.testing.faultproxy``; the provider-neutral mock-server
machinery (``cloudlb mock-server NAME``, ``MockServerProcess``) from ``cloudlb.testing.mockserver``. The pytest
plugin (``cloudlb.testing.pytest_plugin``) is registered as ``pytest11`` entry point ``cloudlb`` and offers the
fixtures ``cloudlb_fault_proxy`` and ``cloudlb_mock_cloud``. ``FakeKubeAPI`` (``cloudlb.testing.kubeapi``) is a
fake Kubernetes API server over real HTTP, for testing controllers.
"""

from cloudlb.testing.faultproxy import (
    AWS_QUERY_THROTTLING,
    Fault,
    FaultKind,
    FaultProxy,
    FaultRule,
    Match,
    Predicate,
    ProxiedRequest,
    ProxyCounts,
)
from cloudlb.testing.kubeapi import FakeKubeAPI
from cloudlb.testing.mockserver import (
    MockServer,
    MockServerProcess,
    available_mock_servers,
    build_mock_server,
)

__all__ = [
    "AWS_QUERY_THROTTLING",
    "FakeKubeAPI",
    "Fault",
    "FaultKind",
    "FaultProxy",
    "FaultRule",
    "Match",
    "MockServer",
    "MockServerProcess",
    "Predicate",
    "ProxiedRequest",
    "ProxyCounts",
    "available_mock_servers",
    "build_mock_server",
]
