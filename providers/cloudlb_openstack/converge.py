"""Desired versus observed, field group by field group: the steps of one ensure, for what drifted only.

Where this sits: the provider observes (observe.py), builds the desired load balancer (desired.py) and calls
``converge``; the steps come from steps.py and floating.py. The order, chosen so that traffic always has somewhere to
go and a crash anywhere leaves nothing a rerun cannot find by tags:

 1. stale load balancers (an earlier Service of the same name, another uid) are deleted, with cascade;
 2. a new load balancer is created when none of the Service's matches the spec's unmodifiable fields (VIP subnet,
    VIP address, flavor, availability zone): that replaces the old one, which goes last;
 3. per port: a new listener, pool, members and monitor; or drift on the kept ones (a pool whose protocol changes
    is replaced: the new one is built and filled detached, the listener switched to it, then the old one deleted);
    members change by one batch PUT per pool, only when the set differs;
 4. listeners and pools no longer wanted are deleted, then the load balancer's own name, description and tags;
 5. the floating IP (floating.py);
 6. the Service's other load balancers (replaced, or duplicates a crash left) are deleted.

A converged Service yields no step: a second ensure makes no write. Resources of this load balancer without the
Service's tags are never changed; one that holds a port the Service needs is a ``ConflictError``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from cloudlb.errors import ConflictError
from cloudlb.naming import tags_to_strings
from cloudlb.plan import field_drift, set_diff
from cloudlb_openstack import steps as st
from cloudlb_openstack.desired import DesiredListener, DesiredLoadBalancer
from cloudlb_openstack.floating import floating_ip_steps
from cloudlb_openstack.observe import Observation
from cloudlb_openstack.records import ListenerRecord, LoadBalancerRecord, PoolRecord
from cloudlb_openstack.steps import Context, OsStep
from cloudlb_openstack.tagging import tag_drift

__all__ = ["converge", "converge_targets", "immutable_of"]

log = logging.getLogger("cloudlb.openstack")

STALE = "left by an earlier Service with another uid"


def immutable_of(lb: LoadBalancerRecord) -> dict[str, Any]:
    return {
        "vip_subnet_id": lb.vip_subnet_id,
        "vip_address": lb.vip_address,
        "flavor_id": lb.flavor_id,
        "availability_zone": lb.availability_zone,
    }


def converge(
    desired: DesiredLoadBalancer, observed: Observation, *, network_id: str | None
) -> tuple[list[OsStep], Context]:
    """The steps that bring ``observed`` to ``desired``, and the context they fill in as they run."""
    ctx = Context(desired.name, lb=observed.kept)
    out = [st.delete_load_balancer(lb, reason=STALE) for lb in observed.load_balancers.stale]
    replaced = observed.replaced
    first: list[LoadBalancerRecord] = []
    if observed.kept is None:
        if replaced:
            # Octavia gives an address to one load balancer at a time: one pinned by the spec moves first.
            first = [lb for lb in replaced if desired.vip_address and lb.vip_address == desired.vip_address]
            out += [st.delete_load_balancer(lb, reason="its VIP address goes to the new one") for lb in first]
            drift = field_drift(desired.immutable(), immutable_of(replaced[0]))
            reason = "replaces " + ", ".join(lb.label for lb in replaced)
            out.append(st.create_load_balancer(desired, ctx, reason=reason, replaces=drift))
        else:
            out.append(st.create_load_balancer(desired, ctx, reason="no load balancer is tagged for this Service"))
        for listener in desired.listeners:
            out += _new_port(listener, ctx)
    else:
        out += _port_steps(desired, observed, ctx)
        out += _load_balancer_steps(desired, observed.kept, ctx)
    out += floating_ip_steps(desired, observed, ctx, network_id=network_id)
    why = f"replaced by the new {desired.name}" if observed.kept is None else "a duplicate of the kept load balancer"
    out += [st.delete_load_balancer(lb, reason=why) for lb in replaced if lb not in first]
    return out, ctx


def converge_targets(desired: DesiredLoadBalancer, observed: Observation) -> tuple[list[OsStep], Context]:
    """Only the member changes of the pools that exist (``update_targets``); the rest is left for ensure."""
    ctx = Context(desired.name, lb=observed.kept)
    listeners = {(item.protocol, item.port): item for item in observed.listeners}
    pools = {pool.id: pool for pool in observed.pools}
    out: list[OsStep] = []
    for listener in desired.listeners:
        have = listeners.get(listener.key)
        pool = pools.get(have.default_pool_id or "") if have is not None else None
        if pool is not None and pool.protocol == listener.pool.protocol and observed.owns(pool.tags):
            ctx.pool_ids[listener.key] = pool.id
            out += _member_steps(listener, pool, observed, ctx)
    return out, ctx


def _new_port(listener: DesiredListener, ctx: Context) -> list[OsStep]:
    out = [st.create_listener(listener, ctx), st.create_pool(listener, ctx, attach=True)]
    return out + _fill(listener, ctx)


def _fill(listener: DesiredListener, ctx: Context) -> list[OsStep]:
    """The members and monitor of a pool being built."""
    pool = listener.pool
    out = []
    if pool.members:
        out.append(st.put_members(listener, pool, ctx, added=pool.members, new_pool=True))
    if pool.monitor is not None:
        out.append(st.create_monitor(listener, pool.monitor, ctx))
    return out


def _port_steps(desired: DesiredLoadBalancer, observed: Observation, ctx: Context) -> list[OsStep]:
    listeners = {(item.protocol, item.port): item for item in observed.listeners}
    pools = {pool.id: pool for pool in observed.pools}
    used: set[str] = set()
    out: list[OsStep] = []
    for listener in desired.listeners:
        have = listeners.get(listener.key)
        if have is None:
            out += _new_port(listener, ctx)
            continue
        if not observed.owns(have.tags):
            raise ConflictError(f"listener {have.id} on {listener.protocol}-{listener.port} is not this Service's")
        ctx.listener_ids[listener.key] = have.id
        out += _listener_drift(listener, have, ctx)
        pool = pools.get(have.default_pool_id or "")
        if pool is not None and not observed.owns(pool.tags):
            raise ConflictError(f"pool {pool.id} of listener {have.id} is not this Service's")
        if pool is None:
            out.append(st.create_pool(listener, ctx, attach=True))
            out += _fill(listener, ctx)
        elif pool.protocol != listener.pool.protocol:
            used.add(pool.id)
            out.append(
                st.create_pool(
                    listener, ctx, attach=False, replaces={"protocol": (pool.protocol, listener.pool.protocol)}
                )
            )
            out += _fill(listener, ctx)
            out.append(st.point_listener(listener, have.id, ctx))
            out.append(st.delete_pool(pool, ctx, show=False))
        else:
            used.add(pool.id)
            ctx.pool_ids[listener.key] = pool.id
            out += _pool_drift(listener, pool, ctx)
            out += _monitor_steps(listener, pool, observed, ctx)
            out += _member_steps(listener, pool, observed, ctx)
    wanted = {listener.key for listener in desired.listeners}
    for have in observed.listeners:
        if (have.protocol, have.port) in wanted or not observed.owns(have.tags):
            continue
        out.append(st.delete_listener(have, ctx))
        pool = pools.get(have.default_pool_id or "")
        if pool is not None and observed.owns(pool.tags):
            used.add(pool.id)
            out.append(st.delete_pool(pool, ctx, reason=f"its listener {have.protocol}-{have.port} goes"))
    for pool in observed.pools:
        if pool.id not in used and observed.owns(pool.tags):
            out.append(st.delete_pool(pool, ctx, reason="no listener uses it"))
    return out


def _changes(
    drift: Mapping[str, tuple[Any, Any]], desired_tags: Mapping[str, str], actual_tags: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, tuple[Any, Any]]]:
    """The PUT body for a field drift plus a tag drift, and what the plan shows of it."""
    body = {key: new for key, (_, new) in drift.items()}
    shown = dict(drift)
    tags = tag_drift(desired_tags, actual_tags)
    if tags:
        body["tags"] = tags_to_strings(tags.apply(actual_tags))
        shown.update({f"tags.{item.key}": (item.old, item.new) for item in tags.items()})
    return body, shown


def _listener_drift(listener: DesiredListener, have: ListenerRecord, ctx: Context) -> list[OsStep]:
    want = {"name": listener.name, "allowed_cidrs": listener.allowed_cidrs}
    body, shown = _changes(
        field_drift(want, {"name": have.name, "allowed_cidrs": have.allowed_cidrs}), listener.tags, have.tags
    )
    if not body:
        return []
    if "allowed_cidrs" in body:
        body["allowed_cidrs"] = list(body["allowed_cidrs"]) or None  # None opens the listener to everyone again
    return [st.update("listener", listener.label, shown, ctx, lambda c: c.update_listener(have.id, body))]


def _pool_drift(listener: DesiredListener, have: PoolRecord, ctx: Context) -> list[OsStep]:
    pool = listener.pool
    want = {"name": pool.name, "lb_algorithm": pool.lb_algorithm, "session_persistence": pool.persistence}
    actual = {"name": have.name, "lb_algorithm": have.lb_algorithm, "session_persistence": have.persistence}
    body, shown = _changes(field_drift(want, actual), pool.tags, have.tags)
    if not body:
        return []
    if body.get("session_persistence") is not None:
        body["session_persistence"] = dict(body["session_persistence"])
    return [st.update("pool", listener.label, shown, ctx, lambda c: c.update_pool(have.id, body))]


def _monitor_steps(listener: DesiredListener, pool: PoolRecord, observed: Observation, ctx: Context) -> list[OsStep]:
    want = listener.pool.monitor
    have = observed.monitors.get(pool.healthmonitor_id or "")
    if pool.healthmonitor_id and have is None:
        log.warning("pool %s has a health monitor without this Service's tags; cloudlb leaves it", pool.id)
        return []
    if want is None:
        return [st.delete_monitor(have, ctx, label=listener.label)] if have is not None else []
    if have is None:
        return [st.create_monitor(listener, want, ctx)]
    if have.type != want.type:  # Octavia cannot change a monitor's type
        return [
            st.delete_monitor(have, ctx, label=listener.label, show=False),
            st.create_monitor(listener, want, ctx, replace=have.type),
        ]
    want_fields = {"name": want.name, **want.settings}
    body, shown = _changes(field_drift(want_fields, {"name": have.name, **have.settings}), want.tags, have.tags)
    if not body:
        return []
    return [st.update("health-monitor", listener.label, shown, ctx, lambda c: c.update_monitor(have.id, body))]


def _member_steps(listener: DesiredListener, pool: PoolRecord, observed: Observation, ctx: Context) -> list[OsStep]:
    wanted = listener.pool.members
    actual = observed.members.get(pool.id, ())
    by_address = {(m.address, m.port): m for m in wanted}
    clear = [
        r.id
        for r in actual
        if r.key.monitor_port is not None
        and (d := by_address.get((r.key.address, r.key.port))) is not None
        and d.monitor_port is None
    ]
    cleared = set(clear)
    have = frozenset(r.key._replace(monitor_port=None) if r.id in cleared else r.key for r in actual)
    diff = set_diff(wanted, have)
    if not diff and not clear:
        return []
    have_addresses = {(m.address, m.port) for m in have}
    added = [m for m in diff.add if (m.address, m.port) not in have_addresses]
    removed = [m for m in diff.remove if (m.address, m.port) not in by_address]
    updated = len(diff.add) - len(added)
    return [
        st.put_members(
            listener,
            listener.pool,
            ctx,
            added=added,
            removed=removed,
            updated=updated,
            clear_monitor_port=clear,
            send=bool(diff),
        )
    ]


def _load_balancer_steps(desired: DesiredLoadBalancer, kept: LoadBalancerRecord, ctx: Context) -> list[OsStep]:
    want = {"name": desired.name, "description": desired.description}
    body, shown = _changes(
        field_drift(want, {"name": kept.name, "description": kept.description}), desired.tags, kept.tags
    )
    if not body:
        return []
    return [st.update(st.LB, desired.name, shown, ctx, lambda c: c.update_load_balancer(kept.id, body))]
