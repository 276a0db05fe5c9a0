"""MemoryProvider: a complete, honest Provider over ``MemoryCloud``, for tests only (it is not shipped).

Where this sits: it proves the core (naming, capabilities, plan diffs) and the conformance suite before any real
cloud exists, and it is written the way real providers must be: it finds resources by ownership tags only, plans
read-only, applies changes in dependency order (pools, their targets, the balancer, listeners, then deletions),
calls the cloud only on drift, and changes targets by batched delta, registering before deregistering.

One walk over desired and actual state yields ``Step``s: a plan line and the calls that carry it out. ``plan()``
keeps the lines and ``ensure()`` runs the calls, so planning and applying cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from cloudlb.capabilities import check_supported
from cloudlb.errors import NotFoundError
from cloudlb.model import (
    Feature,
    Ingress,
    Listener,
    LoadBalancerSpec,
    LoadBalancerStatus,
    OwnedLoadBalancer,
    PortStatus,
    ServiceRef,
)
from cloudlb.naming import (
    CLUSTER_TAG,
    SERVICE_TAG,
    NameRules,
    Ownership,
    owner_of,
    ownership,
    ownership_tags,
    resource_name,
)
from cloudlb.plan import Action, Change, Plan, batched, field_drift, map_diff, set_diff
from tests.support.memory_cloud import Balancer, CloudListener, Endpoint, Key, MemoryCloud, Pool

__all__ = ["ALL_FEATURES", "MEMORY_NAME_RULES", "MemoryCloud", "MemoryProvider", "endpoints"]

ALL_FEATURES = frozenset(Feature)
MEMORY_NAME_RULES = NameRules(max_length=48)

Step = tuple[Change | None, Callable[[], None]]  # None: a call another change already stands for (a replace)


@dataclass
class _Observed:
    """What the cloud holds for one Service, found by tags and sorted by ``ownership``."""

    balancer: Balancer | None = None
    duplicates: list[Balancer] = field(default_factory=list)  # also ours: left by a crash mid-replace
    pools: dict[Key, Pool] = field(default_factory=dict)
    duplicate_pools: list[Pool] = field(default_factory=list)
    stale: list[Balancer] = field(default_factory=list)  # a previous incarnation's (another uid)
    stale_pools: list[Pool] = field(default_factory=list)


@dataclass
class _Ids:
    """Cloud ids that become known only while applying (a pool or balancer created earlier in the same run)."""

    pools: dict[Key, str] = field(default_factory=dict)
    balancer: str = ""


class MemoryProvider:
    """A Provider over a ``MemoryCloud``; narrow ``capabilities`` to test unsupported specs."""

    def __init__(
        self, cloud: MemoryCloud | None = None, *, name: str = "memory", capabilities: frozenset[Feature] = ALL_FEATURES
    ) -> None:
        self.cloud = cloud if cloud is not None else MemoryCloud()
        self.name = name
        self._capabilities = frozenset(capabilities)

    @property
    def capabilities(self) -> frozenset[Feature]:
        return self._capabilities

    def load_balancer_name(self, spec: LoadBalancerSpec) -> str:
        return resource_name(spec.ref, MEMORY_NAME_RULES)

    def pool_name(self, spec: LoadBalancerSpec, key: Key) -> str:
        return resource_name(spec.ref, MEMORY_NAME_RULES, key[0].value.lower(), str(key[1]))

    # --- the Provider interface --------------------------------------------------------------------------------

    def plan(self, spec: LoadBalancerSpec) -> Plan:
        check_supported(self.name, self.capabilities, spec)
        steps = self._steps(spec, self._observe(spec.ref, desired=spec))
        return Plan(self.load_balancer_name(spec), tuple(change for change, _ in steps if change))

    def ensure(self, spec: LoadBalancerSpec) -> LoadBalancerStatus:
        check_supported(self.name, self.capabilities, spec)
        for _, run in self._steps(spec, self._observe(spec.ref, desired=spec)):
            run()
        status = self.get(spec)
        if status is None:  # only a concurrent delete gets here
            raise NotFoundError(f"the load balancer of {spec.ref} vanished while it was being ensured")
        return status

    def update_targets(self, spec: LoadBalancerSpec) -> None:
        check_supported(self.name, self.capabilities, spec)
        observed, ids = self._observe(spec.ref), _Ids()
        steps: list[Step] = []
        for listener in spec.listeners:
            pool = observed.pools.get(listener.key)
            if pool is None:
                raise NotFoundError(f"{spec.ref} has no pool for {_label(listener.key)}: ensure it first")
            ids.pools[listener.key] = pool.id
            steps += self._target_steps(ids, listener, pool.name, frozenset(pool.targets))
        for _, run in steps:
            run()

    def get(self, spec: LoadBalancerSpec) -> LoadBalancerStatus | None:
        balancer = self._observe(spec.ref).balancer
        return None if balancer is None else _status(balancer)

    def delete(self, spec: LoadBalancerSpec | OwnedLoadBalancer) -> bool:
        # Only what is MINE: a stale uid may be the live Service's when ``spec`` is an old incarnation from gc.
        observed = self._observe(spec.ref)
        balancers = ([observed.balancer] if observed.balancer else []) + observed.duplicates
        pools = [*observed.pools.values(), *observed.duplicate_pools]
        for balancer in balancers:  # listeners go with their balancer, which frees the pools
            self.cloud.delete_balancer(balancer.id)
        for pool in pools:
            self.cloud.delete_pool(pool.id)
        return bool(balancers or pools)

    def list_owned(self, cluster: str) -> list[OwnedLoadBalancer]:
        owned = []
        for balancer in self.cloud.describe_balancers(tags={CLUSTER_TAG: cluster}):
            owner = owner_of(balancer.tags)
            if owner is not None and owner.cluster == cluster:
                owned.append(
                    OwnedLoadBalancer(
                        cluster=owner.cluster,
                        namespace=owner.namespace,
                        name=owner.name,
                        uid=owner.uid,
                        cloud_name=balancer.name,
                        cloud_id=balancer.id,
                    )
                )
        return sorted(owned, key=lambda o: (o.namespace, o.name, o.cloud_id))

    # --- observe -----------------------------------------------------------------------------------------------

    def _observe(self, ref: ServiceRef, *, desired: LoadBalancerSpec | None = None) -> _Observed:
        """The tag filter only narrows the listing; ``ownership`` decides what is ours. Names never do."""
        query = {CLUSTER_TAG: ref.cluster, SERVICE_TAG: ref.service}
        balancers = self.cloud.describe_balancers(tags=query)
        pools = self.cloud.describe_pools(tags=query)
        mine = [b for b in balancers if ownership(b.tags, ref) is Ownership.MINE]
        # Two of ours means a replace was cut short: keep the one whose fixed attributes already match.
        mine.sort(key=lambda b: (desired is not None and bool(_fixed_drift(desired, b)), b.id))
        observed = _Observed(
            balancer=mine[0] if mine else None,
            duplicates=mine[1:],
            stale=[b for b in balancers if ownership(b.tags, ref) is Ownership.STALE],
            stale_pools=[p for p in pools if ownership(p.tags, ref) is Ownership.STALE],
        )
        for pool in sorted(pools, key=lambda p: p.id):
            if ownership(pool.tags, ref) is not Ownership.MINE:
                continue
            if pool.key in observed.pools:
                observed.duplicate_pools.append(pool)
            else:
                observed.pools[pool.key] = pool
        return observed

    # --- plan and apply ----------------------------------------------------------------------------------------

    def _steps(self, spec: LoadBalancerSpec, observed: _Observed) -> list[Step]:
        lb_name = self.load_balancer_name(spec)
        tags = {**spec.tags, **ownership_tags(spec.ref)}
        wanted = {listener.key for listener in spec.listeners}
        ids = _Ids()
        steps: list[Step] = []
        for listener in spec.listeners:
            steps += self._pool_steps(ids, spec, listener, observed.pools.get(listener.key), tags)

        balancer = observed.balancer
        replaced = balancer if balancer is not None and _fixed_drift(spec, balancer) else None
        actual: dict[Key, CloudListener] = {}
        if balancer is None or replaced is not None:
            fields = _fixed_drift(spec, replaced) if replaced else {k: (None, v) for k, v in _attributes(spec).items()}
            action = Action.REPLACE if replaced else Action.CREATE
            change = Change(action, "load-balancer", lb_name, fields=fields)
            steps.append((change, partial(self._create_balancer, ids, spec, lb_name, tags)))
        else:
            ids.balancer = balancer.id
            drift = field_drift(_mutable(spec), balancer.attributes)
            if drift:
                change = Change(Action.UPDATE, "load-balancer", lb_name, fields=drift)
                steps.append((change, partial(self.cloud.modify_balancer, balancer.id, **_mutable(spec))))
            steps += self._tag_steps("load-balancer", lb_name, balancer.id, tags, balancer.tags)
            actual = {lst.key: lst for lst in balancer.listeners.values()}
        steps += self._listener_steps(ids, spec, wanted, actual, observed.pools)

        # Deletions last, in reverse dependency order: balancers (and their listeners), then the pools they used.
        for extra in ([replaced] if replaced else []) + observed.duplicates + observed.stale:
            reason = f"{extra.id} is stale or a duplicate"
            line = None if extra is replaced else Change(Action.DELETE, "load-balancer", extra.name, reason=reason)
            steps.append((line, partial(self.cloud.delete_balancer, extra.id)))
        unwanted = [p for k, p in observed.pools.items() if k not in wanted]
        for pool in unwanted + observed.duplicate_pools + observed.stale_pools:
            change = Change(Action.DELETE, "pool", pool.name, reason=f"{pool.id} serves no listener of the spec")
            steps.append((change, partial(self.cloud.delete_pool, pool.id)))
        return steps

    def _pool_steps(
        self, ids: _Ids, spec: LoadBalancerSpec, listener: Listener, pool: Pool | None, tags: Mapping[str, str]
    ) -> list[Step]:
        name, settings = self.pool_name(spec, listener.key), _settings(spec)
        if pool is None:
            change = Change(Action.CREATE, "pool", name, fields={k: (None, v) for k, v in settings.items()})
            create = partial(self._create_pool, ids, listener.key, name, tags, settings)
            return [(change, create), *self._target_steps(ids, listener, name, frozenset())]
        ids.pools[listener.key] = pool.id
        steps: list[Step] = []
        drift = field_drift(settings, pool.settings)
        if drift:
            steps.append(
                (
                    Change(Action.UPDATE, "pool", name, fields=drift),
                    partial(self.cloud.modify_pool, pool.id, **settings),
                )
            )
        steps += self._tag_steps("pool", name, pool.id, tags, pool.tags)
        return steps + self._target_steps(ids, listener, name, frozenset(pool.targets))

    def _target_steps(self, ids: _Ids, listener: Listener, name: str, actual: frozenset[Endpoint]) -> list[Step]:
        diff = set_diff(endpoints(listener), actual)
        if not diff:
            return []

        def run() -> None:
            pool_id = ids.pools[listener.key]
            # New targets first, so the pool never shrinks below what it will end up serving.
            for chunk in batched(diff.add, self.cloud.max_batch):
                self.cloud.register_targets(pool_id, chunk)
            for chunk in batched(diff.remove, self.cloud.max_batch):
                self.cloud.deregister_targets(pool_id, chunk)

        added, removed = (tuple(f"{ip}:{port}" for ip, port in sorted(s)) for s in (diff.add, diff.remove))
        return [(Change(Action.UPDATE, "pool", name, added=added, removed=removed), run)]

    def _listener_steps(
        self,
        ids: _Ids,
        spec: LoadBalancerSpec,
        wanted: set[Key],
        actual: dict[Key, CloudListener],
        pools: dict[Key, Pool],
    ) -> list[Step]:
        steps: list[Step] = []
        for key in sorted(wanted, key=_label):
            pool_name = self.pool_name(spec, key)
            if key not in actual:
                change = Change(Action.CREATE, "listener", _label(key), fields={"pool": (None, pool_name)})
                steps.append((change, partial(self._create_listener, ids, key)))
            elif key not in pools or actual[key].pool_id != pools[key].id:
                change = Change(
                    Action.UPDATE, "listener", _label(key), fields={"pool": (actual[key].pool_id, pool_name)}
                )
                steps.append((change, partial(self._retarget_listener, ids, actual[key].id, key)))
        for key in sorted(set(actual) - wanted, key=_label):
            change = Change(Action.DELETE, "listener", _label(key))
            steps.append((change, partial(self.cloud.delete_listener, ids.balancer, actual[key].id)))
        return steps

    def _tag_steps(
        self, kind: str, name: str, resource_id: str, desired: Mapping[str, str], actual: Mapping[str, str]
    ) -> list[Step]:
        # Keys outside ``desired`` may be someone else's: they are neither changed nor removed.
        diff = map_diff(desired, actual, ignore=lambda key: key not in desired)
        if not diff:
            return []
        fields = {f"tags[{item.key}]": (item.old, item.new) for item in diff.items()}
        return [
            (
                Change(Action.UPDATE, kind, name, fields=fields),
                partial(self.cloud.tag_resource, resource_id, dict(diff.set)),
            )
        ]

    # --- calls that record ids for later steps -----------------------------------------------------------------

    def _create_pool(
        self, ids: _Ids, key: Key, name: str, tags: Mapping[str, str], settings: Mapping[str, Any]
    ) -> None:
        pool = self.cloud.create_pool(name=name, protocol=key[0], port=key[1], tags=tags, settings=settings)
        ids.pools[key] = pool.id

    def _create_balancer(self, ids: _Ids, spec: LoadBalancerSpec, name: str, tags: Mapping[str, str]) -> None:
        attributes = {k: v for k, v in _attributes(spec).items() if k != "address"}
        balancer = self.cloud.create_balancer(
            name=name, tags=tags, attributes=attributes, address=spec.load_balancer_ip
        )
        ids.balancer = balancer.id

    def _create_listener(self, ids: _Ids, key: Key) -> None:
        self.cloud.create_listener(ids.balancer, protocol=key[0], port=key[1], pool_id=ids.pools[key])

    def _retarget_listener(self, ids: _Ids, listener_id: str, key: Key) -> None:
        self.cloud.modify_listener(ids.balancer, listener_id, pool_id=ids.pools[key])


def endpoints(listener: Listener) -> frozenset[Endpoint]:
    """A listener's targets as the cloud stores them."""
    return frozenset((target.ip, target.port) for target in listener.targets)


