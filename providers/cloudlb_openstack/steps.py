"""The steps that change a Service's Octavia resources: one builder per kind of change, one write per step.

Where this sits: converge.py calls these builders only for what drifted; each returns a ``Step`` (cloudlb.apply):
the ``Change`` a plan shows and the call that makes it. Every Octavia write is followed by ``wait_active``, so the
next write never meets a PENDING_* load balancer (and a 409). Ids learnt while steps run (the load balancer a step
created, a listener's or pool's id) travel in ``Context``, which each step reads when it runs, not when it is built.
Members change with one batch ``PUT`` per pool, declaratively: the pool's members become exactly the desired set.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cloudlb.apply import Step
from cloudlb.errors import NotFoundError, PermanentError
from cloudlb.plan import Action, Change
from cloudlb_openstack.client import OpenStackClient
from cloudlb_openstack.desired import DesiredListener, DesiredLoadBalancer, DesiredMonitor, DesiredPool
from cloudlb_openstack.records import ListenerRecord, LoadBalancerRecord, Member, MonitorRecord, PoolRecord

__all__ = [
    "LB",
    "Context",
    "OsStep",
    "create_listener",
    "create_load_balancer",
    "create_monitor",
    "create_pool",
    "delete_listener",
    "delete_load_balancer",
    "delete_monitor",
    "delete_pool",
    "point_listener",
    "put_members",
    "update",
]

OsStep = Step[OpenStackClient, str]
Key = tuple[str, int]
LB = "load-balancer"


@dataclass
class Context:
    """What the steps of one ensure learn as they run."""

    name: str
    lb: LoadBalancerRecord | None = None
    listener_ids: dict[Key, str] = field(default_factory=dict)
    pool_ids: dict[Key, str] = field(default_factory=dict)
    floating_address: str | None = None

    def lb_id(self) -> str:
        if self.lb is None:
            raise PermanentError(f"internal error: no load balancer yet for {self.name}")
        return self.lb.id

    def label(self) -> str:
        return self.lb.label if self.lb is not None else self.name

    def octavia(self, client: OpenStackClient, write: Callable[[], Any]) -> None:
        """One write, then the wait until the load balancer is ACTIVE again."""
        write()
        self.lb = client.wait_active(self.lb_id(), self.label())


def _created(fields: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {k: (None, v) for k, v in fields.items() if v is not None}


def create_load_balancer(
    desired: DesiredLoadBalancer, ctx: Context, *, reason: str, replaces: Mapping[str, tuple[Any, Any]] | None = None
) -> OsStep:
    """POST the load balancer on its VIP subnet and wait for it to be ACTIVE (Octavia builds it in the meantime)."""
    if replaces:
        change = Change(Action.REPLACE, LB, desired.name, fields=dict(replaces), reason=reason)
    else:
        change = Change(Action.CREATE, LB, desired.name, fields=_created(desired.immutable()), reason=reason)

    def run(client: OpenStackClient) -> str:
        ctx.lb = client.create_load_balancer(desired.body())
        ctx.lb = client.wait_active(ctx.lb.id, ctx.lb.label)
        return ctx.lb.id

    return OsStep((change,), run)


def delete_load_balancer(lb: LoadBalancerRecord, *, reason: str, show: bool = True) -> OsStep:
    """DELETE with cascade (listeners, pools, members and monitors go with it), then wait until it is gone. One
    already gone is what the step wanted."""
    changes = (Change(Action.DELETE, LB, lb.label, reason=reason),) if show else ()

    def run(client: OpenStackClient) -> str:
        if lb.pending and client.wait_settled(lb.id, lb.label) is None:
            return lb.id
        with contextlib.suppress(NotFoundError):
            client.delete_load_balancer(lb.id)
        client.wait_deleted(lb.id, lb.label)
        return lb.id

    return OsStep(changes, run)


def update(
    kind: str, name: str, drift: Mapping[str, tuple[Any, Any]], ctx: Context, write: Callable[[OpenStackClient], None]
) -> OsStep:
    """Any in-place update: one PUT with the drifted fields, then the wait."""
    change = Change(Action.UPDATE, kind, name, fields=dict(drift))

    def run(client: OpenStackClient) -> str:
        ctx.octavia(client, lambda: write(client))
        return ctx.lb_id()

    return OsStep((change,), run)


def create_listener(listener: DesiredListener, ctx: Context) -> OsStep:
    shown = {"allowed_cidrs": list(listener.allowed_cidrs) or None}
    change = Change(Action.CREATE, "listener", listener.label, fields=_created(shown))

    def run(client: OpenStackClient) -> str:
        def write() -> None:
            ctx.listener_ids[listener.key] = client.create_listener(listener.body(ctx.lb_id()))

        ctx.octavia(client, write)
        return ctx.listener_ids[listener.key]

    return OsStep((change,), run)


def delete_listener(listener: ListenerRecord, ctx: Context) -> OsStep:
    change = Change(Action.DELETE, "listener", f"{listener.name} ({listener.protocol}-{listener.port})")

    def run(client: OpenStackClient) -> str:
        with contextlib.suppress(NotFoundError):
            ctx.octavia(client, lambda: client.delete_listener(listener.id))
        return listener.id

    return OsStep((change,), run)


def create_pool(
    listener: DesiredListener, ctx: Context, *, attach: bool, replaces: Mapping[str, tuple[Any, Any]] | None = None
) -> OsStep:
    """The listener's default pool; ``attach=False`` creates it detached, to fill before the listener switches."""
    pool = listener.pool
    if replaces:
        change = Change(Action.REPLACE, "pool", listener.label, fields=dict(replaces))
    else:
        shown = {"protocol": pool.protocol, "lb_algorithm": pool.lb_algorithm, "session_persistence": pool.persistence}
        change = Change(Action.CREATE, "pool", listener.label, fields=_created(shown))

    def run(client: OpenStackClient) -> str:
        def write() -> None:
            body = pool.body(listener_id=ctx.listener_ids[listener.key]) if attach else pool.body(lb_id=ctx.lb_id())
            ctx.pool_ids[listener.key] = client.create_pool(body)

        ctx.octavia(client, write)
        return ctx.pool_ids[listener.key]

    return OsStep((change,), run)


