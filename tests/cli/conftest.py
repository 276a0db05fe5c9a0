"""Fixtures for the CLI tests: manifests written to tmp_path and a CliRunner with a clean environment."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import click.testing
import pytest
import yaml

from cloudlb.cli import cli
from cloudlb.naming import CLUSTER_TAG, SERVICE_TAG
from tests.support.memory_cloud import Balancer, MemoryCloud

Invoke = Callable[..., click.testing.Result]
Write = Callable[..., Path]


def service(
    name: str = "web",
    namespace: str = "shop",
    *,
    uid: str | None = None,
    ports: Sequence[Mapping[str, Any]] = ({"name": "http", "port": 80, "nodePort": 30080},),
    annotations: Mapping[str, str] | None = None,
    type_: str = "LoadBalancer",
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "uid": uid or f"uid-{namespace}-{name}"}
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": {"type": type_, "ports": list(ports)}}


def node(name: str, ip: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name},
        "status": {"addresses": [{"type": "InternalIP", "address": ip}]},
    }


NODES = (node("n1", "10.1.0.1"), node("n2", "10.1.0.2"))


@pytest.fixture
def write(tmp_path: Path) -> Write:
    """``write("svc.yaml", *documents)`` writes a multi-document YAML file and returns its path."""

    def write_documents(name: str, *documents: Mapping[str, Any]) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump_all([dict(d) for d in documents], sort_keys=False), encoding="utf-8")
        return path

    return write_documents


@pytest.fixture
def invoke(monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """Run ``cloudlb ARGS...``; stdout and stderr are kept apart, and no config file leaks in from the host."""
    monkeypatch.delenv("CLOUDLB_CONFIG", raising=False)
    runner = click.testing.CliRunner()

    def run(*args: str | Path, input: str | None = None, env: Mapping[str, str] | None = None) -> click.testing.Result:
        return runner.invoke(cli, [str(a) for a in args], input=input, env=dict(env or {}), catch_exceptions=False)

    return run


def balancers(cloud: MemoryCloud, cluster: str | None = None) -> dict[str, Balancer]:
    """The cloud's balancers by their ``cloudlb.io/service`` tag, read back from the cloud's own state."""
    return {
        b.tags[SERVICE_TAG]: b
        for b in cloud.balancers.values()
        if cluster is None or b.tags.get(CLUSTER_TAG) == cluster
    }


def pool_targets(cloud: MemoryCloud, service: str) -> set[tuple[str, int]]:
    """Every target of every pool tagged for ``service``."""
    return {t for p in cloud.pools.values() if p.tags.get(SERVICE_TAG) == service for t in p.targets}


def mutating(cloud: MemoryCloud) -> list[str]:
    return [call.name for call in cloud.calls if call.mutating]
