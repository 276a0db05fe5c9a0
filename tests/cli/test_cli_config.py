"""--config, $CLOUDLB_CONFIG and flags, end to end: what reaches get_provider and the cluster tags in the cloud."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloudlb.provider import register_provider, unregister_provider
from tests.cli.conftest import NODES, Invoke, Write, balancers, service
from tests.support.memory import MemoryProvider
from tests.support.memory_cloud import MemoryCloud


@pytest.fixture
def options_seen(memory_cloud: MemoryCloud) -> Iterator[list[dict[str, Any]]]:
    """Providers "memory" and "other" over one cloud, recording the options each construction got."""
    seen: list[dict[str, Any]] = []

    def factory(**options: Any) -> MemoryProvider:
        seen.append(options)
        return MemoryProvider(memory_cloud, **options)

    register_provider("memory", factory)
    register_provider("other", factory)
    try:
        yield seen
    finally:
        unregister_provider("memory")
        unregister_provider("other")


@pytest.fixture
def manifest(write: Write) -> Path:
    return write("web.yaml", service(), *NODES)


def config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cloudlb.yaml"
    path.write_text(text)
    return path


FILE = "provider: memory\ncluster: from-file\noptions:\n  name: memory-from-file\n"


@pytest.mark.parametrize(
    ("flags", "use_env", "cluster", "options"),
    [
        pytest.param([], False, "from-file", {"name": "memory-from-file"}, id="file"),
        pytest.param([], True, "from-file", {"name": "memory-from-file"}, id="env"),
        pytest.param(["--cluster", "flag"], False, "flag", {"name": "memory-from-file"}, id="cluster-flag-wins"),
        pytest.param(["--provider", "memory"], True, "from-file", {"name": "memory-from-file"}, id="same-provider"),
        pytest.param(["--provider", "other"], False, "from-file", {}, id="other-provider-drops-options"),
    ],
)
def test_precedence(
    memory_cloud: MemoryCloud,
    options_seen: list[dict[str, Any]],
    invoke: Invoke,
    manifest: Path,
    tmp_path: Path,
    flags: list[str],
    use_env: bool,
    cluster: str,
    options: dict[str, Any],
) -> None:
    path = config(tmp_path, FILE)
    env = {"CLOUDLB_CONFIG": str(path)} if use_env else {}
    args = [] if use_env else ["--config", str(path)]

    result = invoke("apply", "-f", manifest, *args, *flags, env=env)

    assert result.exit_code == 0, result.stderr
    assert options_seen == [options]
    assert list(balancers(memory_cloud, cluster=cluster)) == ["shop/web"]


def test_other_provider_warns_about_dropped_options(
    options_seen: list[dict[str, Any]], invoke: Invoke, manifest: Path, tmp_path: Path
) -> None:
    path = config(tmp_path, FILE)

    result = invoke("plan", "-f", manifest, "--config", path, "--provider", "other")

    assert result.exit_code == 0, result.stderr
    assert result.stderr.startswith("warning: --provider other overrides provider 'memory' of config file")
    assert "(name)" in result.stderr


def test_flag_beats_env(
    memory_cloud: MemoryCloud, options_seen: list[dict[str, Any]], invoke: Invoke, manifest: Path, tmp_path: Path
) -> None:
    from_env = config(tmp_path, FILE)
    from_flag = tmp_path / "flag.yaml"
    from_flag.write_text("provider: memory\ncluster: flag-file\n")

    result = invoke("apply", "-f", manifest, "--config", from_flag, env={"CLOUDLB_CONFIG": str(from_env)})

    assert result.exit_code == 0, result.stderr
    assert options_seen == [{}]
    assert list(balancers(memory_cloud, cluster="flag-file")) == ["shop/web"]


def test_mock_server_output_is_a_valid_config(
    memory_cloud: MemoryCloud, options_seen: list[dict[str, Any]], invoke: Invoke, manifest: Path, tmp_path: Path
) -> None:
    # `cloudlb mock-server NAME > cfg.json`: the JSON object on the first line, maybe more lines after it.
    first_line = json.dumps({"provider": "memory", "options": {"name": "mocked"}})
    path = tmp_path / "cfg.json"
    path.write_text(first_line + "\nlistening on http://127.0.0.1:4566\n")

    result = invoke("apply", "-f", manifest, "--config", path)

    assert result.exit_code == 0, result.stderr
    assert options_seen == [{"name": "mocked"}]
    assert list(balancers(memory_cloud, cluster="default")) == ["shop/web"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("provider: memory\nclustr: x\n", "unknown key 'clustr' (did you mean 'cluster'?)", id="typo"),
        pytest.param("provider: memory\noptions: [x]\n", "options: expected a mapping", id="options-list"),
        pytest.param("provider: [\n", "invalid YAML", id="bad-yaml"),
        pytest.param("provider: memory\noptions: {nme: x}\n", "does not accept option 'nme'", id="bad-option"),
    ],
)
def test_config_errors_exit_2_before_any_call(
    memory_cloud: MemoryCloud,
    options_seen: list[dict[str, Any]],
    invoke: Invoke,
    manifest: Path,
    tmp_path: Path,
    text: str,
    message: str,
) -> None:
    path = config(tmp_path, text)

    result = invoke("apply", "-f", manifest, "--config", path)

    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ")
    assert message in line
    assert memory_cloud.calls == []


def test_missing_config_file_from_env(
    memory_cloud: MemoryCloud, options_seen: list[dict[str, Any]], invoke: Invoke, manifest: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "nope.yaml"

    result = invoke("apply", "-f", manifest, env={"CLOUDLB_CONFIG": str(missing)})

    assert result.exit_code == 2
    assert result.stderr == f"error: config file {missing}: no such file\n"
    assert memory_cloud.calls == [] and options_seen == []
