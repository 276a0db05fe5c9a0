"""One Service's part of a shared load balancer: compare it with ARM's view, and rewrite only that part.

Where this sits: ``converge(current, want, ...)`` is pure. Given the balancer as ARM last showed it (or None) and
the Service's desired ``Slice`` (or None, to remove the Service), it answers the plan's changes and the one write
that makes them: nothing, a PUT of the backend pool alone (only its members changed), a PUT of the whole balancer,
or the balancer's deletion (its last Service is gone and nothing foreign is left on it). The provider's step calls
it again on the balancer as re-read after a 412, so a concurrent change to another Service's part, made between
our read and our write, is kept: every write is a read-modify-write under ``If-Match``.

What is the Service's: the children whose names have the shape of its base (names.py) while the balancer's record
for that base names the Service (or nothing of it exists yet). The node pool is the cluster's: it follows the
node set of the Service being ensured (every node-mode Service of a cluster sees the same nodes), and goes when no
rule uses it. Everything else on the balancer is left exactly as read.
"""

from __future__ import annotations

import copy
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from cloudlb.errors import ConflictError, PermanentError
from cloudlb.model import ServiceRef
from cloudlb.naming import Ownership, ownership
from cloudlb.plan import Action, Change, field_drift
from cloudlb_azure.desired import Slice, pool_body
from cloudlb_azure.names import NODE_POOL, belongs_to, cluster_tag_key, record_base, record_owner

__all__ = [
    "COLLECTIONS",
    "AzureLimits",
    "LbWrite",
    "addresses",
    "converge",
    "frontend_address",
    "is_cluster_lb",
    "records",
    "slice_ownership",
]

Json = dict[str, Any]
FRONTENDS, POOLS, PROBES, RULES = "frontendIPConfigurations", "backendAddressPools", "probes", "loadBalancingRules"
COLLECTIONS = (FRONTENDS, POOLS, PROBES, RULES, "inboundNatRules", "outboundRules", "inboundNatPools")
_KIND = {FRONTENDS: "frontend", PROBES: "probe", RULES: "rule", POOLS: "backend-pool"}


@dataclass(frozen=True, slots=True)
class AzureLimits:
    """Azure's published limits for a Standard Load Balancer, checked before each write."""

    frontends_per_lb: int = 600
    rules_per_lb: int = 1500
    addresses_per_pool: int = 5000
    tags_per_resource: int = 50
    rules_per_security_group: int = 1000


@dataclass
class LbWrite:
    """The outcome of ``converge``: the changes to show, and the one write that makes them."""

    changes: list[Change] = field(default_factory=list)
    action: Literal["none", "pool", "put", "delete"] = "none"
    body: Json | None = None  # the balancer for "put", the pool for "pool"

    @property
    def targets_only(self) -> bool:
        return self.action == "pool"


def is_cluster_lb(lb: Mapping[str, Any], cluster: str) -> bool:
    return (lb.get("tags") or {}).get(cluster_tag_key()) == cluster


def records(lb: Mapping[str, Any] | None) -> dict[str, str]:
    """base -> record value, for every Service recorded on ``lb``."""
    out = {}
    for key, value in ((lb or {}).get("tags") or {}).items():
        base = record_base(key)
        if base is not None:
            out[base] = str(value)
    return out


def _children(lb: Mapping[str, Any] | None, collection: str) -> list[Json]:
    return list(((lb or {}).get("properties") or {}).get(collection) or [])


def _find(items: Iterable[Mapping[str, Any]], name: str) -> Json | None:
    return next((dict(item) for item in items if str(item.get("name", "")).lower() == name.lower()), None)


def slice_ownership(lb: Mapping[str, Any] | None, base: str, ref: ServiceRef) -> Ownership | None:
    """Whose the children of ``base`` on ``lb`` are: None when nothing of them exists, MINE/STALE for ``ref``'s
    (current or earlier incarnation), FOREIGN when they exist without a record naming ``ref``'s Service."""
    value = records(lb).get(base)
    if value is not None:
        return ownership(record_owner(ref.cluster, value), ref)
    used = any(
        belongs_to(str(item.get("name", "")), base)
        for c in (FRONTENDS, POOLS, PROBES, RULES)
        for item in _children(lb, c)
    )
    return Ownership.FOREIGN if used else None


def addresses(pool: Mapping[str, Any] | None) -> frozenset[str]:
    entries = ((pool or {}).get("properties") or {}).get("loadBalancerBackendAddresses") or []
    return frozenset(str(e.get("properties", {}).get("ipAddress")) for e in entries if e.get("properties"))


