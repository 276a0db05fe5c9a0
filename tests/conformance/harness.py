"""What the conformance suite needs from a provider's test setup, and the provider-neutral views it compares.

Where this sits: each provider brings a harness (its provider, its fake cloud, and a way to read that cloud back
without going through the provider) and adds it to ``harnesses.py``; the suite then runs every case against it.
Read-backs come straight from the cloud or fake, never from what the provider reports, so a test checks what is
really there. ``BaseHarness`` builds specs with ``cloudlb.model`` directly; a harness whose cloud needs more from
a target (an instance id, a zone) overrides ``target``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from cloudlb.model import Listener, LoadBalancerSpec, Target, TargetMode
from cloudlb.model import Protocol as IPProtocol
from cloudlb.naming import Ownership, ownership
from cloudlb.provider import Provider

Endpoint = tuple[str, int]  # (ip, port): a target as any cloud stores it
Key = tuple[IPProtocol, int]  # a listener: (protocol, port)

CLUSTER = "conformance"


@dataclass(frozen=True)
class ObservedLoadBalancer:
    """One balancer as read back from the cloud: its listeners' target sets, its tags and whether it is internal."""

    cloud_id: str
    name: str
    tags: Mapping[str, str]
    listeners: Mapping[Key, frozenset[Endpoint]]
    internal: bool


@dataclass(frozen=True)
class ResourceView:
    """Any resource in the cloud that a provider may have created; ``kind`` is the harness's own word."""

    kind: str
    cloud_id: str
    name: str
    tags: Mapping[str, str]


@dataclass(frozen=True)
class TargetOp:
    """One call that changed a pool's targets, as the cloud saw it. ``replace`` sets the whole pool at once."""

    pool: str
    kind: Literal["register", "deregister", "replace"]
    targets: frozenset[Endpoint]


class Harness(Protocol):
    id: str
    cluster: str
    target_batch_size: int | None  # the most targets one call changes; None: one call replaces a whole pool

    def make_provider(self) -> Provider: ...

    def make_spec(
        self,
        name: str = "web",
        *,
        namespace: str = "default",
        uid: str | None = None,
        cluster: str | None = None,
        ports: Sequence[Key] = ...,
        nodes: Iterable[int] = ...,
        **fields: Any,
    ) -> LoadBalancerSpec: ...

    def mutating_calls(self) -> int: ...

    def all_calls(self) -> int: ...

    def read_back(self, spec: LoadBalancerSpec) -> list[ObservedLoadBalancer]:
        """Every balancer in the cloud that carries ``spec``'s ownership tags (MINE), read without the provider."""
        ...

    def target_ops(self) -> list[TargetOp]:
        """Every target change the cloud received so far, in order."""
        ...

    def resources(self) -> list[ResourceView]:
        """Every resource of the kinds a provider creates, whoever created it."""
        ...

    def create_foreign_lookalike(self, spec: LoadBalancerSpec, *, tags: Mapping[str, str]) -> str:
        """Plant a balancer (with listeners and targets) named exactly as the provider names ``spec``'s, carrying
        ``tags`` instead of ``spec``'s ownership tags. Returns its cloud id."""
        ...

    def foreign_state(self) -> object:
        """A comparable snapshot of everything planted by ``create_foreign_lookalike``."""
        ...

    def fail_at_mutating_call(self, n: int, *, after: bool = False) -> None:
        """Make the n-th mutating call from now fail once; ``after``: its effect happens but the response is lost."""
        ...

    def clear_faults(self) -> None: ...

    def close(self) -> None: ...


class BaseHarness:
    """Spec building shared by every harness. Node ``i`` is at 10.1.x.y, pod ``i`` at 10.2.x.y."""

    cluster = CLUSTER

    def make_spec(
        self,
        name: str = "web",
        *,
        namespace: str = "default",
        uid: str | None = None,
        cluster: str | None = None,
        ports: Sequence[Key] = ((IPProtocol.TCP, 80),),
        nodes: Iterable[int] = range(3),
        **fields: Any,
    ) -> LoadBalancerSpec:
        """A spec with one listener per ``ports`` entry, each served by targets ``nodes`` (nodes, or pods in pod
        mode). ``fields`` sets any other ``LoadBalancerSpec`` field."""
        mode = fields.get("target_mode", TargetMode.NODE)
        indices = tuple(nodes)
        listeners = []
        for i, (protocol, port) in enumerate(ports):
            node_port, target_port = 30000 + i, 8000 + i
            backend_port = node_port if mode is TargetMode.NODE else target_port
            listeners.append(
                Listener(
                    name=f"{protocol.value.lower()}-{port}",
                    protocol=protocol,
                    port=port,
                    node_port=node_port,
                    target_port=target_port,
                    targets=frozenset(self.target(n, backend_port, mode) for n in indices),
                )
            )
        return LoadBalancerSpec(
            cluster=self.cluster if cluster is None else cluster,
            namespace=namespace,
            name=name,
            uid=f"uid-{namespace}-{name}" if uid is None else uid,
            listeners=tuple(listeners),
            **fields,
        )

    def target(self, index: int, port: int, mode: TargetMode) -> Target:
        net = 1 if mode is TargetMode.NODE else 2
        ip = f"10.{net}.{index // 250}.{index % 250 + 1}"
        return Target(ip=ip, port=port, node_name=f"node-{index}" if mode is TargetMode.NODE else None)


# --- checks shared by the suite ---------------------------------------------------------------------------------


def expected_listeners(spec: LoadBalancerSpec) -> dict[Key, frozenset[Endpoint]]:
    return {listener.key: frozenset((t.ip, t.port) for t in listener.targets) for listener in spec.listeners}


def owned_resources(harness: Harness, spec: LoadBalancerSpec) -> list[ResourceView]:
    """Resources carrying ``spec``'s ownership tags."""
    return [r for r in harness.resources() if ownership(r.tags, spec.ref) is not Ownership.FOREIGN]


def max_target_calls(harness: Harness, added: int, removed: int) -> int:
    """The most mutating calls a pool change may cost: ceil(k/batch) per direction, or one whole-pool call."""
    batch = harness.target_batch_size
    if batch is None:
        return 1 if added or removed else 0
    return math.ceil(added / batch) + math.ceil(removed / batch)


def replay(start: frozenset[Endpoint], ops: Iterable[TargetOp]) -> list[frozenset[Endpoint]]:
    """Every state a pool passed through, from ``start``, under ``ops``."""
    states, current = [start], start
    for op in ops:
        if op.kind == "register":
            current = current | op.targets
        elif op.kind == "deregister":
            current = current - op.targets
        else:
            current = op.targets
        states.append(current)
    return states
