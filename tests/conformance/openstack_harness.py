"""The conformance harness for ``OpenStackProvider``: a fresh fake OpenStack per harness, with a recorder in front of
its request handler (tests/openstack/recorder.py) that counts the provider's calls, keeps each batch member update
and injects the suite's crashes.

Read-backs come straight from the fake's state, never through the provider. An external balancer is one with a
floating IP on its VIP port. The fake runs with a short, non-zero provisioning delay, so every write really goes
through PENDING_* and the provider has to wait it out.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import openstack

from cloudlb.model import LoadBalancerSpec
from cloudlb.model import Protocol as IPProtocol
from cloudlb.naming import Ownership, ownership, tags_from_strings, tags_to_strings
from cloudlb_openstack.fake import FakeOpenStack
from cloudlb_openstack.provider import OpenStackProvider
from tests.conformance.harness import BaseHarness, Endpoint, Key, ObservedLoadBalancer, ResourceView, TargetOp
from tests.openstack.recorder import Recorder

PROVISIONING_DELAY = 0.01
FAST = {"poll_interval": 0.005, "max_poll_interval": 0.02, "round_delay": 0.01, "read_retries": 3}
# Members are left out: the suite compares resource counts between specs with different targets, and read_back
# already checks every pool's members exactly.
KINDS = {
    "loadbalancers": "load-balancer",
    "listeners": "listener",
    "pools": "pool",
    "healthmonitors": "health-monitor",
    "floatingips": "floating-ip",
    "ports": "port",
}


def provider_options(fake: FakeOpenStack) -> dict[str, Any]:
    """The options ``cloudlb mock-server openstack`` prints for this fake, with fast polling."""
    return {
        **fake.connection_options(),
        "floating_network_id": fake.external_network_id,
        "subnet_id": fake.subnet_id,
        **FAST,
    }


class OpenStackHarness(BaseHarness):
    def __init__(self) -> None:
        self.id = "openstack"
        self.target_batch_size: int | None = None  # one batch PUT replaces a pool's members
        self.fake = FakeOpenStack(provisioning_delay=PROVISIONING_DELAY).start()
        self.recorder = Recorder(self.fake)
        self._providers: list[OpenStackProvider] = []
        self._foreign: list[str] = []

    def make_provider(self) -> OpenStackProvider:
        provider = OpenStackProvider(**provider_options(self.fake))
        self._providers.append(provider)
        return provider

    def mutating_calls(self) -> int:
        return len(self.recorder.mutating())

    def all_calls(self) -> int:
        return len(self.recorder.calls)

    def read_back(self, spec: LoadBalancerSpec) -> list[ObservedLoadBalancer]:
        state = self.fake.state
        out = []
        for lb in state.loadbalancers.values():
            tags = tags_from_strings(lb["tags"])
            if ownership(tags, spec.ref) is not Ownership.MINE:
                continue
            listeners: dict[Key, frozenset[Endpoint]] = {}
            for listener in state.listeners.values():
                if listener["_lb"] == lb["id"]:
                    members = frozenset(
                        (m["address"], m["protocol_port"])
                        for m in state.members.values()
                        if m["_pool"] == listener["default_pool_id"]
                    )
                    listeners[(IPProtocol(listener["protocol"]), listener["protocol_port"])] = members
            external = any(f["port_id"] == lb["vip_port_id"] for f in state.floatingips.values())
            out.append(ObservedLoadBalancer(lb["id"], lb["name"], tags, listeners, internal=not external))
        return out

    def target_ops(self) -> list[TargetOp]:
        ops = []
        for call in self.recorder.calls:
            if call.members is not None:
                pool = call.path.rsplit("/", 2)[-2]
                ops.append(TargetOp(pool, "replace", call.members))
        return ops

    def resources(self) -> list[ResourceView]:
        state = self.fake.state
        return [
            ResourceView(kind, record["id"], record.get("name") or "", tags_from_strings(record.get("tags") or ()))
            for collection, kind in KINDS.items()
            for record in state.collection(collection).values()
        ]

    def create_foreign_lookalike(self, spec: LoadBalancerSpec, *, tags: Mapping[str, str]) -> str:
        """Planted through the API with a connection of its own, uncounted; each write settled at once."""
        name = self.make_provider().load_balancer_name(spec)
        strings = tags_to_strings(tags)
        with self.recorder.paused():
            conn = openstack.connection.Connection(**self.fake.connection_options())
            try:
                lb = conn.load_balancer.create_load_balancer(name=name, vip_subnet_id=self.fake.subnet_id, tags=strings)
                self.fake.state.complete_all()
                for i, listener in enumerate(spec.listeners):
                    made = conn.load_balancer.create_listener(
                        load_balancer_id=lb.id,
                        name=listener.name,
                        protocol=listener.protocol.value,
                        protocol_port=listener.port,
                        tags=strings,
                    )
                    self.fake.state.complete_all()
                    pool = conn.load_balancer.create_pool(
                        listener_id=made.id, protocol=listener.protocol.value, lb_algorithm="ROUND_ROBIN", tags=strings
                    )
                    self.fake.state.complete_all()
                    conn.load_balancer.create_member(pool, address="10.9.0.1", protocol_port=9000 + i, tags=strings)
                    self.fake.state.complete_all()
            finally:
                conn.close()
        self._foreign.append(str(lb.id))
        return str(lb.id)

    def foreign_state(self) -> object:
        state = self.fake.state
        snapshot: dict[str, Any] = {}
        for lb_id in self._foreign:
            snapshot[lb_id] = copy.deepcopy(state.loadbalancers.get(lb_id))
            for collection, record in state.children(lb_id):
                snapshot[record["id"]] = (collection, copy.deepcopy(record))
        return snapshot

    def fail_at_mutating_call(self, n: int, *, after: bool = False) -> None:
        self.recorder.fail_at(n, after=after)

    def clear_faults(self) -> None:
        self.recorder.clear_fault()

    def close(self) -> None:
        for provider in self._providers:
            provider.close()
        self.fake.stop()
        assert self.fake.server_errors == [], "the fake failed on a request:\n" + "\n".join(self.fake.server_errors)


def openstack_harness() -> OpenStackHarness:
    return OpenStackHarness()
