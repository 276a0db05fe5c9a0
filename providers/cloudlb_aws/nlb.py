"""``NlbBackend``: the Network Load Balancer of a Service, its listeners and its target groups.

Where this sits: ``AwsProvider`` drives it through the ``Backend`` protocol (interfaces.py). ``observe`` finds the
Service's NLBs and target groups by tags (nlb_observe.py: the exact reads are listed there), ``converge`` compares
them with the desired NLB (nlb_model.py) field group by field group and builds steps (nlb_steps.py) only for what
drifted, and ``remove`` deletes what the Service holds. Security groups come from the ``SecurityGroupManager``.

The order of a converge, chosen so that traffic always has somewhere to go and a crash anywhere leaves nothing a
rerun cannot find by tags:
 1. stale balancers and groups (an earlier Service of the same name) are deleted: they hold our names;
 2. the security-group steps that must precede the NLB;
 3. new target groups are created and filled, before anything points at them;
 4. a new NLB is created when none matches the spec's unmodifiable fields (scheme, security groups, EIPs);
 5. listeners are created, pointed at replaced target groups, or replaced on a protocol/certificate change;
 6. drift on kept target groups (health check, attributes, tags, targets) and on the kept NLB (tags, subnets);
 7. listeners no longer wanted, then replaced or duplicate NLBs, then target groups no longer wanted, are deleted;
 8. the security-group steps that follow the NLB.
A second converge with nothing changed builds no step: 0 mutating calls.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cloudlb.apply import Classified
from cloudlb.errors import InvalidSpecError
from cloudlb.model import Ingress, LoadBalancerSpec, LoadBalancerStatus, OwnedLoadBalancer
from cloudlb.naming import UID_TAG, Ownership, ownership
from cloudlb.plan import field_drift, map_diff, set_diff
from cloudlb_aws import nlb_steps as steps
from cloudlb_aws import validate
from cloudlb_aws.clients import AwsClients
from cloudlb_aws.interfaces import (
    AwsStep,
    AwsWork,
    Convergence,
    Depth,
    LoadBalancerContext,
    PortRule,
    SecurityGroupManager,
)
from cloudlb_aws.nlb_model import DesiredLoadBalancer, desired_load_balancer, load_balancer_name
from cloudlb_aws.nlb_observe import NlbObservation, NlbObserver, ObservedLoadBalancer
from cloudlb_aws.options import EIP_ALLOCATIONS, AwsOptions, LoadBalancerType, ServiceOptions
from cloudlb_aws.subnets import Subnets
from cloudlb_aws.tagging import desired_tags, managed

__all__ = ["NlbBackend"]


class NlbBackend:
    """The ``Backend`` for ``LoadBalancerType.NLB``."""

    type = LoadBalancerType.NLB

    def __init__(
        self, clients: AwsClients, options: AwsOptions, *, security_groups: SecurityGroupManager, subnets: Subnets
    ) -> None:
        self.clients = clients
        self.options = options
        self.security_groups = security_groups
        self.subnets = subnets
        self.observer = NlbObserver(clients)

    def desired(self, spec: LoadBalancerSpec, service: ServiceOptions) -> DesiredLoadBalancer:
        """The NLB ``spec`` asks for (pure)."""
        attaches = self.security_groups.attaches_groups(spec, service)
        return desired_load_balancer(spec, service, self.options, attaches_groups=attaches)

    def load_balancer_name(self, spec: LoadBalancerSpec, service: ServiceOptions) -> str:
        """The NLB's name (nlb_model.py says what it carries)."""
        attaches = self.security_groups.attaches_groups(spec, service)
        return load_balancer_name(spec, service, self.options, attaches_groups=attaches)

    def check(self, spec: LoadBalancerSpec, service: ServiceOptions) -> None:
        """Build the desired NLB and check AWS's limits on it, without a call."""
        validate.check_nlb(spec, service, self.desired(spec, service))

    def observe(self, spec: LoadBalancerSpec, service: ServiceOptions, depth: Depth = Depth.FULL) -> NlbObservation:
        """This Service's NLBs and target groups (see nlb_observe.py for the reads)."""
        if depth is Depth.IDENTITY or not spec.listeners:
            name = self.load_balancer_name(spec, service)
            return self.observer.observe(spec.ref, prefer_name=name, depth=depth)
        desired = self.desired(spec, service)
        wanted = [tg.name for tg in desired.target_groups]
        return self.observer.observe(spec.ref, prefer_name=desired.name, wanted_groups=wanted, depth=depth)

    def exists(self, observed: NlbObservation) -> bool:
        """Whether the Service has anything NLB-side."""
        return observed.exists

    def status(self, observed: NlbObservation) -> LoadBalancerStatus | None:
        """The kept NLB's DNS name as the Service's ingress hostname."""
        kept = observed.load_balancers.kept
        return None if kept is None else _status(kept.name, kept.arn, kept.dns_name)

    def converge(self, spec: LoadBalancerSpec, service: ServiceOptions, observed: NlbObservation) -> Convergence:
        """The steps of the module docstring, for what drifted only."""
        desired = self.desired(spec, service)
        candidate = observed.load_balancers.kept
        kept = candidate if candidate is not None and candidate.name == desired.name else None
        if observed.depth is Depth.TARGETS:
            vpc = kept.vpc_id if kept else ""
            ids = steps.Ids(self._context(spec, service, desired, kept, vpc_id=vpc))
            ids.vpc_cidrs = lambda: self.subnets.vpc_cidrs(vpc)
            work = AwsWork(desired.name, kept.arn if kept else None, tuple(self._target_steps(desired, observed, ids)))
            return Convergence(work, lambda: _status(desired.name, ids.lb.arn or "", kept.dns_name if kept else ""))
        subnets: tuple[str, ...] = ()
        if kept is None:
            resolved = self.subnets.resolve(
                spec.cluster, internal=desired.scheme == "internal", explicit=desired.subnets
            )
            subnets, vpc_id = resolved.ids, resolved.vpc_id
            if desired.eip_allocations and len(subnets) != len(desired.eip_allocations):
                raise InvalidSpecError(
                    f'metadata.annotations["{EIP_ALLOCATIONS}"]',
                    f"{len(desired.eip_allocations)} allocations for {len(subnets)} subnets: give one per subnet",
                )
        else:
            vpc_id = kept.vpc_id
        ids = steps.Ids(self._context(spec, service, desired, kept, vpc_id=vpc_id))
        ids.vpc_cidrs = lambda: self.subnets.vpc_cidrs(vpc_id)
        work_steps = self._steps(spec, service, desired, observed, kept, subnets, ids)
        blocked = self._blocked(desired, observed, kept)
        dns = kept.dns_name if kept else ""

        def status() -> LoadBalancerStatus:
            return _status(desired.name, ids.lb.arn or "", ids.dns_name or dns)

        return Convergence(AwsWork(desired.name, kept.arn if kept else None, tuple(work_steps)), status, blocked)

    def remove(self, observed: NlbObservation) -> list[AwsStep]:
        """Delete the Service's NLBs (their listeners go with them), then its target groups, then its groups."""
        forget = self.observer.owners.forget
        out = [
            steps.delete_load_balancer(lb.name, lb.arn, reason="the Service is gone", forget=forget)
            for lb in observed.load_balancers.mine
        ]
        out += [
            steps.delete_target_group(tg.name, tg.arn, reason="the Service is gone", forget=forget)
            for tg in observed.target_groups.mine
        ]
        return out + self.security_groups.delete_steps(observed.ref)

    def list_owned(self, cluster: str) -> list[OwnedLoadBalancer]:
        """Every NLB whose ownership tags name ``cluster``, and every managed group of ``cluster`` left without
        its NLB (its ``cloud_id`` is the group's id)."""
        balancers = self.observer.list_load_balancers()
        owners = self.observer.owners.owners(lb["LoadBalancerArn"] for lb in balancers)
        out = []
        for lb in balancers:
            owner = owners.get(lb["LoadBalancerArn"])
            if owner is not None and owner.cluster == cluster:
                out.append(
                    OwnedLoadBalancer(
                        owner.cluster,
                        owner.namespace,
                        owner.name,
                        owner.uid,
                        lb["LoadBalancerName"],
                        lb["LoadBalancerArn"],
                    )
                )
        out += self.security_groups.orphans(cluster, [o.ref for o in out])
        return sorted(out, key=lambda o: (o.namespace, o.name, o.cloud_id))

    def observe_owned(self, owned: OwnedLoadBalancer) -> NlbObservation | None:
        """The NLB ``owned`` names, if its tags still say so, and the target groups of that same incarnation; or,
        for a group's id, nothing but that Service's groups, if the group is still an orphan of this type."""
        if owned.cloud_id.startswith("sg-"):
            if not any(o.cloud_id == owned.cloud_id and o.ref == owned.ref for o in self.list_owned(owned.cluster)):
                return None  # another type's group, gone, or no longer an orphan: its NLB stands
            return NlbObservation(owned.ref, Classified((), ()), Classified((), ()), frozenset(), Depth.IDENTITY)
        if not (owned.cloud_id.startswith("arn:") and ":loadbalancer/" in owned.cloud_id):
            return None
        found = self.observer.observe(owned.ref, depth=Depth.IDENTITY)
        lbs = found.load_balancers
        mine = tuple(
            lb for lb in lbs.mine if lb.arn == owned.cloud_id and ownership(lb.tags, owned.ref) is Ownership.MINE
        )
        return NlbObservation(found.ref, Classified(mine, ()), found.target_groups, found.taken_names, found.depth)

    # --- building the work ---------------------------------------------------------------------------------------

    def _context(
        self,
        spec: LoadBalancerSpec,
        service: ServiceOptions,
        desired: DesiredLoadBalancer,
        kept: ObservedLoadBalancer | None,
        *,
        vpc_id: str,
    ) -> LoadBalancerContext:
        frontend: list[PortRule] = []
        backend: list[PortRule] = []
        for listener, group in zip(desired.listeners, desired.target_groups, strict=True):
            protocols = ("tcp", "udp") if group.protocol == "TCP_UDP" else (group.protocol.lower(),)
            frontend += [PortRule(p, listener.port) for p in protocols]
            ports = {t.port for t in group.targets} or {group.port}
            backend += [PortRule(p, port) for p in protocols for port in sorted(ports)]
            health_port = group.health_check["HealthCheckPort"]
            if health_port != "traffic-port":
                backend.append(PortRule("tcp", int(health_port)))
            elif "tcp" not in protocols:  # every NLB health check is over TCP, a UDP group's on its traffic port
                backend += [PortRule("tcp", port) for port in sorted(ports)]
        instances = sorted({t.id for g in desired.target_groups if g.target_type == "instance" for t in g.targets})
        return LoadBalancerContext(
            ref=spec.ref,
            name=desired.name,
            scheme=desired.scheme,
            vpc_id=vpc_id,
            tags=desired_tags(spec, service),
            frontend=tuple(dict.fromkeys(frontend)),
            backend=tuple(dict.fromkeys(backend)),
            instance_ids=tuple(instances),
            arn=kept.arn if kept else None,
            current_security_groups=kept.security_groups if kept else (),
        )

    def _blocked(
        self, desired: DesiredLoadBalancer, observed: NlbObservation, kept: ObservedLoadBalancer | None
    ) -> str | None:
        existing = {tg.name for tg in observed.target_groups.mine}
        needed = [] if kept is not None else [desired.name]
        needed += [tg.name for tg in desired.target_groups if tg.name not in existing]
        taken = [name for name in needed if name in observed.taken_names]
        if not taken:
            return None
        return (
            f"{', '.join(taken)}: the name is held by a resource without this Service's tags (another cluster's or "
            "another tool's); cloudlb never adopts nor deletes it"
        )

    def _steps(
        self,
        spec: LoadBalancerSpec,
        service: ServiceOptions,
        desired: DesiredLoadBalancer,
        observed: NlbObservation,
        kept: ObservedLoadBalancer | None,
        subnets: tuple[str, ...],
        ids: steps.Ids,
    ) -> list[AwsStep]:
        forget = self.observer.owners.forget
        lbs, tgs = observed.load_balancers, observed.target_groups
        stale = "left by an earlier Service with another uid"
        out = [steps.delete_load_balancer(lb.name, lb.arn, reason=stale, forget=forget) for lb in lbs.stale]
        out += [steps.delete_target_group(tg.name, tg.arn, reason=stale, forget=forget) for tg in tgs.stale]
        plan = self.security_groups.plan_steps(spec, service, ids.lb)
        out += plan.before
        existing = {tg.name: tg for tg in tgs.mine}
        ids.target_groups.update({name: tg.arn for name, tg in existing.items()})
        for group in desired.target_groups:
            if group.name not in existing:
                tags = desired_tags(spec, service)
                out.append(steps.create_target_group(group, tags, ids, reason=f"serves {group.label}"))
        if kept is None:
            reason = "replaces " + ", ".join(lb.name for lb in lbs.mine) if lbs.mine else "no NLB is tagged for it"
            out.append(steps.create_load_balancer(desired, subnets, desired_tags(spec, service), ids, reason=reason))
        out += self._listener_steps(desired, observed, kept, ids)
        for group in desired.target_groups:
            have = existing.get(group.name)
            if have is None:
                continue
            if have.health_check is not None and (drift := field_drift(group.health_check, have.health_check)):
                out.append(steps.modify_health_check(group, have.arn, drift))
            if have.attributes is not None and (drift := field_drift(group.attributes, have.attributes)):
                out.append(steps.modify_attributes(group, have.arn, drift))
            out += _tag_steps("target-group", have.name, have.arn, spec, service, have.tags)
        out += self._target_steps(desired, observed, ids)
        if kept is not None:
            out += _tag_steps("load-balancer", kept.name, kept.arn, spec, service, kept.tags)
            wanted = tuple(sorted(desired.subnets))
            explicit = wanted and all(s.startswith("subnet-") for s in wanted) and not desired.eip_allocations
            if explicit and wanted != kept.subnets:
                out.append(steps.set_subnets(kept.name, kept.arn, kept.subnets, wanted))
            ports = {listener.port for listener in desired.listeners}
            out += [
                steps.delete_listener(f"{lst.protocol}-{lst.port}", lst.arn)
                for lst in kept.listeners
                if lst.port not in ports
            ]
        reason = f"replaced by {desired.name}"
        out += [
            steps.delete_load_balancer(lb.name, lb.arn, reason=reason, forget=forget)
            for lb in lbs.mine
            if lb is not kept
        ]
        wanted_groups = {group.name for group in desired.target_groups}
        out += [
            steps.delete_target_group(tg.name, tg.arn, reason="no port needs it", forget=forget)
            for tg in tgs.mine
            if tg.name not in wanted_groups
        ]
        return out + list(plan.after)

    def _listener_steps(
        self,
        desired: DesiredLoadBalancer,
        observed: NlbObservation,
        kept: ObservedLoadBalancer | None,
        ids: steps.Ids,
    ) -> Iterable[AwsStep]:
        actual = {lst.port: lst for lst in kept.listeners} if kept else {}
        names = {tg.arn: tg.name for tg in observed.target_groups.mine}
        for listener in desired.listeners:
            have = actual.get(listener.port)
            if have is None:
                yield steps.create_listener(listener, ids)
            elif (have.protocol, have.certificate) != (listener.protocol, listener.certificate):
                yield steps.replace_listener(listener, have, ids)
            elif ids.target_groups.get(listener.target_group) != have.target_group_arn:
                before = names.get(have.target_group_arn or "", have.target_group_arn or "(none)")
                yield steps.modify_listener_target(listener, have, before, ids)

    def _target_steps(self, desired: DesiredLoadBalancer, observed: NlbObservation, ids: steps.Ids) -> list[AwsStep]:
        existing = {tg.name: tg for tg in observed.target_groups.mine}
        out = []
        for group in desired.target_groups:
            have = existing.get(group.name)
            if have is None or have.targets is None:
                continue
            diff = set_diff(group.targets, have.targets)
            if diff:
                out.append(steps.target_delta(group, have.arn, diff.add, diff.remove, ids))
        return out


def _tag_steps(
    kind: str, name: str, arn: str, spec: LoadBalancerSpec, service: ServiceOptions, actual: Any
) -> list[AwsStep]:
    wanted = desired_tags(spec, service, recorded_uid=actual.get(UID_TAG))
    diff = map_diff(wanted, actual, ignore=lambda key: not managed(wanted, actual)(key))
    return [steps.tag_resource(kind, name, arn, diff)] if diff else []


def _status(name: str, arn: str, dns_name: str) -> LoadBalancerStatus:
    return LoadBalancerStatus(ingress=(Ingress(hostname=dns_name or None),), cloud_name=name, cloud_id=arn or None)
