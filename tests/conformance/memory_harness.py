"""The conformance harness for ``MemoryProvider``: it reads ``MemoryCloud``'s state directly, not through the API."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping

from cloudlb.model import Feature, LoadBalancerSpec, Scheme
from cloudlb.naming import Ownership, ownership
from tests.conformance.harness import BaseHarness, ObservedLoadBalancer, ResourceView, TargetOp
from tests.support.memory import ALL_FEATURES, MemoryProvider
from tests.support.memory_cloud import Balancer, CloudListener, MemoryCloud, Pool

# A narrowed provider: proves that what a provider does not declare is refused at plan time.
NARROW_FEATURES = ALL_FEATURES - {Feature.UDP, Feature.SCTP, Feature.MIXED_PROTOCOLS, Feature.PROXY_PROTOCOL}


class MemoryHarness(BaseHarness):
    def __init__(self, *, id: str = "memory", capabilities: frozenset[Feature] = ALL_FEATURES) -> None:
        self.id = id
        self.cloud = MemoryCloud()
        self.target_batch_size: int | None = self.cloud.max_batch
        self._capabilities = capabilities
        self._foreign: list[str] = []
        self._ids = itertools.count(1)

    def make_provider(self) -> MemoryProvider:
        return MemoryProvider(self.cloud, capabilities=self._capabilities)

    def mutating_calls(self) -> int:
        return self.cloud.mutating_calls()

    def all_calls(self) -> int:
        return len(self.cloud.calls)

    def read_back(self, spec: LoadBalancerSpec) -> list[ObservedLoadBalancer]:
        out = []
        for balancer in self.cloud.balancers.values():
            if ownership(balancer.tags, spec.ref) is Ownership.MINE:
                listeners = {
                    lst.key: frozenset(self.cloud.pools[lst.pool_id].targets) for lst in balancer.listeners.values()
                }
                out.append(
                    ObservedLoadBalancer(
                        cloud_id=balancer.id,
                        name=balancer.name,
                        tags=dict(balancer.tags),
                        listeners=listeners,
                        internal=balancer.attributes["scheme"] is Scheme.INTERNAL,
                    )
                )
        return out

    def target_ops(self) -> list[TargetOp]:
        return [TargetOp(op.pool_id, op.kind, op.targets) for op in self.cloud.target_log]

    def resources(self) -> list[ResourceView]:
        out = [ResourceView("load-balancer", b.id, b.name, dict(b.tags)) for b in self.cloud.balancers.values()]
        out += [ResourceView("pool", p.id, p.name, dict(p.tags)) for p in self.cloud.pools.values()]
        return out

    def create_foreign_lookalike(self, spec: LoadBalancerSpec, *, tags: Mapping[str, str]) -> str:
        # Planted straight into the state, so the call counters see only what the provider does.
        provider, n = self.make_provider(), next(self._ids)
        balancer = Balancer(
            id=f"foreign-lb-{n}",
            name=provider.load_balancer_name(spec),
            tags=dict(tags),
            attributes={"scheme": Scheme.EXTERNAL, "address": f"10.9.9.{n}", "source_ranges": ()},
        )
        for i, listener in enumerate(spec.listeners):
            pool = Pool(
                id=f"foreign-pool-{n}-{i}",
                name=provider.pool_name(spec, listener.key),
                protocol=listener.protocol,
                port=listener.port,
                tags=dict(tags),
                settings={},
                targets={("10.9.0.1", 9000 + i)},
            )
            self.cloud.pools[pool.id] = pool
            self._foreign.append(pool.id)
            lst = CloudListener(f"foreign-listener-{n}-{i}", listener.protocol, listener.port, pool.id)
            balancer.listeners[lst.id] = lst
        self.cloud.balancers[balancer.id] = balancer
        self._foreign.append(balancer.id)
        return balancer.id

    def foreign_state(self) -> object:
        state = {**self.cloud.balancers, **self.cloud.pools}
        return {rid: copy.deepcopy(state.get(rid)) for rid in self._foreign}

    def fail_at_mutating_call(self, n: int, *, after: bool = False) -> None:
        self.cloud.fail_at(n, after=after)

    def clear_faults(self) -> None:
        self.cloud.clear_fault()

    def close(self) -> None:
        pass


def memory_harness() -> MemoryHarness:
    return MemoryHarness()


def narrow_memory_harness() -> MemoryHarness:
    return MemoryHarness(id="memory-narrow", capabilities=NARROW_FEATURES)
