"""get, list, sync, delete and gc: each checked against what remains in the MemoryCloud."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.cli.conftest import NODES, Invoke, Write, balancers, mutating, node, pool_targets, service
from tests.support.memory_cloud import MemoryCloud


@pytest.fixture
def applied(registered_memory: MemoryCloud, invoke: Invoke, write: Write) -> dict[str, Path]:
    """Services a, b and c of cluster c1 applied; returns their manifests (each with the nodes)."""
    paths = {name: write(f"{name}.yaml", service(name), *NODES) for name in ("a", "b", "c")}
    for path in paths.values():
        assert invoke("apply", "--provider", "memory", "--cluster", "c1", "-f", path).exit_code == 0
    registered_memory.calls.clear()
    return paths


def memory(*args: str | Path) -> tuple[str | Path, ...]:
    return ("--provider", "memory", "--cluster", "c1", *args)


# --- get -------------------------------------------------------------------------------------------------------


def test_get_shows_status_and_not_found(
    registered_memory: MemoryCloud, invoke: Invoke, write: Write, applied: dict[str, Path]
) -> None:
    missing = write("missing.yaml", service("missing"))

    result = invoke("get", *memory("-f", applied["a"], "-f", missing))

    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    a_line = next(line for line in lines if "shop/a" in line)
    assert balancers(registered_memory)["shop/a"].attributes["address"] in a_line
    assert "80/TCP" in a_line
    assert "(not found)" in next(line for line in lines if "shop/missing" in line)
    assert mutating(registered_memory) == []


def test_get_json(registered_memory: MemoryCloud, invoke: Invoke, write: Write, applied: dict[str, Path]) -> None:
    missing = write("missing.yaml", service("missing"))

    result = invoke("get", *memory("-f", applied["a"], "-f", missing, "-o", "json"))

    assert result.exit_code == 0, result.stderr
    found, absent = json.loads(result.stdout)
    assert (found["service"], found["found"]) == ("shop/a", True)
    assert found["status"]["cloud_id"] == balancers(registered_memory)["shop/a"].id
    assert absent == {
        "service": "shop/missing",
        "load_balancer": absent["load_balancer"],
        "found": False,
        "status": None,
    }


# --- list ------------------------------------------------------------------------------------------------------


def test_list_shows_what_the_cluster_owns(
    registered_memory: MemoryCloud, invoke: Invoke, write: Write, applied: dict[str, Path]
) -> None:
    other = write("other.yaml", service("other"))
    assert invoke("apply", "--provider", "memory", "--cluster", "c2", "-f", other).exit_code == 0

    result = invoke("list", *memory())

    assert result.exit_code == 0, result.stderr
    for name in ("a", "b", "c"):
        balancer = balancers(registered_memory)[f"shop/{name}"]
        line = next(line for line in result.stdout.splitlines() if f"shop/{name} " in line)
        assert f"uid-shop-{name}" in line and balancer.name in line and balancer.id in line
    assert "shop/other" not in result.stdout


def test_list_yaml(registered_memory: MemoryCloud, invoke: Invoke, applied: dict[str, Path]) -> None:
    result = invoke("list", *memory("-o", "yaml"))

    assert result.exit_code == 0, result.stderr
    listed = yaml.safe_load(result.stdout)
    assert [(o["service"], o["uid"], o["cluster"]) for o in listed] == [
        ("shop/a", "uid-shop-a", "c1"),
        ("shop/b", "uid-shop-b", "c1"),
        ("shop/c", "uid-shop-c", "c1"),
    ]
    assert {o["cloud_id"] for o in listed} == {b.id for b in registered_memory.balancers.values()}


# --- sync ------------------------------------------------------------------------------------------------------


def test_sync_changes_only_targets(
    registered_memory: MemoryCloud, invoke: Invoke, write: Write, applied: dict[str, Path]
) -> None:
    moved = write("moved.yaml", service("a"), NODES[0], node("n3", "10.1.0.3"))

    result = invoke("sync", *memory("-f", moved))

    assert result.exit_code == 0, result.stderr
    assert pool_targets(registered_memory, "shop/a") == {("10.1.0.1", 30080), ("10.1.0.3", 30080)}
    assert mutating(registered_memory) == ["register_targets", "deregister_targets"]
    assert "shop/a: targets synced (2 targets)" in result.stdout


def test_sync_of_a_missing_load_balancer_fails(registered_memory: MemoryCloud, invoke: Invoke, write: Write) -> None:
    path = write("new.yaml", service("new"), *NODES)

    result = invoke("sync", *memory("-f", path))

    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and len(result.stderr.splitlines()) == 1
    assert mutating(registered_memory) == []


# --- delete ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "by",
    [pytest.param("file", id="by-file"), pytest.param("ref", id="by-namespace-name")],
)
def test_delete(registered_memory: MemoryCloud, invoke: Invoke, applied: dict[str, Path], by: str) -> None:
    target = ("-f", applied["b"]) if by == "file" else ("shop/b",)

    first = invoke("delete", *memory(*target))
    second = invoke("delete", *memory(*target))

    assert first.exit_code == 0 and second.exit_code == 0, first.stderr + second.stderr
    assert sorted(balancers(registered_memory)) == ["shop/a", "shop/c"]
    assert pool_targets(registered_memory, "shop/b") == set()
    assert "shop/b: load balancer" in first.stdout and first.stdout.rstrip().endswith(" deleted")
    assert second.stdout.rstrip().endswith("already absent")


def test_delete_dry_run_deletes_nothing(
    registered_memory: MemoryCloud, invoke: Invoke, applied: dict[str, Path]
) -> None:
    result = invoke("delete", *memory("shop/a", "shop/gone", "--dry-run", "-o", "json"))

    assert result.exit_code == 0, result.stderr
    assert [(r["service"], r["result"]) for r in json.loads(result.stdout)] == [
        ("shop/a", "would-delete"),
        ("shop/gone", "absent"),
    ]
    assert mutating(registered_memory) == []
    assert sorted(balancers(registered_memory)) == ["shop/a", "shop/b", "shop/c"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param((), "give either -f/--filename or NAMESPACE/NAME", id="nothing"),
        pytest.param(("shop/a", "-f", "x.yaml"), "give either -f/--filename or NAMESPACE/NAME", id="both"),
        pytest.param(("web",), "'web' is not NAMESPACE/NAME", id="no-namespace"),
        pytest.param(("a/b/c",), "'a/b/c' is not NAMESPACE/NAME", id="too-many-slashes"),
        pytest.param(("shop/a", "shop/b", "--uid", "u"), "--uid needs exactly one", id="uid-with-two"),
    ],
)
def test_delete_usage_errors(
    registered_memory: MemoryCloud, invoke: Invoke, applied: dict[str, Path], args: tuple[str, ...], message: str
) -> None:
    result = invoke("delete", *memory(*args))

    assert result.exit_code == 2
    assert message in result.stderr
    assert registered_memory.calls == []


# --- gc --------------------------------------------------------------------------------------------------------


def test_gc_deletes_orphans_only(
    registered_memory: MemoryCloud, invoke: Invoke, write: Write, applied: dict[str, Path]
) -> None:
    live = write("live.yaml", service("a"), service("b"))

    result = invoke("gc", *memory("-f", live))

    assert result.exit_code == 0, result.stderr
    assert sorted(balancers(registered_memory)) == ["shop/a", "shop/b"]
    assert pool_targets(registered_memory, "shop/c") == set()
    assert "shop/c" in result.stdout and "deleted" in result.stdout


def test_gc_dry_run_lists_and_keeps(
    registered_memory: MemoryCloud, invoke: Invoke, write: Write, applied: dict[str, Path]
) -> None:
    live = write("live.yaml", service("a"))

    result = invoke("gc", *memory("-f", live, "--dry-run", "-o", "json"))

    assert result.exit_code == 0, result.stderr
    assert [(o["service"], o["result"]) for o in json.loads(result.stdout)] == [
        ("shop/b", "would-delete"),
        ("shop/c", "would-delete"),
    ]
    assert mutating(registered_memory) == []
    assert sorted(balancers(registered_memory)) == ["shop/a", "shop/b", "shop/c"]


def test_gc_treats_a_recreated_service_as_orphan(
    registered_memory: MemoryCloud, invoke: Invoke, write: Write, applied: dict[str, Path]
) -> None:
    # shop/a was deleted and recreated: same name, new uid. Its old load balancer belongs to nobody.
    live = write("live.yaml", service("a", uid="uid-new"), service("b"), service("c"))

    result = invoke("gc", *memory("-f", live))

    assert result.exit_code == 0, result.stderr
    assert sorted(balancers(registered_memory)) == ["shop/b", "shop/c"]


def test_gc_all_deletes_only_this_clusters(
    registered_memory: MemoryCloud, invoke: Invoke, write: Write, applied: dict[str, Path]
) -> None:
    other = write("other.yaml", service("other"))
    assert invoke("apply", "--provider", "memory", "--cluster", "c2", "-f", other).exit_code == 0

    result = invoke("gc", *memory("--all"))

    assert result.exit_code == 0, result.stderr
    assert balancers(registered_memory, cluster="c1") == {}
    assert list(balancers(registered_memory, cluster="c2")) == ["shop/other"]


def test_gc_with_nothing_orphaned(registered_memory: MemoryCloud, invoke: Invoke, applied: dict[str, Path]) -> None:
    result = invoke("gc", *memory(*(a for p in applied.values() for a in ("-f", p))))

    assert result.exit_code == 0, result.stderr
    assert result.stdout == "cluster c1: no orphaned load balancers\n"
    assert mutating(registered_memory) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(("--cluster", "c1"), "gc needs the live Services", id="no-files-no-all"),
        pytest.param(("--cluster", "c1", "--all", "-f", "x.yaml"), "cannot be combined with -f", id="all-and-files"),
        pytest.param(("--all",), "gc needs --cluster", id="no-cluster"),
        pytest.param(("--cluster", "c1", "-f", "{empty}"), "hold no Service of type LoadBalancer", id="empty-live"),
    ],
)
def test_gc_usage_errors(
    registered_memory: MemoryCloud,
    invoke: Invoke,
    write: Write,
    applied: dict[str, Path],
    args: tuple[str, ...],
    message: str,
) -> None:
    empty = write("empty.yaml", service("internal", type_="ClusterIP"))

    result = invoke("gc", "--provider", "memory", *(a.format(empty=empty) for a in args))

    assert result.exit_code == 2
    assert message in result.stderr
    assert registered_memory.calls == []
    assert sorted(balancers(registered_memory)) == ["shop/a", "shop/b", "shop/c"]
