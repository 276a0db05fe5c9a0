"""The floating IP of an external Service: which one, and the Neutron calls that attach, detach and release them.

Where this sits: converge.py calls ``floating_ip_steps`` last but one, once the load balancer (and so its VIP port)
exists. The floating IP to use is, in this order: the one ``loadBalancerIP`` names (anyone's; if none exists yet,
cloudlb allocates that address itself); else one cloudlb allocated for the Service on the floating network,
preferring the one already attached; else a new one, allocated, attached and tagged in one call. A floating IP is
released only when its tags say cloudlb allocated it for this Service (tagging.py) and ``keep-floatingip`` was not
asked; any other floating IP on the VIP port is only detached. Neutron writes leave the load balancer's
provisioning status alone, so these steps do not wait.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

from cloudlb.errors import ConfigError, ConflictError, NotFoundError
from cloudlb.plan import Action, Change, MapDiff
from cloudlb_openstack.client import OpenStackClient
from cloudlb_openstack.desired import DesiredFloatingIP, DesiredLoadBalancer
from cloudlb_openstack.observe import FloatingIPs, Observation
from cloudlb_openstack.records import FloatingIPRecord
from cloudlb_openstack.steps import Context, OsStep
from cloudlb_openstack.tagging import FLOATING_IP_TAG, KEEP, floating_ip_tags, tag_drift

__all__ = ["FIP", "floating_ip_steps", "release_floating_ip"]

FIP = "floating-ip"


def floating_ip_steps(
    desired: DesiredLoadBalancer, observed: Observation, ctx: Context, *, network_id: str | None
) -> list[OsStep]:
    """Detach or release what sits on the VIP port and is not wanted (first: Neutron allows one floating IP per
    fixed IP), attach or allocate the wanted one, then release the Service's other allocated ones."""
    fips = observed.floating_ips
    want = desired.floating_ip
    port = observed.kept.vip_port_id if observed.kept is not None else None
    target = _target(want, fips, network_id, port)
    steps: list[OsStep] = []
    handled: set[str] = set()
    for fip in fips.on_port:
        if target is None or fip.id != target.id:
            handled.add(fip.id)
            steps.append(_let_go(fip, fips, reason="the load balancer no longer uses it"))
    if target is not None:
        handled.add(target.id)
        if port is not None and target.port_id == port:
            ctx.floating_address = target.address
        else:
            _check_free(target, fips, observed)
            steps.append(_attach(target, ctx))
        if target.id in {f.id for f in (*fips.mine, *fips.stale)}:
            assert want is not None
            tags = floating_ip_tags(observed.ref, desired.uid, keep=want.keep)
            drift = tag_drift(tags, target.tags)
            if drift:
                steps.append(_retag(target, drift))
    elif want is not None:
        if network_id is None:
            raise ConfigError("no floating network: set the floating_network_id option or annotation")
        tags = floating_ip_tags(observed.ref, desired.uid, keep=want.keep)
        steps.append(_create(network_id, want.address, tags, ctx))
    for fip in (*fips.mine, *fips.stale):
        if fip.id not in handled and fip.tags.get(FLOATING_IP_TAG) != KEEP:
            reason = "a duplicate" if fips.is_mine(fip) else "left by an earlier Service with another uid"
            steps.append(release_floating_ip(fip, reason=reason))
    return steps


def _target(
    want: DesiredFloatingIP | None, fips: FloatingIPs, network_id: str | None, port: str | None
) -> FloatingIPRecord | None:
    if want is None:
        return None
    if want.address is not None:
        return fips.at_address
    candidates = [f for f in fips.mine if f.network_id == network_id]
    candidates.sort(key=lambda f: (port is None or f.port_id != port, f.port_id is not None, f.id))
    return candidates[0] if candidates else None


def _check_free(target: FloatingIPRecord, fips: FloatingIPs, observed: Observation) -> None:
    """A floating IP attached elsewhere may be moved only from a load balancer of this Service, or if ours."""
    if target.port_id is None or fips.is_mine(target):
        return
    ports = {lb.vip_port_id for lb in (*observed.load_balancers.mine, *observed.load_balancers.stale)}
    if target.port_id not in ports:
        raise ConflictError(
            f"floating IP {target.address} ({target.id}) is attached to port {target.port_id}, which is not this "
            "Service's load balancer; cloudlb does not take it over"
        )


def _let_go(fip: FloatingIPRecord, fips: FloatingIPs, *, reason: str) -> OsStep:
    if fips.is_mine(fip) and fip.tags.get(FLOATING_IP_TAG) != KEEP:
        return release_floating_ip(fip, reason=reason)
    change = Change(Action.UPDATE, FIP, fip.address, fields={"port_id": (fip.port_id, None)}, reason=reason)

    def run(client: OpenStackClient) -> str:
        with contextlib.suppress(NotFoundError):
            client.associate_floating_ip(fip.id, None)
        return fip.id

    return OsStep((change,), run)


def release_floating_ip(fip: FloatingIPRecord, *, reason: str) -> OsStep:
    """Delete a floating IP cloudlb allocated; one already gone is what the step wanted."""
    change = Change(Action.DELETE, FIP, f"{fip.address} ({fip.id})", reason=reason)

    def run(client: OpenStackClient) -> str:
        with contextlib.suppress(NotFoundError):
            client.delete_floating_ip(fip.id)
        return fip.id

    return OsStep((change,), run)


def _attach(fip: FloatingIPRecord, ctx: Context) -> OsStep:
    change = Change(Action.UPDATE, FIP, fip.address, fields={"port_id": (fip.port_id, "(the VIP port)")})

    def run(client: OpenStackClient) -> str:
        assert ctx.lb is not None
        client.associate_floating_ip(fip.id, ctx.lb.vip_port_id)
        ctx.floating_address = fip.address
        return fip.id

    return OsStep((change,), run)


def _retag(fip: FloatingIPRecord, drift: MapDiff) -> OsStep:
    change = Change(
        Action.UPDATE, "tags", f"{FIP} {fip.address}", fields={i.key: (i.old, i.new) for i in drift.items()}
    )
    tags = drift.apply(fip.tags)

    def run(client: OpenStackClient) -> str:
        client.set_floating_ip_tags(fip.id, tags)
        return fip.id

    return OsStep((change,), run)


def _create(network_id: str, address: str | None, tags: Mapping[str, str], ctx: Context) -> OsStep:
    fields = {"network": network_id, "address": address or "(next free)"}
    change = Change(Action.CREATE, FIP, address or "(new)", fields={k: (None, v) for k, v in fields.items()})

    def run(client: OpenStackClient) -> str:
        assert ctx.lb is not None, "the load balancer is created before its floating IP"
        made = client.create_floating_ip(network_id, port_id=ctx.lb.vip_port_id, address=address, tags=tags)
        ctx.floating_address = made.address
        return made.id

    return OsStep((change,), run)
