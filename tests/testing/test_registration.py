"""pyproject.toml declares the plugin, the command and the AWS mock server, and each declaration resolves."""

from __future__ import annotations

import importlib
import tomllib

import pytest

from tests.testing.entrypoints import REPO_ROOT

DECLARED = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["entry-points"]


@pytest.mark.parametrize(
    ("group", "name", "target"),
    [
        pytest.param("pytest11", "cloudlb", "cloudlb.testing.pytest_plugin", id="pytest-plugin"),
        pytest.param("cloudlb.commands", "mock-server", "cloudlb.testing.mockserver:mock_server", id="command"),
        pytest.param("cloudlb.mock_servers", "aws", "cloudlb_aws.mock:mock_server", id="aws-mock"),
    ],
)
def test_entry_point_is_declared_and_resolves(group: str, name: str, target: str) -> None:
    assert DECLARED.get(group, {}).get(name) == target
    module, _, attribute = target.partition(":")
    loaded = importlib.import_module(module)
    assert callable(getattr(loaded, attribute)) if attribute else hasattr(loaded, "cloudlb_mock_cloud")