def frontend_address(lb: Mapping[str, Any] | None, base: str) -> str | None:
    found = _find(_children(lb, FRONTENDS), base)
    return None if found is None else found.get("properties", {}).get("privateIPAddress")


def _norm(value: Any) -> Any:
    """For comparison only: ids without regard to case (ARM's rule), and an empty list as absent."""
    if isinstance(value, Mapping):
        return {k: (str(v).lower() if k == "id" and v else _norm(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_norm(v) for v in value] or None
    return value


def _shown(value: Any) -> Any:
    """A field as a plan shows it: a reference by the name at the end of its id."""
    if isinstance(value, Mapping) and set(value) == {"id"}:
        return str(value["id"]).rsplit("/", 1)[-1]
    if isinstance(value, list):
        return [_shown(v) for v in value]
    return value


def drift(desired: Mapping[str, Any], actual: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    found = field_drift(_norm(dict(desired)), _norm(dict(actual)))
    return {key: (_shown(actual.get(key)), _shown(desired.get(key))) for key in found}


def converge(
    current: Json | None,
    want: Slice | None,
    *,
    ref: ServiceRef,
    base: str,
    lb: str,
    skeleton: Json,
    vnet_id: str | None,
    limits: AzureLimits,
    targets_only: bool = False,
) -> LbWrite:
    """The changes that bring ``ref``'s part of ``current`` to ``want`` (None: remove it), and the write."""
    out = LbWrite()
    if current is not None and slice_ownership(current, base, ref) is Ownership.FOREIGN:
        raise ConflictError(
            f"{lb}: the frontend {base} and its rules are not recorded as Service {ref.service}'s; cloudlb leaves them"
        )
    if targets_only:
        return _pool_only(current, want, out, vnet_id)
    new = copy.deepcopy(current) if current is not None else copy.deepcopy(skeleton)
    if current is None and want is None:
        return out
    if current is None:
        out.changes.append(
            Change(Action.CREATE, "load-balancer", lb, reason=f"the first Service of cluster {ref.cluster}")
        )
    props = new["properties"] = dict(new.get("properties") or {})
    tags = new["tags"] = dict(new.get("tags") or {})
    # This Service's children go; the wanted ones come back below. Order among the others is kept.
    old = {
        c: [dict(i) for i in _children(current, c) if belongs_to(str(i.get("name", "")), base)]
        for c in (FRONTENDS, PROBES, RULES, POOLS)
    }
    for collection in (FRONTENDS, PROBES, RULES, POOLS):
        props[collection] = [i for i in _children(new, collection) if not belongs_to(str(i.get("name", "")), base)]
    record_key = next((k for k in list(tags) if record_base(k) == base), None)
    old_record = tags.pop(record_key, None) if record_key else None
    if want is not None:
        key, value = want.record
        tags[key] = value
        if old_record is not None and old_record != value:
            out.changes.append(Change(Action.UPDATE, "record", f"{lb}/{base}", fields={"owner": (old_record, value)}))
        _upsert(out, props, FRONTENDS, old[FRONTENDS], [want.frontend])
        _upsert(out, props, PROBES, old[PROBES], list(want.probes))
        _upsert(out, props, RULES, old[RULES], list(want.rules))
        _pool(out, props, want, vnet_id, old[POOLS])
    else:
        for collection in (FRONTENDS, RULES, PROBES, POOLS):
            for item in old[collection]:
                out.changes.append(Change(Action.DELETE, _KIND[collection], str(item["name"])))
    if not out.changes:
        return out
    _drop_unused_node_pool(out, props)
    if want is None and _empty(new):
        out.changes.append(Change(Action.DELETE, "load-balancer", lb, reason="its last Service is gone"))
        out.action = "delete"
        return out
    _check_limits(new, lb, limits)
    only_pool = all(change.resource == "backend-pool" and change.action is Action.UPDATE for change in out.changes)
    if only_pool and want is not None:
        out.action, out.body = "pool", _find(props[POOLS], want.pool)
    else:
        out.action, out.body = "put", new
    return out


def _upsert(out: LbWrite, props: Json, collection: str, old: Sequence[Json], wanted: Sequence[Json]) -> None:
    kind = _KIND[collection]
    for item in wanted:
        have = _find(old, item["name"])
        if have is None:
            shown = {k: (None, _shown(v)) for k, v in item["properties"].items() if v is not None}
            out.changes.append(Change(Action.CREATE, kind, item["name"], fields=shown))
            props[collection].append(copy.deepcopy(item))
            continue
        found = drift(item["properties"], have.get("properties", {}))
        if found:
            out.changes.append(Change(Action.UPDATE, kind, item["name"], fields=found))
            props[collection].append(copy.deepcopy(item))
        else:
            props[collection].append(have)  # unchanged: written back exactly as read
    names = {item["name"].lower() for item in wanted}
    for item in old:
        if str(item["name"]).lower() not in names:
            out.changes.append(Change(Action.DELETE, kind, str(item["name"])))


def _pool(out: LbWrite, props: Json, want: Slice, vnet_id: str | None, own_pools: Sequence[Json]) -> None:
    """The Service's pool: the shared node pool, or its own pod pool (a leftover own pool goes)."""
    for item in own_pools:
        if item["name"].lower() != want.pool.lower():
            out.changes.append(Change(Action.DELETE, "backend-pool", str(item["name"])))
        else:
            props[POOLS].append(item)
    pools = props[POOLS]
    have = _find(pools, want.pool)
    body = pool_body(want.pool, want.pool_ips, vnet_id if want.pool_ips else None)
    if have is None:
        added = tuple(sorted(want.pool_ips, key=ipaddress.ip_address))
        out.changes.append(Change(Action.CREATE, "backend-pool", want.pool, added=added))
        pools.append(body)
        return
    actual = addresses(have)
    if actual == want.pool_ips:
        return
    added = tuple(sorted(want.pool_ips - actual, key=ipaddress.ip_address))
    removed = tuple(sorted(actual - want.pool_ips, key=ipaddress.ip_address))
    out.changes.append(Change(Action.UPDATE, "backend-pool", want.pool, added=added, removed=removed))
    index = next(i for i, item in enumerate(pools) if str(item["name"]).lower() == want.pool.lower())
    pools[index] = {**have, "name": have["name"], "properties": {**have.get("properties", {}), **body["properties"]}}


def _pool_only(current: Json | None, want: Slice | None, out: LbWrite, vnet_id: str | None) -> LbWrite:
    have = _find(_children(current, POOLS), want.pool) if want is not None else None
    if want is None or have is None:
        return out
    actual = addresses(have)
    if actual == want.pool_ips:
        return out
    added = tuple(sorted(want.pool_ips - actual, key=ipaddress.ip_address))
    removed = tuple(sorted(actual - want.pool_ips, key=ipaddress.ip_address))
    out.changes.append(Change(Action.UPDATE, "backend-pool", want.pool, added=added, removed=removed))
    body = pool_body(want.pool, want.pool_ips, vnet_id if want.pool_ips else None)
    out.action, out.body = "pool", {**have, "properties": {**have.get("properties", {}), **body["properties"]}}
    return out


def _drop_unused_node_pool(out: LbWrite, props: Json) -> None:
    """The node pool is cloudlb's alone to remove, and only when a change of ours left it without a rule."""
    used = any(
        str(p.get("id", "")).lower().endswith(f"/backendaddresspools/{NODE_POOL}")
        for rule in props.get(RULES, [])
        for p in rule.get("properties", {}).get("backendAddressPools") or []
    )
    if used or _find(props.get(POOLS, []), NODE_POOL) is None:
        return
    props[POOLS] = [p for p in props[POOLS] if str(p.get("name", "")).lower() != NODE_POOL]
    out.changes[:] = [c for c in out.changes if not (c.resource == "backend-pool" and c.name == NODE_POOL)]
    out.changes.append(Change(Action.DELETE, "backend-pool", NODE_POOL, reason="no rule uses it any more"))


def _empty(lb: Json) -> bool:
    """Nothing recorded and nothing foreign left: only cloudlb's (now unused) parts, if anything."""
    if records(lb):
        return False
    return not any(_children(lb, collection) for collection in COLLECTIONS)


def _check_limits(lb: Json, name: str, limits: AzureLimits) -> None:
    checks = (
        (len(_children(lb, FRONTENDS)), limits.frontends_per_lb, "frontend IP configurations"),
        (len(_children(lb, RULES)), limits.rules_per_lb, "load-balancing rules"),
        (len(lb.get("tags") or {}), limits.tags_per_resource, "tags (one records each Service)"),
        (
            max((len(addresses(p)) for p in _children(lb, POOLS)), default=0),
            limits.addresses_per_pool,
            "addresses in a pool",
        ),
    )
    for count, limit, what in checks:
        if count > limit:
            raise PermanentError(f"{name}: this change would need {count} {what}; Azure allows {limit}")
