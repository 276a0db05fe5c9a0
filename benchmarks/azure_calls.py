"""benchmarks/azure_calls: the ARM calls the Azure provider makes per scenario, beside the fewest any client needs.

Each shape (1 or 5 TCP ports, 10 to 1,000 node targets) runs five scenarios against the fake ARM, counted from the
fake's request log: create (the cluster's first external Service, with its public IP and security rule), a no-op
sync, 5 % churn of the targets, a full replacement of the targets, and delete (the balancer goes with its last
Service). The fake settles every long-running operation at once, so each costs exactly one poll and the counts are
the same on every run.

The lower bounds, for a client that knows nothing beforehand:
- writes: create 3 (the public IP, the balancer with every part in one PUT, the security group, which needs the
  new address); no-op 0; churn and replacement 1 (the pool, in one PUT, whatever its size); delete 3 (rules,
  balancer, public IP, in that order since an attached address cannot be deleted);
- all calls: those writes, one poll per long-running write, and the reads that find the current state (the
  balancer, the public IP, the security group; only the balancer for a pool change).

Run: ``python -m benchmarks azure_calls``
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from benchmarks._util import print_table
from cloudlb.model import Listener, LoadBalancerSpec, Protocol, Target

PORTS = (1, 5)
TARGETS = (10, 100, 1000)
CHURN = 0.05
RG, LOCATION, VNET, SUBNET, NSG = "bench", "eastus", "vnet", "subnet", "nsg"

# scenario -> (writes, all calls) at least
LOWER_BOUNDS = {
    "create": (3, 3 + 3 + 3),
    "no-op": (0, 3),
    "churn 5%": (1, 1 + 1 + 1),
    "full replacement": (1, 1 + 1 + 1),
    "delete": (3, 3 + 3 + 3),
}


def make_spec(cluster: str, ports: int, targets: int, *, offset: int = 0) -> LoadBalancerSpec:
    """A node-mode Service: ``targets`` nodes in the vnet (10.1.x.y), each listener at its own nodePort."""
    ips = [
        f"10.{1 + (offset + i) // 62500}.{(offset + i) // 250 % 250}.{(offset + i) % 250 + 1}" for i in range(targets)
    ]
    listeners = tuple(
        Listener(
            name=f"tcp-{80 + p}",
            protocol=Protocol.TCP,
            port=80 + p,
            node_port=30000 + p,
            target_port=8080 + p,
            targets=frozenset(Target(ip, 30000 + p) for ip in ips),
        )
        for p in range(ports)
    )
    return LoadBalancerSpec(cluster=cluster, namespace="bench", name="web", uid="uid-web", listeners=listeners)


def churned(spec: LoadBalancerSpec, targets: int, fraction: float) -> LoadBalancerSpec:
    """``spec`` with the first ``fraction`` of its targets replaced by new nodes (a full replacement at 1.0)."""
    moved = max(1, int(targets * fraction))
    fresh = make_spec(spec.cluster, len(spec.listeners), targets, offset=targets if fraction >= 1 else 0)
    if fraction >= 1:
        return fresh
    extra = make_spec(spec.cluster, len(spec.listeners), moved, offset=100_000)
    listeners = tuple(
        Listener(
            name=old.name,
            protocol=old.protocol,
            port=old.port,
            node_port=old.node_port,
            target_port=old.target_port,
            targets=frozenset(sorted(old.targets)[moved:]) | new.targets,
        )
        for old, new in zip(fresh.listeners, extra.listeners, strict=True)
    )
    return LoadBalancerSpec(spec.cluster, spec.namespace, spec.name, spec.uid, listeners=listeners)


def measure(fake: Any, action: Callable[[], object]) -> tuple[int, int]:
    """(writes, all calls) that ``action`` made."""
    start = len(fake.requests)
    action()
    made = fake.requests[start:]
    return sum(1 for r in made if r.is_write), len(made)


def _ratio(actual: int, bound: int) -> str:
    if bound == 0:
        return "-" if actual == 0 else "inf"
    return f"{actual / bound:.2f}x"


def run() -> None:
    from cloudlb_azure.fake import FakeArm
    from cloudlb_azure.mock import seed_network
    from cloudlb_azure.provider import AzureProvider

    rows = []
    with FakeArm(lro_delay=0.0) as fake:
        seed_network(
            fake, resource_group=RG, location=LOCATION, vnet_name=VNET, subnet_name=SUBNET, security_group_name=NSG
        )
        provider = AzureProvider(
            fake.subscription_id,
            RG,
            LOCATION,
            base_url=fake.url,
            ca_bundle=fake.ca_path,
            use_mock_credential=True,
            vnet_name=VNET,
            subnet_name=SUBNET,
            security_group_name=NSG,
            read_rate_limit=None,
            write_rate_limit=None,
            delete_rate_limit=None,
        )
        for ports in PORTS:
            for targets in TARGETS:
                cluster = f"bench-{ports}-{targets}"
                spec = make_spec(cluster, ports, targets)
                churn = churned(spec, targets, CHURN)
                replaced = churned(churn, targets, 1.0)
                scenarios: list[tuple[str, Callable[[], object]]] = [
                    ("create", functools.partial(provider.ensure, spec)),
                    ("no-op", functools.partial(provider.ensure, spec)),
                    ("churn 5%", functools.partial(provider.ensure, churn)),
                    ("full replacement", functools.partial(provider.ensure, replaced)),
                    ("delete", functools.partial(provider.delete, replaced)),
                ]
                for scenario, action in scenarios:
                    writes, calls = measure(fake, action)
                    min_writes, min_calls = LOWER_BOUNDS[scenario]
                    rows.append(
                        [
                            scenario,
                            str(ports),
                            f"{targets:,}",
                            str(writes),
                            str(min_writes),
                            _ratio(writes, min_writes),
                            str(calls),
                            str(min_calls),
                            _ratio(calls, min_calls),
                        ]
                    )
    print_table(
        "azure_calls: ARM calls per scenario (fake ARM, every operation settled at its first poll)",
        ["scenario", "ports", "targets", "writes", "min", "ratio", "all calls", "min", "ratio"],
        rows,
    )
    print("all calls = reads (observation and polls) + writes; the provider reads both of the cluster's balancers,")
    print("since a Service may have moved between them, and lists the group's public IPs to find its own by tags.")


if __name__ == "__main__":
    run()