def point_listener(listener: DesiredListener, listener_id: str, ctx: Context) -> OsStep:
    """Switch a listener to the replacement pool built for it (a hidden part of the pool's replacement)."""

    def run(client: OpenStackClient) -> str:
        pool_id = ctx.pool_ids[listener.key]
        ctx.octavia(client, lambda: client.update_listener(listener_id, {"default_pool_id": pool_id}))
        return listener_id

    return OsStep((), run)


def delete_pool(pool: PoolRecord, ctx: Context, *, reason: str = "", show: bool = True) -> OsStep:
    """Its members and monitor go with it."""
    changes = (Change(Action.DELETE, "pool", pool.name or pool.id, reason=reason),) if show else ()

    def run(client: OpenStackClient) -> str:
        with contextlib.suppress(NotFoundError):
            ctx.octavia(client, lambda: client.delete_pool(pool.id))
        return pool.id

    return OsStep(changes, run)


def create_monitor(
    listener: DesiredListener, monitor: DesiredMonitor, ctx: Context, *, replace: str | None = None
) -> OsStep:
    fields: dict[str, Any] = {"type": monitor.type, **monitor.settings}
    if replace is not None:
        change = Change(Action.REPLACE, "health-monitor", listener.label, fields={"type": (replace, monitor.type)})
    else:
        change = Change(Action.CREATE, "health-monitor", listener.label, fields=_created(fields))

    def run(client: OpenStackClient) -> str:
        made: list[str] = []
        ctx.octavia(client, lambda: made.append(client.create_monitor(monitor.body(ctx.pool_ids[listener.key]))))
        return made[0]

    return OsStep((change,), run)


def delete_monitor(monitor: MonitorRecord, ctx: Context, *, label: str, show: bool = True) -> OsStep:
    changes = (Change(Action.DELETE, "health-monitor", label),) if show else ()

    def run(client: OpenStackClient) -> str:
        with contextlib.suppress(NotFoundError):
            ctx.octavia(client, lambda: client.delete_monitor(monitor.id))
        return monitor.id

    return OsStep(changes, run)


def put_members(
    listener: DesiredListener,
    pool: DesiredPool,
    ctx: Context,
    *,
    added: Iterable[Member] = (),
    removed: Iterable[Member] = (),
    updated: int = 0,
    clear_monitor_port: Iterable[str] = (),
    send: bool = True,
    new_pool: bool = False,
) -> OsStep:
    """One batch PUT: the pool's members become ``pool.members``. A member whose ``monitor_port`` must go takes its
    own PUT afterwards (the batch update keeps fields it is not given); that only happens when a Service leaves
    externalTrafficPolicy: Local. The members of a pool being created are part of building it (``new_pool``), not
    a target change ``update_targets`` may make alone."""
    clear = tuple(clear_monitor_port)
    fields = {"attributes": (None, f"{updated + len(clear)} members")} if updated or clear else {}
    change = Change(
        Action.UPDATE,
        "members",
        listener.label,
        fields=fields,
        added=tuple(sorted(m.label() for m in added)),
        removed=tuple(sorted(m.label() for m in removed)),
    )

    def run(client: OpenStackClient) -> str:
        pool_id = ctx.pool_ids[listener.key]
        if send:
            ctx.octavia(client, lambda: client.put_members(pool_id, pool.members))
        for member_id in clear:
            ctx.octavia(client, functools.partial(client.clear_monitor_port, pool_id, member_id))
        return pool_id

    return OsStep((change,), run, targets_only=not new_pool)
