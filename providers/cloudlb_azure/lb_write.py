"""The step that writes a Service's part of a shared balancer: a read-modify-write under ``If-Match``.

Where this sits: the provider plans with ``lb.converge`` on the balancer as observed and wraps the outcome in
``lb_step``. Its first attempt sends that very write with the observed ETag (no extra read). When ARM answers 412,
another writer (another Service, another controller replica) changed the balancer in between: the step reads it
again and lets ``converge`` redo this Service's change on top of theirs, so neither update is lost. Creating the
balancer uses ``If-None-Match: *`` the same way: whoever loses that race adds its part to the winner's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloudlb.errors import ConflictError
from cloudlb.model import ServiceRef
from cloudlb_azure.arm import Kind, StaleEtagError
from cloudlb_azure.context import AzureStep, Context
from cloudlb_azure.desired import Scope, Slice, lb_skeleton
from cloudlb_azure.lb import AzureLimits, LbWrite, converge, is_cluster_lb
from cloudlb_azure.names import cluster_tag_key

__all__ = ["ETAG_ATTEMPTS", "frontend_of", "lb_step", "settled"]

Json = dict[str, Any]
ETAG_ATTEMPTS = 10


def settled(lb: Json | None, cluster: str) -> Json | None:
    """A balancer as a plan sees it: one being deleted is already gone. A foreign one raises ``ConflictError``."""
    if lb is None or (lb.get("properties") or {}).get("provisioningState") == "Deleting":
        return None
    if not is_cluster_lb(lb, cluster):
        raise ConflictError(f"load balancer {lb.get('name')} exists without cluster {cluster}'s tag; cloudlb leaves it")
    return lb


def frontend_of(lb: Mapping[str, Any] | None, base: str) -> Json | None:
    for item in ((lb or {}).get("properties") or {}).get("frontendIPConfigurations") or []:
        if str(item.get("name", "")).lower() == base.lower():
            return dict(item)
    return None


def lb_step(
    planned: LbWrite,
    first: Json | None,
    want: Slice | None,
    *,
    scope: Scope,
    ref: ServiceRef,
    base: str,
    lb: str,
    limits: AzureLimits,
    targets_only: bool = False,
) -> AzureStep:
    """The step for ``planned`` (computed from ``first``); ``want`` None removes the Service from ``lb``."""
    group = scope.group
    vnet_id = scope.vnet_id() if want is not None and want.pool_ips else None
    skeleton = lb_skeleton(scope.options.location, {cluster_tag_key(): ref.cluster})

    def run(ctx: Context) -> str:
        current, write = first, planned
        for _ in range(ETAG_ATTEMPTS):
            try:
                result = _write(ctx, write, current, group=group, lb=lb, pool=want.pool if want else None)
                break
            except StaleEtagError:
                current = settled(ctx.arm.get(Kind.LOAD_BALANCERS, group, lb), ref.cluster)
                write = converge(
                    current,
                    want,
                    ref=ref,
                    base=base,
                    lb=lb,
                    skeleton=skeleton,
                    vnet_id=vnet_id,
                    limits=limits,
                    targets_only=targets_only,
                )
        else:
            raise StaleEtagError(f"load balancer {lb}: changed under every one of {ETAG_ATTEMPTS} writes")
        if want is None:
            return f"{lb}/{base}"
        frontend = frontend_of(result, base)
        if frontend is not None:
            ctx.resolved.frontend_id = str(frontend.get("id"))
            private = (frontend.get("properties") or {}).get("privateIPAddress")
            if private:
                ctx.resolved.address = str(private)
        return ctx.resolved.frontend_id or f"{lb}/{base}"

    return AzureStep(tuple(planned.changes), run, targets_only=targets_only or planned.targets_only)


def _write(ctx: Context, write: LbWrite, current: Json | None, *, group: str, lb: str, pool: str | None) -> Json | None:
    etag = str(current["etag"]) if current is not None else None
    if write.action == "none":
        return current
    if write.action == "delete":
        ctx.arm.delete(Kind.LOAD_BALANCERS, group, lb, if_match=etag)
        return None
    assert write.body is not None
    if write.action == "pool":
        assert pool is not None and etag is not None
        return ctx.arm.put_pool(group, lb, pool, write.body, if_match=etag)
    return ctx.arm.put(Kind.LOAD_BALANCERS, group, lb, write.body, if_match=etag, create_only=current is None)
