"""benchmarks/openstack_calls: the OpenStack provider's API calls per scenario, each beside its lower bound.

Each shape (1 or 5 TCP ports, 10 to 1,000 node targets) runs the scenarios of azure_calls against the fake
OpenStack (in-process, on loopback), and counts from the fake's own request log the calls each makes to Octavia and
Neutron: writes, reads, and polls (the GETs of the load balancer while it is PENDING_* after a write). The token
request and API version discovery, made once per connection, are left out. The scenarios (every port is served by
every target):

- create: from nothing; no-op: ensure again, nothing changed; churn 5 %: 5 % of the targets replaced;
- full replacement: every target replaced; delete: the Service is gone.

The lower bounds, for P ports:
- writes: create 2 + 4P (the load balancer; per port a listener, a pool, a monitor and one batch member update; the
  floating IP), no-op 0, churn and replacement P (one batch update per pool: Octavia has no cross-pool call), delete
  2 (the load balancer with cascade, and the floating IP);
- reads: create 1 (the Service's load balancers by tags, to find there are none); no-op, churn and replacement
  5 + P (load balancers, listeners, pools, monitors, each pool's members, and the floating IP of the VIP port);
  delete 2 (load balancers and floating IPs by tags);
- polls: one per Octavia write (ACTIVE cannot be known without reading it). Polls depend on timing: the fake
  completes an operation after 20 ms, and the provider first polls 20-25 ms after a write.

Run: ``python -m benchmarks openstack_calls``
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from benchmarks._util import print_table
from cloudlb.model import Listener, LoadBalancerSpec, Protocol, Target

PORTS = (1, 5)
TARGETS = (10, 100, 1000)
CHURN = 0.05
DELAY = 0.02
API = re.compile(r"^/(load-balancer/v2(\.0)?|networking/v2\.0)/")
POLL = re.compile(r"/lbaas/loadbalancers/[^/]+$")


@dataclass(frozen=True)
class Counts:
    writes: int
    reads: int
    polls: int
    octavia_writes: int
    seconds: float


def _spec(ports: int, targets: range) -> LoadBalancerSpec:
    listeners = tuple(
        Listener(
            name=f"tcp-{8000 + i}",
            protocol=Protocol.TCP,
            port=8000 + i,
            node_port=30000 + i,
            targets=frozenset(
                Target(f"10.{1 + n // 62500}.{n // 250 % 250}.{n % 250 + 1}", 30000 + i) for n in targets
            ),
        )
        for i in range(ports)
    )
    return LoadBalancerSpec(cluster="bench", namespace="bench", name="web", uid="uid-web", listeners=listeners)


def _measure(cloud: object, action: Callable[[], object]) -> Counts:
    log = cloud.requests  # type: ignore[attr-defined]
    start, began = len(log), time.perf_counter()
    action()
    seconds = time.perf_counter() - began
    calls = [r for r in log[start:] if API.match(r.path)]
    writes = [r for r in calls if r.method != "GET"]
    polls = sum(1 for r in calls if r.method == "GET" and POLL.search(r.path))
    octavia = sum(1 for r in writes if r.path.startswith("/load-balancer/"))
    return Counts(len(writes), len(calls) - len(writes) - polls, polls, octavia, seconds)


def _bounds(scenario: str, ports: int) -> tuple[int, int]:
    """(writes, reads) lower bounds; see the module docstring."""
    return {
        "create": (2 + 4 * ports, 1),
        "no-op": (0, 5 + ports),
        "churn 5%": (ports, 5 + ports),
        "full replacement": (ports, 5 + ports),
        "delete": (2, 2),
    }[scenario]


def _ratio(value: int, bound: int) -> str:
    if bound == 0:
        return "-" if value == 0 else "inf"
    return f"{value / bound:.2f}x"


def _run_case(ports: int, targets: int) -> dict[str, Counts]:
    from cloudlb_openstack.fake import FakeOpenStack
    from cloudlb_openstack.provider import OpenStackProvider

    churned = math.ceil(targets * CHURN)
    specs = {
        "create": _spec(ports, range(targets)),
        "no-op": _spec(ports, range(targets)),
        "churn 5%": _spec(ports, range(churned, targets + churned)),
        "full replacement": _spec(ports, range(targets + churned, 2 * targets + churned)),
    }
    with FakeOpenStack(provisioning_delay=DELAY) as cloud:
        provider = OpenStackProvider(
            **cloud.connection_options(),
            floating_network_id=cloud.external_network_id,
            subnet_id=cloud.subnet_id,
            poll_interval=DELAY * 1.25,
            max_poll_interval=0.1,
        )
        provider.get(specs["create"])  # authenticate and discover the endpoints outside the counts
        results = {name: _measure(cloud, functools.partial(provider.ensure, spec)) for name, spec in specs.items()}
        results["delete"] = _measure(cloud, functools.partial(provider.delete, specs["create"]))
        provider.close()
    return results


def run() -> None:
    logging.getLogger("cloudlb").setLevel(logging.WARNING)
    rows = []
    for ports, targets in itertools.product(PORTS, TARGETS):
        for name, counts in _run_case(ports, targets).items():
            write_bound, read_bound = _bounds(name, ports)
            rows.append(
                [
                    f"{ports} port{'s' if ports > 1 else ''} x {targets:,} targets" if name == "create" else "",
                    name,
                    str(counts.writes),
                    str(write_bound),
                    _ratio(counts.writes, write_bound),
                    str(counts.reads),
                    str(read_bound),
                    _ratio(counts.reads, read_bound),
                    f"{counts.polls} / {counts.octavia_writes}",
                    f"{counts.seconds * 1000:.0f} ms",
                ]
            )
    print_table(
        "openstack_calls: API calls per scenario against the fake OpenStack (lower bound beside each)",
        ["case", "scenario", "writes", "bound", "ratio", "reads", "bound", "ratio", "polls / Octavia writes", "wall"],
        rows,
    )
    print("writes: POST/PUT/DELETE to Octavia and Neutron; reads: GETs other than polls; token and discovery excluded.")
    print(f"polls depend on timing: the fake settles {DELAY * 1000:.0f} ms after a write.")


if __name__ == "__main__":
    run()
