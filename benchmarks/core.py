"""benchmarks/core: building specs from manifests plus a target-set diff, against a naive list baseline.

Two shapes, both in pod mode with EndpointSlices of 100 endpoints (Kubernetes' default slice size):
- one Service with 5,000 targets (goal: under 20 ms and under 50 MB);
- 1,000 Services with 20 targets each.

Each run builds the spec with ``spec_from_manifests`` and diffs its targets against an "actual" pool that differs by
5 % (what a resync after a rolling update sees). The baseline does the same work the naive way: targets rebuilt into
lists with membership tests on lists, which is what a first implementation tends to write.

Run: ``python -m benchmarks core``
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from typing import Any

from benchmarks._util import median_seconds, peak_mib, print_table
from cloudlb import spec_from_manifests
from cloudlb.plan import set_diff

SLICE_SIZE = 100
CHURN = 0.05


def _ips(start: int, count: int) -> Iterator[str]:
    base = int(ipaddress.IPv4Address("10.0.0.0")) + start
    for i in range(count):
        yield str(ipaddress.IPv4Address(base + i))


def make_service(name: str, targets: int, *, offset: int = 0) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A LoadBalancer Service in pod mode and its EndpointSlices with ``targets`` ready endpoints."""
    service: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": "bench",
            "uid": f"uid-{name}",
            "annotations": {"cloudlb.io/target-type": "pod"},
        },
        "spec": {
            "type": "LoadBalancer",
            "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080}],
        },
    }
    ips = list(_ips(offset, targets))
    slices = []
    for n in range(0, targets, SLICE_SIZE):
        slices.append(
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "name": f"{name}-{n // SLICE_SIZE}",
                    "namespace": "bench",
                    "labels": {"kubernetes.io/service-name": name},
                },
                "addressType": "IPv4",
                "ports": [{"name": "http", "protocol": "TCP", "port": 8080}],
                "endpoints": [
                    {"addresses": [ip], "conditions": {"ready": True}, "nodeName": "node-1"}
                    for ip in ips[n : n + SLICE_SIZE]
                ],
            }
        )
    return service, slices


def _actual_pool(targets: int, offset: int) -> set[tuple[str, int]]:
    """The pool as the cloud reports it: the same targets but the first 5 % replaced by others."""
    churned = int(targets * CHURN)
    ips = list(_ips(offset, targets))[churned:] + list(_ips(offset + 1_000_000, churned))
    return {(ip, 8080) for ip in ips}


Case = tuple[Mapping[str, Any], list[dict[str, Any]], set[tuple[str, int]]]


def cloudlb_build(cases: list[Case]) -> list[frozenset[tuple[str, int]]]:
    """What cloudlb does: a validated spec per Service; its target pool is a frozenset."""
    out = []
    for service, slices, _ in cases:
        spec = spec_from_manifests(service, slices, (), cluster="bench")
        out.append(frozenset((t.ip, t.port) for t in spec.listeners[0].targets))
    return out


def cloudlb_diff(cases: list[Case], desired: list[frozenset[tuple[str, int]]]) -> int:
    changed = 0
    for (_, _, actual), want in zip(cases, desired, strict=True):
        diff = set_diff(want, frozenset(actual))
        changed += len(diff.add) + len(diff.remove)
    return changed


def naive_build(cases: list[Case]) -> list[list[tuple[str, int]]]:
    """The naive way: no validation, targets rebuilt into a list with membership tests on the list."""
    out = []
    for service, slices, _ in cases:
        port = service["spec"]["ports"][0]["targetPort"]
        desired: list[tuple[str, int]] = []
        for s in slices:
            for ep in s["endpoints"]:
                if ep.get("conditions", {}).get("ready", True):
                    for ip in ep["addresses"]:
                        if (ip, port) not in desired:
                            desired.append((ip, port))
        out.append(desired)
    return out


def naive_diff(cases: list[Case], desired: list[list[tuple[str, int]]]) -> int:
    changed = 0
    for (_, _, actual), want in zip(cases, desired, strict=True):
        actual_list = list(actual)
        add = [t for t in want if t not in actual_list]
        remove = [t for t in actual_list if t not in want]
        changed += len(add) + len(remove)
    return changed


def cloudlb_way(cases: list[Case]) -> int:
    return cloudlb_diff(cases, cloudlb_build(cases))


def naive_way(cases: list[Case]) -> int:
    return naive_diff(cases, naive_build(cases))


def _cases(services: int, targets: int) -> list[tuple[Mapping[str, Any], list[dict[str, Any]], set[tuple[str, int]]]]:
    out = []
    for i in range(services):
        offset = i * targets
        service, slices = make_service(f"svc-{i}", targets, offset=offset)
        out.append((service, slices, _actual_pool(targets, offset)))
    return out


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def run() -> None:
    rows = []
    for label, services, targets, repeat in (
        ("1 Service x 5,000 targets", 1, 5000, 7),
        ("1,000 Services x 20 targets", 1000, 20, 3),
    ):
        cases = _cases(services, targets)
        expected = cloudlb_way(cases)
        assert naive_way(cases) == expected, "baseline and cloudlb disagree"
        ours_desired, naive_desired = cloudlb_build(cases), naive_build(cases)
        slow = max(1, repeat // 2)
        phases = {
            "build": (
                median_seconds(lambda c=cases: cloudlb_build(c), repeat=repeat),
                median_seconds(lambda c=cases: naive_build(c), repeat=slow),
            ),
            "diff": (
                median_seconds(lambda c=cases, d=ours_desired: cloudlb_diff(c, d), repeat=repeat),
                median_seconds(lambda c=cases, d=naive_desired: naive_diff(c, d), repeat=slow),
            ),
            "total": (
                median_seconds(lambda c=cases: cloudlb_way(c), repeat=repeat),
                median_seconds(lambda c=cases: naive_way(c), repeat=slow),
            ),
        }
        ours_mem = peak_mib(lambda c=cases: cloudlb_way(c))
        naive_mem = peak_mib(lambda c=cases: naive_way(c))
        for phase, (ours, naive) in phases.items():
            mem = (f"{ours_mem:.1f} MiB", f"{naive_mem:.1f} MiB") if phase == "total" else ("", "")
            rows.append([label if phase == "build" else "", phase, _ms(ours), _ms(naive), f"{naive / ours:.2f}x", *mem])
    print_table(
        "core: spec_from_manifests + target diff (median wall time; peak traced heap)",
        ["case", "phase", "cloudlb", "naive lists", "naive/cloudlb", "cloudlb peak", "naive peak"],
        rows,
    )
    print("The naive build validates nothing; cloudlb's build checks every field and address it reads.")
    print("goal (5,000 targets, total): under 20 ms and under 50 MB")


if __name__ == "__main__":
    run()