def _settings(spec: LoadBalancerSpec) -> dict[str, Any]:
    return {
        "algorithm": spec.algorithm,
        "health_check": spec.health_check,
        "session_affinity": spec.session_affinity,
        "affinity_timeout": spec.affinity_timeout,
        "proxy_protocol": spec.proxy_protocol,
    }


def _fixed(spec: LoadBalancerSpec) -> dict[str, Any]:
    """Attributes the cloud cannot modify: a change means create-new-then-delete-old."""
    fixed: dict[str, Any] = {"scheme": spec.scheme, "ip_families": spec.ip_families}
    if spec.load_balancer_ip:  # otherwise the cloud picks the address, and any one will do
        fixed["address"] = spec.load_balancer_ip
    return fixed


def _mutable(spec: LoadBalancerSpec) -> dict[str, Any]:
    return {"source_ranges": tuple(sorted(spec.source_ranges))}


def _attributes(spec: LoadBalancerSpec) -> dict[str, Any]:
    return _fixed(spec) | _mutable(spec)


def _fixed_drift(spec: LoadBalancerSpec, balancer: Balancer) -> dict[str, tuple[Any, Any]]:
    return field_drift(_fixed(spec), balancer.attributes)


def _label(key: Key) -> str:
    return f"{key[0].value}/{key[1]}"


def _status(balancer: Balancer) -> LoadBalancerStatus:
    ports = tuple(
        PortStatus(port=lst.port, protocol=lst.protocol)
        for lst in sorted(balancer.listeners.values(), key=lambda lst: _label(lst.key))
    )
    ingress = Ingress(ip=balancer.attributes["address"], ports=ports)
    return LoadBalancerStatus(ingress=(ingress,), cloud_name=balancer.name, cloud_id=balancer.id)
