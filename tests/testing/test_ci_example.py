"""examples/ci/validate.sh, run as a pipeline would run it, against each mock cloud: it must pass on good manifests
and fail on bad ones. The entry points it needs are declared for the child processes, so this runs whatever
pyproject.toml says at the moment (test_registration.py checks that)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cloudlb.testing.mockserver import ENTRY_POINT_GROUP
from tests.testing.entrypoints import MOCK_SERVER_COMMAND, REPO_ROOT, environment_with

SCRIPT = REPO_ROOT / "examples" / "ci" / "validate.sh"
GROUPS = {
    **MOCK_SERVER_COMMAND,
    ENTRY_POINT_GROUP: {"aws": "cloudlb_aws.mock:mock_server"},
    "cloudlb.providers": {"aws": "cloudlb_aws.provider:AwsProvider"},
}


def validate(tmp_path: Path, provider: str, *manifests: Path) -> subprocess.CompletedProcess[str]:
    env = environment_with(tmp_path / "ep", GROUPS)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["TMPDIR"] = str(tmp_path)
    return subprocess.run(
        [str(SCRIPT), provider, *map(str, manifests)], env=env, capture_output=True, text=True, timeout=240
    )


@pytest.mark.parametrize("provider", ["aws", "local"])
def test_good_manifests_pass(tmp_path: Path, provider: str) -> None:
    result = validate(tmp_path, provider, REPO_ROOT / "examples" / "web.yaml")

    assert result.returncode == 0, result.stderr
    assert f"ok: the manifests plan, apply, converge and delete cleanly on {provider}" in result.stderr
    assert "Plan: " in result.stdout
    assert "demo/web: load balancer" in result.stdout and "deleted" in result.stdout
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("tmp")] == []  # its work dir is gone


def test_bad_manifests_fail_with_the_reason(tmp_path: Path) -> None:
    result = validate(tmp_path, "aws", REPO_ROOT / "examples" / "bad.yaml")

    assert result.returncode == 2, result.stderr
    assert "error: " in result.stderr and "bad.yaml" in result.stderr


def test_usage_error(tmp_path: Path) -> None:
    result = validate(tmp_path, "azurish", REPO_ROOT / "examples" / "web.yaml")

    assert result.returncode == 2
    assert "usage:" in result.stderr
