"""An in-memory "cloud" for tests: balancers with listeners, separate tagged pools of targets.

Where this sits: ``MemoryProvider`` (memory.py) drives it the way real providers drive ELBv2 or Octavia, and the
conformance suite reads its state back directly. It is shaped like ELBv2 where that makes providers honest: pools
(target groups) are resources of their own, listeners die with their balancer, a pool in use cannot be deleted,
and a target call takes at most ``max_batch`` targets. Names need not be unique, as in Octavia, so a provider that
finds resources by name instead of by tags adopts a look-alike and the suite sees it.

Every API call is recorded with whether it mutates, and a failure can be injected on the n-th call, before or after
its effect, to play a crash or a lost response.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from cloudlb.errors import ConflictError, NotFoundError, PermanentError, TemporaryError
from cloudlb.model import Protocol

Endpoint = tuple[str, int]  # (ip, port): a target as the cloud stores it
Key = tuple[Protocol, int]  # a listener's and a pool's identity: (protocol, port)

DEFAULT_MAX_BATCH = 200


class InjectedFailure(TemporaryError):
    """A failure planted by ``fail_at``: plays a crash of the caller or a lost response."""


@dataclass
class Pool:
    id: str
    name: str
    protocol: Protocol
    port: int
    tags: dict[str, str]
    settings: dict[str, Any]
    targets: set[Endpoint] = field(default_factory=set)

    @property
    def key(self) -> Key:
        return (self.protocol, self.port)


@dataclass
class CloudListener:
    id: str
    protocol: Protocol
    port: int
    pool_id: str

    @property
    def key(self) -> Key:
        return (self.protocol, self.port)


@dataclass
class Balancer:
    id: str
    name: str
    tags: dict[str, str]
    attributes: dict[str, Any]  # scheme, address and ip_families cannot change; source_ranges can
    listeners: dict[str, CloudListener] = field(default_factory=dict)


@dataclass(frozen=True)
class Call:
    name: str
    mutating: bool


@dataclass(frozen=True)
class TargetOp:
    """One register or deregister call as the cloud saw it, in order: the audit log the suite checks."""

    pool_id: str
    kind: Literal["register", "deregister"]
    targets: frozenset[Endpoint]


@dataclass
class _Fault:
    at: int  # the n-th qualifying call from when it was planted, 1-based
    mutating_only: bool
    after: bool  # True: the effect happens, then the response is lost


_UNMODIFIABLE = ("scheme", "address", "ip_families")


class MemoryCloud:
    """The fake cloud's state and API. Returned resources are copies: changing them changes nothing here."""

    def __init__(self, *, max_batch: int = DEFAULT_MAX_BATCH) -> None:
        self.max_batch = max_batch
        self.balancers: dict[str, Balancer] = {}
        self.pools: dict[str, Pool] = {}
        self.calls: list[Call] = []
        self.target_log: list[TargetOp] = []
        self._ids = itertools.count(1)
        self._addresses = (f"10.0.{n // 250}.{n % 250 + 1}" for n in itertools.count())
        self._fault: _Fault | None = None
        self._seen = 0

    # --- bookkeeping -------------------------------------------------------------------------------------------

    def mutating_calls(self) -> int:
        return sum(1 for call in self.calls if call.mutating)

    def fail_at(self, n: int, *, mutating_only: bool = True, after: bool = False) -> None:
        """Make the n-th call from now (counting only mutating ones by default) raise ``InjectedFailure``, once."""
        self._fault, self._seen = _Fault(at=n, mutating_only=mutating_only, after=after), 0

    def clear_fault(self) -> None:
        self._fault = None

    def _new_id(self, kind: str) -> str:
        return f"{kind}-{next(self._ids)}"

    def _record(self, name: str, *, mutating: bool) -> bool:
        """Count the call; raise now for a fault planted before the effect, or return True to raise after it."""
        self.calls.append(Call(name, mutating))
        fault = self._fault
        if fault is None or (fault.mutating_only and not mutating):
            return False
        self._seen += 1
        if self._seen < fault.at:
            return False
        self._fault = None
        if not fault.after:
            raise InjectedFailure(f"injected failure at {name} (call {fault.at})")
        return True

    def _done(self, lost: bool, name: str) -> None:
        if lost:
            raise InjectedFailure(f"injected failure after {name}: the response was lost")

    # --- reads -------------------------------------------------------------------------------------------------

    def describe_balancers(self, *, tags: Mapping[str, str] | None = None) -> list[Balancer]:
        """Balancers carrying every tag in ``tags`` (all of them when None), like a server-side tag filter."""
        self._record("describe_balancers", mutating=False)
        return [copy.deepcopy(b) for b in self.balancers.values() if _has_tags(b.tags, tags)]

    def describe_pools(self, *, tags: Mapping[str, str] | None = None) -> list[Pool]:
        self._record("describe_pools", mutating=False)
        return [copy.deepcopy(p) for p in self.pools.values() if _has_tags(p.tags, tags)]

    # --- balancers and listeners -------------------------------------------------------------------------------

    def create_balancer(
        self, *, name: str, tags: Mapping[str, str], attributes: Mapping[str, Any], address: str | None = None
    ) -> Balancer:
        lost = self._record("create_balancer", mutating=True)
        if address and any(b.attributes["address"] == address for b in self.balancers.values()):
            raise ConflictError(f"address {address} is in use")
        balancer = Balancer(
            id=self._new_id("lb"),
            name=name,
            tags=dict(tags),
            attributes={**attributes, "address": address or next(self._addresses)},
        )
        self.balancers[balancer.id] = balancer
        self._done(lost, "create_balancer")
        return copy.deepcopy(balancer)

    def modify_balancer(self, balancer_id: str, **attributes: Any) -> None:
        lost = self._record("modify_balancer", mutating=True)
        balancer = self._balancer(balancer_id)
        if fixed := sorted(set(attributes) & set(_UNMODIFIABLE)):
            raise PermanentError(f"cannot modify {', '.join(fixed)} of {balancer_id}")
        balancer.attributes.update(attributes)
        self._done(lost, "modify_balancer")

    def delete_balancer(self, balancer_id: str) -> None:
        """Deletes its listeners with it, as ELBv2 does."""
        lost = self._record("delete_balancer", mutating=True)
        self._balancer(balancer_id)
        del self.balancers[balancer_id]
        self._done(lost, "delete_balancer")

    def create_listener(self, balancer_id: str, *, protocol: Protocol, port: int, pool_id: str) -> CloudListener:
        lost = self._record("create_listener", mutating=True)
        balancer = self._balancer(balancer_id)
        self._pool(pool_id)
        if any(lst.key == (protocol, port) for lst in balancer.listeners.values()):
            raise ConflictError(f"{balancer_id} already listens on {protocol}/{port}")
        listener = CloudListener(self._new_id("listener"), protocol, port, pool_id)
        balancer.listeners[listener.id] = listener
        self._done(lost, "create_listener")
        return copy.deepcopy(listener)

    def modify_listener(self, balancer_id: str, listener_id: str, *, pool_id: str) -> None:
        lost = self._record("modify_listener", mutating=True)
        self._pool(pool_id)
        self._listener(balancer_id, listener_id).pool_id = pool_id
        self._done(lost, "modify_listener")

    def delete_listener(self, balancer_id: str, listener_id: str) -> None:
        lost = self._record("delete_listener", mutating=True)
        self._listener(balancer_id, listener_id)
        del self.balancers[balancer_id].listeners[listener_id]
        self._done(lost, "delete_listener")

    # --- pools and targets -------------------------------------------------------------------------------------

    def create_pool(
        self, *, name: str, protocol: Protocol, port: int, tags: Mapping[str, str], settings: Mapping[str, Any]
    ) -> Pool:
        lost = self._record("create_pool", mutating=True)
        pool = Pool(self._new_id("pool"), name, protocol, port, dict(tags), dict(settings))
        self.pools[pool.id] = pool
        self._done(lost, "create_pool")
        return copy.deepcopy(pool)

    def modify_pool(self, pool_id: str, **settings: Any) -> None:
        lost = self._record("modify_pool", mutating=True)
        self._pool(pool_id).settings.update(settings)
        self._done(lost, "modify_pool")

    def delete_pool(self, pool_id: str) -> None:
        lost = self._record("delete_pool", mutating=True)
        self._pool(pool_id)
        users = [b.id for b in self.balancers.values() for lst in b.listeners.values() if lst.pool_id == pool_id]
        if users:
            raise ConflictError(f"pool {pool_id} is in use by {', '.join(users)}")
        del self.pools[pool_id]
        self._done(lost, "delete_pool")

    def register_targets(self, pool_id: str, targets: Iterable[Endpoint]) -> None:
        self._change_targets("register", pool_id, frozenset(targets))

    def deregister_targets(self, pool_id: str, targets: Iterable[Endpoint]) -> None:
        self._change_targets("deregister", pool_id, frozenset(targets))

    def _change_targets(
        self, kind: Literal["register", "deregister"], pool_id: str, targets: frozenset[Endpoint]
    ) -> None:
        lost = self._record(f"{kind}_targets", mutating=True)
        pool = self._pool(pool_id)
        if not 0 < len(targets) <= self.max_batch:
            raise PermanentError(f"{kind}_targets takes 1 to {self.max_batch} targets, got {len(targets)}")
        if kind == "register":
            pool.targets |= targets
        else:
            pool.targets -= targets
        self.target_log.append(TargetOp(pool_id, kind, targets))
        self._done(lost, f"{kind}_targets")

    # --- tags --------------------------------------------------------------------------------------------------

    def tag_resource(self, resource_id: str, tags: Mapping[str, str]) -> None:
        lost = self._record("tag_resource", mutating=True)
        self._tagged(resource_id).update(tags)
        self._done(lost, "tag_resource")

    def _tagged(self, resource_id: str) -> dict[str, str]:
        if resource_id in self.pools:
            return self.pools[resource_id].tags
        return self._balancer(resource_id).tags

    def _balancer(self, balancer_id: str) -> Balancer:
        if balancer_id not in self.balancers:
            raise NotFoundError(f"load balancer {balancer_id} not found")
        return self.balancers[balancer_id]

    def _listener(self, balancer_id: str, listener_id: str) -> CloudListener:
        listeners = self._balancer(balancer_id).listeners
        if listener_id not in listeners:
            raise NotFoundError(f"listener {listener_id} not found on {balancer_id}")
        return listeners[listener_id]

    def _pool(self, pool_id: str) -> Pool:
        if pool_id not in self.pools:
            raise NotFoundError(f"pool {pool_id} not found")
        return self.pools[pool_id]


def _has_tags(tags: Mapping[str, str], wanted: Mapping[str, str] | None) -> bool:
    return wanted is None or all(tags.get(k) == v for k, v in wanted.items())
