"""cloudlb.config: the config file's shape, its errors, and the precedence flags > file > defaults."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from cloudlb.config import Config, load_config_file, resolve_config
from cloudlb.errors import ConfigError


def write(tmp_path: Path, text: str, name: str = "cloudlb.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("", Config(), id="empty-file-is-defaults"),
        pytest.param("provider: memory\n", Config(provider="memory"), id="provider-only"),
        pytest.param(
            "provider: memory\ncluster: prod\noptions:\n  region: eu-1\n  retries: 3\n",
            Config(provider="memory", cluster="prod", options={"region": "eu-1", "retries": 3}, cluster_explicit=True),
            id="all-keys",
        ),
        pytest.param("options:\n", Config(), id="null-options-are-none"),
        pytest.param(
            '{"provider": "memory", "options": {"endpoint_url": "http:\\/\\/127.0.0.1:5000"}}\n',
            Config(provider="memory", options={"endpoint_url": "http://127.0.0.1:5000"}),
            id="json-with-escaped-slash",
        ),
        pytest.param(
            '{"provider": "memory", "options": {"port": 5000}}\nserving on 127.0.0.1:5000\n',
            Config(provider="memory", options={"port": 5000}),
            id="mock-server-stream-with-later-lines",
        ),
        pytest.param("{provider: memory}\n", Config(provider="memory"), id="yaml-flow-mapping"),
    ],
)
def test_valid_files(tmp_path: Path, text: str, expected: Config) -> None:
    path = write(tmp_path, text)

    got = resolve_config(config_path=path)

    assert (got.provider, got.cluster, dict(got.options), got.cluster_explicit) == (
        expected.provider,
        expected.cluster,
        dict(expected.options),
        expected.cluster_explicit,
    )
    assert got.source == str(path)


def test_mock_server_first_line_is_a_valid_config(tmp_path: Path) -> None:
    # What `cloudlb mock-server NAME` prints first: one JSON object, written by json.dumps.
    line = json.dumps({"provider": "openstack", "options": {"auth_url": "http://127.0.0.1:9999/v3", "verify": False}})
    path = write(tmp_path, line + "\n", name="mock.json")

    got = load_config_file(path)

    assert got.provider == "openstack"
    assert dict(got.options) == {"auth_url": "http://127.0.0.1:9999/v3", "verify": False}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("provder: aws\n", "unknown key 'provder' (did you mean 'provider'?)", id="typo-suggests"),
        pytest.param("region: x\n", "unknown key 'region' (allowed: provider, cluster, options)", id="unknown-key"),
        pytest.param("options: [a, b]\n", "options: expected a mapping of provider options, got a list", id="opts"),
        pytest.param("options: fast\n", "options: expected a mapping", id="options-string"),
        pytest.param("- provider\n", "expected a mapping with keys provider, cluster, options", id="top-list"),
        pytest.param("provider: [aws]\n", "provider: expected a non-empty string", id="provider-not-string"),
        pytest.param("cluster: 7\n", "cluster: expected a non-empty string, got int 7", id="cluster-int"),
        pytest.param("options: {1: x}\n", "options: 1 is not a valid option name", id="option-name-not-str"),
        pytest.param("provider: aws\n  bad: [\n", "invalid YAML (line", id="bad-yaml"),
    ],
)
def test_invalid_files(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)

    with pytest.raises(ConfigError) as caught:
        load_config_file(path)

    assert str(caught.value).startswith(f"config file {path}: ")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(lambda p: p / "missing.yaml", "no such file", id="missing"),
        pytest.param(lambda p: p, "is a directory", id="directory"),
    ],
)
def test_unreadable_files(tmp_path: Path, make: object, message: str) -> None:
    path = make(tmp_path)  # type: ignore[operator]

    with pytest.raises(ConfigError, match=message) as caught:
        load_config_file(path)

    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("file_text", "provider", "cluster", "expected"),
    [
        pytest.param(None, None, None, ("local", "default", {}, False), id="defaults"),
        pytest.param(None, "memory", "c1", ("memory", "c1", {}, True), id="flags-only"),
        pytest.param(
            "provider: memory\ncluster: file\noptions: {a: 1}\n",
            None,
            None,
            ("memory", "file", {"a": 1}, True),
            id="file-over-defaults",
        ),
        pytest.param(
            "provider: memory\ncluster: file\noptions: {a: 1}\n",
            None,
            "flag",
            ("memory", "flag", {"a": 1}, True),
            id="cluster-flag-over-file",
        ),
        pytest.param(
            "provider: memory\noptions: {a: 1}\n",
            "memory",
            None,
            ("memory", "default", {"a": 1}, False),
            id="same-provider-flag-keeps-options",
        ),
        pytest.param(
            "provider: memory\noptions: {a: 1}\n",
            "local",
            None,
            ("local", "default", {}, False),
            id="other-provider-flag-drops-options",
        ),
        pytest.param(
            "options: {state_dir: /tmp/x}\n",
            None,
            None,
            ("local", "default", {"state_dir": "/tmp/x"}, False),
            id="file-without-provider-means-local",
        ),
    ],
)
def test_precedence(
    tmp_path: Path,
    file_text: str | None,
    provider: str | None,
    cluster: str | None,
    expected: tuple[str, str, dict[str, object], bool],
) -> None:
    path = write(tmp_path, file_text) if file_text is not None else None

    got = resolve_config(config_path=path, provider=provider, cluster=cluster)

    assert (got.provider, got.cluster, dict(got.options), got.cluster_explicit) == expected


def test_dropping_options_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write(tmp_path, "provider: aws\noptions: {region: eu-west-1}\n")

    with caplog.at_level(logging.WARNING, logger="cloudlb"):
        resolve_config(config_path=path, provider="local")

    assert any("region" in r.getMessage() and "aws" in r.getMessage() for r in caplog.records)
