"""apply and plan: results read back from the MemoryCloud, and mutating calls counted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from cloudlb.model import LoadBalancerSpec, LoadBalancerStatus, PortStatus
from cloudlb.provider import register_provider, unregister_provider
from tests.cli.conftest import NODES, Invoke, Write, balancers, mutating, node, pool_targets, service
from tests.support.memory import MemoryProvider
from tests.support.memory_cloud import MemoryCloud


@pytest.fixture
def manifest(write: Write) -> Path:
    return write("web.yaml", service(), *NODES)


def test_apply_creates_the_load_balancer(registered_memory: MemoryCloud, invoke: Invoke, manifest: Path) -> None:
    result = invoke("apply", "--provider", "memory", "-f", manifest)

    assert result.exit_code == 0, result.stderr
    created = balancers(registered_memory, cluster="default")
    assert list(created) == ["shop/web"]
    balancer = created["shop/web"]
    assert [(lst.protocol.value, lst.port) for lst in balancer.listeners.values()] == [("TCP", 80)]
    assert pool_targets(registered_memory, "shop/web") == {("10.1.0.1", 30080), ("10.1.0.2", 30080)}
    # The plan and the status the cloud reports, with its address.
    assert "+ load-balancer" in result.stdout
    assert balancer.attributes["address"] in result.stdout
    assert balancer.name in result.stdout


def test_second_apply_makes_no_mutating_call(registered_memory: MemoryCloud, invoke: Invoke, manifest: Path) -> None:
    assert invoke("apply", "--provider", "memory", "-f", manifest).exit_code == 0
    before = len(mutating(registered_memory))

    result = invoke("apply", "--provider", "memory", "-f", manifest)

    assert result.exit_code == 0, result.stderr
    assert len(mutating(registered_memory)) == before
    assert "no changes" in result.stdout


@pytest.mark.parametrize(
    "args",
    [pytest.param(("plan",), id="plan"), pytest.param(("apply", "--dry-run"), id="apply-dry-run")],
)
def test_plan_changes_nothing(
    registered_memory: MemoryCloud, invoke: Invoke, manifest: Path, args: tuple[str, ...]
) -> None:
    result = invoke(*args, "--provider", "memory", "-f", manifest)

    assert result.exit_code == 0, result.stderr
    assert mutating(registered_memory) == []
    assert registered_memory.balancers == {}
    assert "+ load-balancer" in result.stdout
    assert "Plan: " in result.stdout


def test_plan_after_drift_shows_only_the_drift(
    registered_memory: MemoryCloud, invoke: Invoke, write: Write, manifest: Path
) -> None:
    assert invoke("apply", "--provider", "memory", "-f", manifest).exit_code == 0
    grown = write("grown.yaml", service(), *NODES, node("n3", "10.1.0.3"))
    before = len(mutating(registered_memory))

    result = invoke("plan", "--provider", "memory", "-f", grown, "-o", "json")

    assert result.exit_code == 0, result.stderr
    assert len(mutating(registered_memory)) == before
    [item] = json.loads(result.stdout)
    changes = item["plan"]["changes"]
    assert [(c["action"], c["resource"], c.get("added")) for c in changes] == [("update", "pool", ["10.1.0.3:30080"])]


@pytest.mark.parametrize(
    ("fmt", "parse"),
    [pytest.param("json", json.loads, id="json"), pytest.param("yaml", yaml.safe_load, id="yaml")],
)
def test_apply_output_parses_back(
    registered_memory: MemoryCloud, invoke: Invoke, manifest: Path, fmt: str, parse: object
) -> None:
    result = invoke("apply", "--provider", "memory", "-f", manifest, "-o", fmt)

    assert result.exit_code == 0, result.stderr
    [item] = parse(result.stdout)  # type: ignore[operator]
    balancer = balancers(registered_memory)["shop/web"]
    assert item["service"] == "shop/web"
    assert item["plan"]["load_balancer"] == balancer.name
    assert item["plan"]["summary"]["create"] >= 1
    assert item["status"]["cloud_id"] == balancer.id
    assert item["status"]["ingress"][0]["ip"] == balancer.attributes["address"]
    assert item["status"]["ingress"][0]["ports"] == [{"port": 80, "protocol": "TCP", "error": None}]


def test_apply_reads_stdin(registered_memory: MemoryCloud, invoke: Invoke, manifest: Path) -> None:
    result = invoke("apply", "--provider", "memory", "-f", "-", input=manifest.read_text())

    assert result.exit_code == 0, result.stderr
    assert list(balancers(registered_memory)) == ["shop/web"]


def test_apply_reads_a_directory(registered_memory: MemoryCloud, invoke: Invoke, write: Write) -> None:
    write("dir/a.yaml", service("a"))
    write("dir/b.yml", service("b"), *NODES)
    write("dir/notes.txt", service("ignored"))

    result = invoke("apply", "--provider", "memory", "-f", Path(write("dir/c.json").parent))

    assert result.exit_code == 0, result.stderr
    assert sorted(balancers(registered_memory)) == ["shop/a", "shop/b"]
    assert pool_targets(registered_memory, "shop/a") == {("10.1.0.1", 30080), ("10.1.0.2", 30080)}


def test_no_load_balancer_service_is_a_warning(registered_memory: MemoryCloud, invoke: Invoke, write: Write) -> None:
    path = write("cluster-ip.yaml", service(type_="ClusterIP"))

    result = invoke("apply", "--provider", "memory", "-f", path)

    assert result.exit_code == 0
    assert "warning: no Service of type LoadBalancer" in result.stderr
    assert mutating(registered_memory) == []


class _UnbindableProvider(MemoryProvider):
    """Reports an error on every port, as the local provider does for a port it cannot bind."""

    def ensure(self, spec: LoadBalancerSpec) -> LoadBalancerStatus:
        status = super().ensure(spec)
        ingress = tuple(
            type(i)(
                ip=i.ip,
                hostname=i.hostname,
                ports=tuple(PortStatus(p.port, p.protocol, "bind: permission denied") for p in i.ports),
            )
            for i in status.ingress
        )
        return LoadBalancerStatus(ingress=ingress, cloud_name=status.cloud_name, cloud_id=status.cloud_id)


def test_port_errors_exit_1(memory_cloud: MemoryCloud, invoke: Invoke, manifest: Path) -> None:
    register_provider("unbindable", lambda: _UnbindableProvider(memory_cloud))
    try:
        result = invoke("apply", "--provider", "unbindable", "-f", manifest)
    finally:
        unregister_provider("unbindable")

    assert result.exit_code == 1
    assert "error: shop/web: port 80/TCP: bind: permission denied" in result.stderr
    assert "bind: permission denied" in result.stdout  # in the status table too
    assert list(balancers(memory_cloud)) == ["shop/web"]  # what could be done was done


def test_unsupported_feature_exits_2_before_any_mutation(
    memory_cloud: MemoryCloud, invoke: Invoke, write: Write
) -> None:
    path = write("udp.yaml", service(ports=[{"name": "dns", "port": 53, "protocol": "UDP", "nodePort": 30053}]), *NODES)
    tcp_only = frozenset(f for f in MemoryProvider().capabilities if f.value != "udp")
    register_provider("tcp-only", lambda: MemoryProvider(memory_cloud, name="tcp-only", capabilities=tcp_only))
    try:
        result = invoke("apply", "--provider", "tcp-only", "-f", path)
    finally:
        unregister_provider("tcp-only")

    assert result.exit_code == 2
    assert result.stderr == "error: provider 'tcp-only' does not support: udp (service default:shop/web)\n"
    assert mutating(memory_cloud) == []
